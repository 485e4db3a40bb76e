"""The call log: JSON Lines, one event per line, flushed as it happens.

Flushing per event means a call that crashes or is killed still leaves every event up to
that moment on disk.

Every line in the file parses, whatever happens: each line is encoded whole (a lone
surrogate from a menu or a script becomes a JSON ``\\udc80`` escape instead of an encoding
error; the Unicode line breaks U+0085, U+2028 and U+2029 are escaped too) and written with
one ``os.write``; if the disk fills up mid-line the file is cut back to the last whole
line. Then the log stops, says so once, and the call goes on: a log must never end a call
or flood the console.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

from ivr.events import CallEvent

log = logging.getLogger(__name__)

Warn = Callable[[str], None]
"""Told, once, in one line, that a file stopped being written."""


class LineFile:
    """A text file written one whole line at a time, unbuffered.

    On a write error (a full disk, a quota, an I/O error) the partial line is cut off, the
    file is closed, ``warn`` is told once and later lines are dropped; with
    ``keep_on_failure=False`` the file is removed instead (half a transcript misleads).
    """

    def __init__(self, path: Path, warn: Warn | None = None, keep_on_failure: bool = True) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.keep_on_failure = keep_on_failure
        self._warn: Warn = warn if warn is not None else log.warning
        self._fd: int | None = os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666
        )
        self.lines = 0
        """Whole lines written so far."""
        self.failure: str | None = None
        """Why the file stopped being written, if it did."""

    def write_line(self, text: str) -> None:
        if self._fd is None:
            return
        data = text.encode("utf-8", "backslashreplace") + b"\n"
        start = _offset(self._fd)
        try:
            _write_all(self._fd, data)
        except OSError as error:
            self._fail(error, start)
        except BaseException:  # a signal between two partial writes: still whole lines
            _cut(self._fd, start)
            raise
        else:
            self.lines += 1

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.close(fd)

    def _fail(self, error: OSError, start: int | None) -> None:
        from ivr.outputs import reason

        assert self._fd is not None
        _cut(self._fd, start)
        self.close()
        if self.keep_on_failure:
            kept = f"the {self.lines} whole lines before it are kept"
            self.failure = f"{self.path}: {reason(error)} ({kept})"
        else:
            with contextlib.suppress(OSError):
                self.path.unlink()
            self.failure = f"{self.path}: {reason(error)} (removed: it would be incomplete)"
        self._warn(self.failure)


_LINE_BREAKS = {ord(c): f"\\u{ord(c):04x}" for c in "\x85\u2028\u2029"}
"""Line breaks to Python's ``splitlines`` (and to JavaScript) that JSON leaves raw in a
string: written as escapes, so one event is one line for every reader."""


class CallLog:
    """Writes each event as one JSON line, flushed at once; see the module's doc."""

    def __init__(self, path: Path, warn: Warn | None = None) -> None:
        self._file = LineFile(path, warn)

    @property
    def failure(self) -> str | None:
        """Why the log stopped before the end of the call, if it did."""
        return self._file.failure

    def __call__(self, event: CallEvent, moment: float) -> None:
        record = {"t": round(moment, 3), **event.to_record()}
        self._file.write_line(json.dumps(record, ensure_ascii=False).translate(_LINE_BREAKS))

    def close(self) -> None:
        self._file.close()


def _write_all(fd: int, data: bytes) -> None:
    """``os.write`` until all of ``data`` is written (a full disk may take part of it)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:  # write(2) raises or returns > 0; never loop forever
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[written:]


def _offset(fd: int) -> int | None:
    """Where the next write lands; None for a pipe or a device."""
    try:
        return os.lseek(fd, 0, os.SEEK_CUR)
    except OSError:
        return None


def _cut(fd: int, start: int | None) -> None:
    """Cut the file back to ``start``, dropping a partial line (nothing to do on a pipe)."""
    if start is None:
        return
    with contextlib.suppress(OSError):
        os.ftruncate(fd, start)
        os.lseek(fd, start, os.SEEK_SET)
