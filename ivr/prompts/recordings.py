"""Recorded prompts: a voice talent's WAV files played instead of text-to-speech.

A menu's recordings are ``<root>/<language>/<ID>.wav``, one per prompt ID (``Menu.prompts``:
``main.greeting``, ``password_recovery.step.2``, ``global.transfer``…). Next to them,
``prompts.csv`` (``id,node,text``: the manifest) keeps the text each prompt had when it was
handed to the talent, which ``ivr prompts export`` writes for every prompt not recorded yet.
That is how a text edited after its recording is found out: ``ivr check`` reports it, and
the call says the new text by text-to-speech rather than play a recording that says
something else.

``RecordedPrompts`` stands where the TTS ``PromptCache`` stands for the players: ``get(text)``
is the recording's path if the prompt has a usable one, else the rendered prompt. A
recording that cannot be read is said once as a warning (``path: reason``) and that prompt
falls back to text-to-speech; the call goes on.

This layer does not know the menu: prompts come in as ``(id, node, text)`` triples.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ivr.limits import MENU_FILE_BYTES

if TYPE_CHECKING:
    from ivr.prompts.tts import PromptCache

log = logging.getLogger(__name__)

AUDIO_ENV = "IVR_PROMPT_AUDIO"
"""Where the recordings are: a folder of ``<language>/<ID>.wav``, for every menu."""
MANIFEST = "prompts.csv"
HEADER = ("id", "node", "text")

PromptLine = tuple[str, str, str]
"""A prompt as ``(id, node, text)``; ``ivr.menu.model.Prompt`` is one."""


class PromptFiles(Protocol):
    """What a player needs: the WAV file of a prompt (``PromptCache`` or ``RecordedPrompts``)."""

    def get(self, text: str) -> Path:
        """The audio of ``text``, made first if need be."""
        ...

    def is_cached(self, text: str) -> bool:
        """True when ``get`` costs no rendering."""
        ...


def audio_root(menu_path: Path) -> Path:
    """$IVR_PROMPT_AUDIO, else ``audio/prompts`` beside the menu's folder: the repository's
    layout (``menus/wallet.zh-CN.yaml`` → ``audio/prompts/``), and a project's that copies it."""
    configured = os.environ.get(AUDIO_ENV)
    if configured:
        return Path(configured)
    return menu_path.resolve().parent.parent / "audio" / "prompts"


