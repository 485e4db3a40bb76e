"""Run one command: parse, check its outputs, run it, turn every way it ends into an exit
status and at most a few lines (errors, signals, a console that cannot print)."""

from __future__ import annotations

import io
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from importlib import import_module
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from ivr.cli.common import default_menu, err
from ivr.cli.parser import FILE, nonsense, parser
from ivr.errors import IvrError

if TYPE_CHECKING:
    import argparse


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every way it can end is an exit status and at most a few lines.

    0: done. 1: the input or the environment is wrong (a menu, a file, a model, a device,
    a disk) or an output could not be written in full. 2: the command line is wrong (an
    option, a key script, an output path). 128 + N: stopped by signal N (130 for Ctrl-C,
    143 for SIGTERM, 129 for SIGHUP), the terminal restored and the files closed first.
    """
    args = parser().parse_args(argv)  # --help and usage errors end here, having imported little
    problem = nonsense(args)
    if problem is not None:  # as argparse says a usage error: one line, exit 2
        prog = f"ivr {args.command}"
        sys.stderr.write(f"{prog}: error: {problem} (see '{prog} --help')\n")
        return 2
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    name = " ".join(["ivr", args.command, *([args.action] if "action" in args else [])])
    module, function = args.run.split(":")
    with _stdout_never_fails(), _signals_unwind() as stopped_by:
        try:
            _check_outputs(args)
            code: int = getattr(import_module(f"ivr.cli.{module}"), function)(args)
        except IvrError as error:  # an output path, a menu, a model, a file: said, not raised
            for line in error.lines(name):
                err.print(line, markup=False)
            return error.exit_status
        except KeyboardInterrupt as stop:
            return _stopped(name, stop.signum if isinstance(stop, Terminated) else SIGINT)
        except OSError as error:  # a file or device the user named, failing mid-way
            err.print(f"{name}: {_os_error(error)}", markup=False)
            return 1
        if stopped_by:  # a live call hangs up on SIGTERM or SIGHUP, then ends here
            return _stopped(name, stopped_by[0])
    return code


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the main thread is, like Ctrl-C's KeyboardInterrupt.

    Being a KeyboardInterrupt, it ends a live call the way Ctrl-C does (the caller hangs up,
    the log gets its last events) and unwinds every ``with``: the keypad restores the
    terminal, files are closed, a download keeps its partial archive to resume.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


SIGINT = int(signal.SIGINT)
_UNWINDING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


@contextmanager
def _signals_unwind() -> Iterator[list[int]]:
    """Turn SIGTERM and SIGHUP into `Terminated` while a command runs (Ctrl-C already is a
    KeyboardInterrupt); yields the signals received. A second signal while the first one
    unwinds is noted, not raised, so the clean-up itself is never cut short."""
    received: list[int] = []

    def unwind(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        if len(received) == 1:
            raise Terminated(signum)

    if threading.current_thread() is not threading.main_thread():
        yield received  # only the main thread may handle signals
        return
    previous = {sig: signal.signal(sig, unwind) for sig in _UNWINDING_SIGNALS}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stopped(name: str, signum: int) -> int:
    """The one line for a command stopped by a signal, and its exit status."""
    what = "interrupted" if signum == SIGINT else f"stopped by {signal.Signals(signum).name}"
    with suppress(OSError):  # after SIGHUP the terminal may be gone
        err.print(f"{name}: {what}", markup=False)
    return 128 + signum


@contextmanager
def _stdout_never_fails() -> Iterator[None]:
    """Text the console cannot encode (a lone surrogate from a file name or a menu) is
    shown escaped rather than raising; restored afterwards for in-process callers."""
    stream = sys.stdout if isinstance(sys.stdout, io.TextIOWrapper) else None
    errors = stream.errors if stream is not None else None
    changed = False
    if stream is not None and errors in ("strict", "surrogateescape"):  # both can raise
        with suppress(Exception):
            stream.reconfigure(errors="backslashreplace")
            changed = True
    try:
        yield
    finally:
        if stream is not None and changed:
            with suppress(Exception):
                stream.reconfigure(errors=errors)


def _os_error(error: OSError) -> str:
    """``path: reason`` for an OS error, in one line."""
    from ivr.outputs.paths import reason

    where = f"{error.filename}: " if error.filename is not None else ""
    return f"{where}{reason(error)}"


def _check_outputs(args: argparse.Namespace) -> None:
    """Every output path of the command, checked before anything runs (OutputError)."""
    if not args.outputs:
        return
    from ivr.outputs.paths import check_file, check_folder, check_not_input

    inputs = _input_paths(args)
    for dest, option, kind in args.outputs:
        path = getattr(args, dest)
        if path is not None:
            (check_file if kind == FILE else check_folder)(path, option)
            check_not_input(path, option, inputs)


def _input_paths(args: argparse.Namespace) -> list[Path]:
    """The files a command reads: its path arguments, the default menu, recorded audio."""
    outputs = {dest for dest, _, _ in args.outputs}
    found: list[Path] = []
    for name, value in vars(args).items():
        if name in outputs:
            continue
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, Path):
                found.append(item)
            elif name == "audio" and isinstance(item, str):
                found.append(Path(item.removeprefix("!")))
    if getattr(args, "menu", "") is None:
        found.append(default_menu())
    return found
