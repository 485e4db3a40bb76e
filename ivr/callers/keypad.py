"""The console keypad: single keypresses, no Enter, for a live call.

The terminal is put in cbreak mode (keys arrive one at a time, Ctrl-C still interrupts)
and restored on exit, however the call ends: ``ivr call`` turns SIGTERM and SIGHUP into an
exception (see ``ivr.cli``), so they unwind through this context manager too. When
standard input is not a terminal (a pipe, a test harness), characters are read as they come.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from types import TracebackType

from ivr.callers.terminal import Cbreak
from ivr.clock import Clock
from ivr.engine.inputs import TELEPHONE_KEYS, CallerAction, HangUp, KeyPress

HANG_UP_KEYS = frozenset("qQ\x04")  # q, or Ctrl-D


class KeyboardCaller:
    """A live caller at the console keypad; use as a context manager."""

    def __init__(
        self,
        clock: Clock,
        stream_fd: int | None = None,
        inputs: queue.Queue[CallerAction] | None = None,
    ) -> None:
        self.clock = clock
        self.fd = sys.stdin.fileno() if stream_fd is None else stream_fd
        self._keys: queue.Queue[CallerAction] = queue.Queue() if inputs is None else inputs
        """Shared with the microphone when both are live."""
        self._terminal = Cbreak(self.fd)

    def __enter__(self) -> KeyboardCaller:
        self._terminal.enter()
        threading.Thread(target=self._read_keys, name="keypad", daemon=True).start()
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
        self._terminal.restore()

    def _read_keys(self) -> None:
        while True:
            try:
                data = os.read(self.fd, 1)
            except OSError:
                data = b""
            char = data.decode("latin-1")
            if not data or char in HANG_UP_KEYS:
                self._keys.put(HangUp())
                return
            if char in TELEPHONE_KEYS:
                self._keys.put(KeyPress(char))

    def expect(self, phrases: tuple[str, ...], end_of_speech: float | None) -> None:
        """Keys need no grammar."""

    def next_input(self, until: float, listening: bool) -> CallerAction | None:
        timeout = until - self.clock.now()
        try:
            return self._keys.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None