def read_manifest(folder: Path) -> dict[str, str]:
    """The recorded text of each ID in ``folder/prompts.csv`` ({} when there is none).

    Raises OSError or ValueError (one line, naming nothing: the caller names the file).
    """
    path = folder / MANIFEST
    try:
        with path.open("rb") as file:
            data = file.read(MENU_FILE_BYTES + 1)
    except FileNotFoundError:
        return {}
    if len(data) > MENU_FILE_BYTES:
        raise ValueError(f"larger than {MENU_FILE_BYTES} bytes (MENU_FILE_BYTES)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"not UTF-8 ({error.reason} at byte {error.start})") from None
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows or tuple(rows[0]) != HEADER:
        raise ValueError(f"the first line must be {','.join(HEADER)}")
    found: dict[str, str] = {}
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(HEADER):
            raise ValueError(f"line {number}: {len(row)} fields, not {len(HEADER)}")
        found[row[0]] = row[2]
    return found


def csv_text(prompts: Iterable[PromptLine]) -> str:
    """``id,node,text`` with a header, one prompt a line."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(prompts)
    return out.getvalue()


def recorded_ids(folder: Path) -> set[str]:
    """The IDs that have a ``.wav`` file in ``folder`` (none if it does not exist)."""
    try:
        names = os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return set()
    return {name.removesuffix(".wav") for name in names if name.endswith(".wav")}


def update_manifest(folder: Path, prompts: Iterable[PromptLine]) -> Path:
    """Write ``folder/prompts.csv``: each prompt with no recording yet (or no row) gets its
    text now, the one the talent is about to read; a recorded prompt keeps the text it was
    recorded from. Rows of IDs the menu no longer has are kept while their WAV is there.
    Written whole or not at all. Raises OSError, or ValueError for an unreadable manifest."""
    old = read_manifest(folder)
    have = recorded_ids(folder)
    rows: list[PromptLine] = []
    listed = set()
    for prompt_id, node, text in prompts:
        listed.add(prompt_id)
        kept = old.get(prompt_id) if prompt_id in have else None
        rows.append((prompt_id, node, text if kept is None else kept))
    rows += [(i, "", t) for i, t in old.items() if i not in listed and i in have]
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / MANIFEST
    partial = folder / f".{MANIFEST}.{os.getpid()}.part"
    try:
        with partial.open("w", encoding="utf-8", newline="") as file:
            file.write(csv_text(rows))
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return target


def problems(folder: Path, prompts: Iterable[PromptLine]) -> list[str]:
    """What ``ivr check`` says about a menu's recordings, one ``path: message`` each:
    a recording of no prompt, a prompt whose text changed after it was recorded, one
    whose recorded text is unknown (no manifest row), an unreadable recording or manifest."""
    from ivr.audio.wav import AudioFileError, open_wav

    have = recorded_ids(folder)
    if not have:
        return []
    found: list[str] = []
    try:
        recorded = read_manifest(folder)
    except (OSError, ValueError) as error:
        found.append(f"{folder / MANIFEST}: {error}")
        recorded = {}
    texts = {prompt_id: text for prompt_id, _, text in prompts}
    for prompt_id in sorted(have):
        path = folder / f"{prompt_id}.wav"
        if prompt_id not in texts:
            found.append(f"{path}: recording of no prompt")
            continue
        try:
            open_wav(path)
        except AudioFileError as error:
            found.append(str(error))
            continue
        was, now = recorded.get(prompt_id), texts[prompt_id]
        if was is None:
            found.append(
                f"{path}: recorded text unknown ({MANIFEST} has no {prompt_id} row; "
                "`ivr prompts export` adds it)"
            )
        elif was != now:
            found.append(
                f"{path}: text changed after it was recorded (recorded {_excerpt(was)}, "
                f"now {_excerpt(now)}); record it again"
            )
    return found


class RecordedPrompts:
    """The players' prompt files: a prompt's recording where it has a usable one, else
    the text-to-speech cache. A recording is usable when its WAV is there and the manifest
    has no other text for it (no row: the recording is taken as it is)."""

    def __init__(
        self,
        cache: PromptCache | PromptFiles,
        folder: Path,
        prompts: Iterable[PromptLine],
        *,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.cache = cache
        self.folder = folder
        self.warn = warn or log.warning
        self.recordings: dict[str, Path] = {}
        """Prompt text → the recording played for it."""
        have = recorded_ids(folder)
        recorded: dict[str, str] = {}
        if have:
            try:
                recorded = read_manifest(folder)
            except (OSError, ValueError) as error:
                self.warn(f"{folder / MANIFEST}: {error}; recordings played as they are")
        for prompt_id, _, text in prompts:
            if prompt_id in have and recorded.get(prompt_id, text) == text:
                self.recordings.setdefault(text, folder / f"{prompt_id}.wav")
        self._checked: dict[Path, bool] = {}
        self._lock = threading.Lock()

    def recording(self, text: str) -> Path | None:
        """The recording played for ``text``, if it has one that can be read.

        Each recording is read once; one that cannot be is said once and not tried again.
        """
        path = self.recordings.get(text)
        if path is None:
            return None
        with self._lock:
            usable = self._checked.get(path)
            if usable is None:
                usable = self._check(path)
                self._checked[path] = usable
        return path if usable else None

    def _check(self, path: Path) -> bool:
        from ivr.audio.wav import read_wav

        try:
            clip = read_wav(path)
        except Exception as error:  # any unreadable recording: text-to-speech instead
            self.warn(f"{_one_line(error, path)}; saying this prompt by text-to-speech")
            return False
        if len(clip.samples) == 0:
            self.warn(f"{path}: no audio; saying this prompt by text-to-speech")
            return False
        return True

    def get(self, text: str) -> Path:
        return self.recording(text) or self.cache.get(text)

    def is_cached(self, text: str) -> bool:
        return self.recording(text) is not None or self.cache.is_cached(text)


def _excerpt(text: str, limit: int = 30) -> str:
    """A short quoted excerpt, control characters escaped (repr), for one-line messages."""
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _one_line(error: Exception, path: Path) -> str:
    """``path: reason``: AudioFileError says it so; anything else is given the path."""
    from ivr.audio.wav import AudioFileError

    if isinstance(error, AudioFileError):
        return str(error)
    reason = " ".join(str(error).split()) or type(error).__name__
    return f"{path}: {reason}"
