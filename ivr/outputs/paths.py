"""Output paths: checked before a command starts, written whole or not at all.

A call or a test run can take minutes; finding only at its end that ``--junit`` names a
folder, or that ``--out`` is a file, loses the run. So every output option is checked as
soon as the arguments are parsed, without creating anything: the path must not be of the
wrong kind, the nearest folder that exists on its way must be a folder we may write in,
and a file that exists must be writable. Folders that do not exist yet are created later,
by the writer, as they always were.

Files written in one go at the end (the call WAV, a recorded scenario) go through
:func:`write_replacing`: a temporary file beside the target, renamed over it once complete,
so a full disk or a crash never leaves half a file under the final name.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Callable, Iterable
from pathlib import Path

from ivr.errors import IvrError


class OutputError(IvrError):
    """An output path that cannot be written; the message is one line naming the option.
    A command-line mistake: exit status 2."""

    exit_status = 2


def reason(error: OSError) -> str:
    """The short reason of an OS error ("No space left on device"), without the path."""
    if error.errno is not None:
        return os.strerror(error.errno)
    return str(error) or type(error).__name__


def check_file(path: Path, option: str) -> None:
    """Raise OutputError unless ``path`` can be created or overwritten as a file."""
    mode = _existing_mode(path, option)
    if mode is None:
        return
    if stat.S_ISDIR(mode):
        raise OutputError(f"{option} {path}: is a folder; name a file")
    if not stat.S_ISREG(mode):  # a device or a pipe (/dev/null, a FIFO): no trial open
        if not os.access(path, os.W_OK):
            raise OutputError(f"{option} {path}: not writable (permission denied)")
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC))
    except OSError as error:
        raise OutputError(f"{option} {path}: not writable ({reason(error)})") from error


def check_folder(path: Path, option: str) -> None:
    """Raise OutputError unless ``path`` is, or can be created as, a writable folder."""
    mode = _existing_mode(path, option)
    if mode is None:
        return
    if not stat.S_ISDIR(mode):
        raise OutputError(f"{option} {path}: is a file; name a folder")
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {path}: folder not writable (permission denied)")


def check_not_input(path: Path, option: str, inputs: Iterable[Path]) -> None:
    """Raise OutputError if ``path`` is a file the command reads:
    ``--log menus/wallet.zh-CN.yaml`` would overwrite the menu being played."""
    target = path.resolve()
    for source in inputs:
        if source.resolve() == target:
            raise OutputError(f"{option} {path}: is an input of this command ({source})")


def _existing_mode(path: Path, option: str) -> int | None:
    """The mode of ``path``; None once the folder it would be created in is checked."""
    try:
        return path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        _check_parent(path, option)
        return None
    except OSError as error:
        raise OutputError(f"{option} {path}: {reason(error)}") from error


def _check_parent(path: Path, option: str) -> None:
    """The nearest existing folder above ``path`` must be a folder we may create in."""
    ancestor = path.absolute().parent
    while True:
        try:
            mode = ancestor.stat().st_mode
        except (FileNotFoundError, NotADirectoryError):
            if ancestor.parent == ancestor:
                raise OutputError(f"{option} {path}: no such folder") from None
            ancestor = ancestor.parent
            continue
        except OSError as error:  # e.g. a file used as a folder (ENOTDIR) on the way
            raise OutputError(f"{option} {path}: {reason(error)}") from error
        break
    if not stat.S_ISDIR(mode):
        raise OutputError(f"{option} {path}: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {path}: {ancestor} is not writable (permission denied)")


def write_replacing(path: Path, write: Callable[[Path], object]) -> None:
    """Have ``write`` fill a new file beside ``path``, then rename it to ``path``.

    On any failure the temporary file is removed and ``path`` is untouched (absent, or
    its earlier content); the error is raised again for the caller to report.

    A device or a FIFO (``--coverage /dev/null``, a pipe) is written in place: renaming
    over it would replace ``/dev/null`` itself with a file. A symbolic link keeps pointing
    at the new file (its target is what is replaced).
    """
    with contextlib.suppress(OSError):
        if not stat.S_ISREG(os.stat(path).st_mode):
            write(path)
            return
    path = Path(os.path.realpath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    # Created as open() would (0o666 less the umask), so the final file's mode is the usual.
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666))
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        raise
