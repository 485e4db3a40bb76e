"""A terminal in cbreak mode while a live caller reads it: keys arrive one at a time without
Enter (Ctrl-C still interrupts), and the terminal is put back however the call ends.

``ivr call`` turns SIGTERM and SIGHUP into an exception (see ``ivr.cli.main``), so they
unwind through ``restore`` too; a terminal that is gone (hung up) is left be.
"""

from __future__ import annotations

import contextlib
import os
import termios
import tty
from typing import Any


class Cbreak:
    """Cbreak mode on ``fd`` from `enter` to `restore` (both safe to call on a non-terminal,
    where they do nothing, and `restore` twice)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._saved: list[Any] | None = None

    def enter(self) -> None:
        if not os.isatty(self.fd):
            return
        self._saved = termios.tcgetattr(self.fd)
        try:
            tty.setcbreak(self.fd)
        except BaseException:  # a signal right here must not leave cbreak mode behind
            self.restore()
            raise

    def restore(self) -> None:
        """Put the terminal back as it was."""
        saved, self._saved = self._saved, None
        if saved is not None:
            with contextlib.suppress(termios.error, OSError, ValueError):
                termios.tcsetattr(self.fd, termios.TCSADRAIN, saved)
