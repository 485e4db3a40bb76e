"""A caller who types what they would say: ``ivr call --typed``.

Each line is an utterance, matched exactly as recognized speech is, so a menu's phrases can
be tried without a model or a microphone. A line that is one telephone key is that key; ``q``
or the end of input hangs up. Timers run in real time, as in a live call.

With ``edits_line`` on a terminal (the console's live status line is redrawn several times a
second, which would wipe the terminal's own echo of a half-typed line), the caller edits the
line itself in cbreak mode: `draft` is what has been typed so far, for the console to show;
Backspace deletes a character, Ctrl-U the line, Enter sends it, Ctrl-D on an empty line hangs
up. Otherwise lines are read as the terminal or pipe gives them.
"""

from __future__ import annotations

import codecs
import os
import queue
import sys
import threading
from types import TracebackType
from typing import TextIO

from ivr.callers.terminal import Cbreak
from ivr.clock import Clock
from ivr.engine.inputs import TELEPHONE_KEYS, HangUp, KeyPress, Utterance

HANG_UP_WORDS = frozenset({"q", "quit", "挂机"})
_ERASE = frozenset("\x7f\x08")
_KILL_LINE = "\x15"
_END = "\x04"


def reading_of(line: str) -> KeyPress | Utterance | HangUp | None:
    """What a typed line means; None for an empty line."""
    text = line.strip()
    if not text:
        return None
    if text.lower() in HANG_UP_WORDS:
        return HangUp()
    if text in TELEPHONE_KEYS:
        return KeyPress(text)
    return Utterance(text, 1.0)


class LineEditor:
    """Characters to lines, as a terminal in canonical mode would make them, keeping the
    line being typed visible as `draft`."""

    def __init__(self) -> None:
        self.draft = ""

    def feed(self, char: str) -> str | None:
        """One character typed; the finished line on Enter, ``_END`` for Ctrl-D on an
        empty line, else None."""
        if char in "\r\n":
            line, self.draft = self.draft, ""
            return line
        if char in _ERASE:
            self.draft = self.draft[:-1]
        elif char == _KILL_LINE:
            self.draft = ""
        elif char == _END:
            if not self.draft:
                return _END
        elif char.isprintable():
            self.draft += char
        return None


class TypedCaller:
    """Use as a context manager (``edits_line`` puts the terminal in cbreak mode)."""

    def __init__(
        self, clock: Clock, stream: TextIO | None = None, *, edits_line: bool = False
    ) -> None:
        self.clock = clock
        self.stream = stream or sys.stdin
        self._inputs: queue.Queue[KeyPress | Utterance | HangUp] = queue.Queue()
        self.editor = LineEditor()
        self._edits = edits_line and _is_terminal(self.stream)
        self._terminal: Cbreak | None = None
        if not self._edits:
            threading.Thread(target=self._read_lines, name="typed-caller", daemon=True).start()

    @property
    def draft(self) -> str:
        """The line being typed (empty unless this caller edits the line itself)."""
        return self.editor.draft

    def __enter__(self) -> TypedCaller:
        if self._edits:
            self._terminal = Cbreak(self.stream.fileno())
            self._terminal.enter()
            threading.Thread(target=self._read_chars, name="typed-caller", daemon=True).start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.restore()

    def restore(self) -> None:
        """Put the terminal back as it was."""
        if self._terminal is not None:
            self._terminal.restore()

    def _read_lines(self) -> None:
        for line in self.stream:
            if self._take(line):
                return
        self._inputs.put(HangUp())

    def _read_chars(self) -> None:
        fd = self.stream.fileno()
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while True:
            try:
                data = os.read(fd, 64)
            except OSError:
                data = b""
            if not data:
                break
            for char in decoder.decode(data):
                line = self.editor.feed(char)
                if line == _END:
                    self._inputs.put(HangUp())
                    return
                if line is not None and self._take(line):
                    return
        self._inputs.put(HangUp())

    def _take(self, line: str) -> bool:
        """Queue what a line means; True once the caller has hung up."""
        said = reading_of(line)
        if said is not None:
            self._inputs.put(said)
        return isinstance(said, HangUp)

    def expect(self, phrases: tuple[str, ...], end_of_speech: float | None) -> None:
        """Typed text needs no grammar: it is matched against the phrases directly."""

    def next_input(self, until: float, listening: bool) -> KeyPress | Utterance | HangUp | None:
        try:
            return self._inputs.get(timeout=max(until - self.clock.now(), 0.0))
        except queue.Empty:
            return None


def _is_terminal(stream: TextIO) -> bool:
    try:
        return os.isatty(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
