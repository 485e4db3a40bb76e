"""The ``ivr`` command. The only module that prints; errors are one line, never a traceback."""

from __future__ import annotations

import argparse
import io
import math
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from functools import cached_property
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

from ivr.errors import IvrError

# Start-up (issue 10): this module imports the standard library and ivr.errors (which
# imports nothing) only. Each command imports what it uses inside its handler, so
# ``ivr --help`` loads no rich, yaml, jsonschema or transitions, and a keyed call no numpy
# or http.client (nor, its menu checked before and cached, yaml or jsonschema; with
# --quiet, no rich).
if TYPE_CHECKING:
    from rich.console import Console

    from ivr.audio.phone_line import Line
    from ivr.clock import RealClock, VirtualClock
    from ivr.drivers.session import Caller, Listener
    from ivr.hearing.recognizer import VoskModel
    from ivr.hearing.tracker import UtteranceTracker
    from ivr.menu.model import Menu
    from ivr.outputs.artifacts import CallAudio
    from ivr.outputs.console import ConsoleView
    from ivr.prompts.player import PromptPlayer
    from ivr.prompts.tts import PromptCache

MENU_ENV = "IVR_MENU"
_REPO_MENU = Path(__file__).resolve().parents[2] / "menus" / "wallet.zh-CN.yaml"

OFFICIAL_MODELS = ("small-cn", "small-en-us")
"""The keys of ``ivr.hearing.models.OFFICIAL``, for the help text without importing it (a
test keeps the two equal): that module brings http.client, ssl and platformdirs."""


class _ErrorConsole:
    """rich's stderr console, made on first use: rich costs tens of milliseconds that
    ``--help`` and a command that ends without an error do not need."""

    @cached_property
    def console(self) -> Console:
        from rich.console import Console

        return Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)

    def print(self, *objects: Any, **options: Any) -> None:
        self.console.print(*objects, **options)


err = _ErrorConsole()


def _console(quiet: bool = False) -> Console:
    """A stdout console, rich imported only by the commands that print through it."""
    from rich.console import Console

    return Console(highlight=False, quiet=quiet)


def load(path: Path) -> Menu:
    """The checked menu at ``path`` (``ivr.menu.model.load``, imported on first use: it
    brings yaml, jsonschema and the menu checker)."""
    from ivr.menu.model import load as load_menu

    return load_menu(path)


def default_menu() -> Path:
    """$IVR_MENU, else the wallet menu next to the package (an editable install or a clone)."""
    return Path(os.environ.get(MENU_ENV) or _REPO_MENU)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every way it can end is an exit status and at most a few lines.

    0: done. 1: the input or the environment is wrong (a menu, a file, a model, a device,
    a disk) or an output could not be written in full. 2: the command line is wrong (an
    option, a key script, an output path). 128 + N: stopped by signal N (130 for Ctrl-C,
    143 for SIGTERM, 129 for SIGHUP), the terminal restored and the files closed first.
    """
    parser = _parser()
    args = parser.parse_args(argv)  # --help and usage errors end here, having imported little
    import logging

    from ivr.menu.problems import MenuInvalid
    from ivr.outputs.paths import OutputError

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    name = " ".join(["ivr", args.command, *([args.action] if "action" in args else [])])
    with _stdout_never_fails(), _signals_unwind() as stopped_by:
        try:
            _check_outputs(args)
            code: int = args.run(args)
        except OutputError as error:
            err.print(f"{name}: {error}", markup=False)
            return 2
        except MenuInvalid as invalid:
            for problem in invalid.problems:
                err.print(str(problem), markup=False)
            return 1
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


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error in one line (``ivr call: error: ...``) and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _finite(text: str) -> float:
    """A number of decibels: finite (nan and inf would poison every sample)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {text!r}")
    return value


FILE, FOLDER = "file", "folder"
"""The kinds of output option, checked by `_check_outputs` before a command starts."""


def _check_outputs(args: argparse.Namespace) -> None:
    """Every output path of the command, checked before anything runs (OutputError)."""
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


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ivr", description="Offline simulator of the 人民数字钱包 customer-service hotline."
    )
    parser.set_defaults(outputs=())
    commands = parser.add_subparsers(required=True, metavar="COMMAND", dest="command")

    call = commands.add_parser("call", help="call the hotline (keypad, voice or recordings)")
    call.add_argument("--menu", type=Path, default=None, help="menu file (default: the wallet)")
    caller = call.add_mutually_exclusive_group()
    caller.add_argument(
        "--keys",
        metavar="SCRIPT",
        help='scripted caller on a virtual clock: keys, "_" = stay silent, "!" = barge in',
    )
    caller.add_argument("--mic", action="store_true", help="speak into the microphone (and keys)")
    caller.add_argument(
        "--audio",
        nargs="+",
        metavar="WAV",
        help="recorded utterances, one per prompt, on a virtual clock; !x.wav barges in",
    )
    caller.add_argument("--typed", action="store_true", help="type what you would say")
    call.add_argument("--model", metavar="M", help="speech model: a directory or a package name")
    call.add_argument(
        "--half-duplex", action="store_true", help="ignore the microphone while a prompt plays"
    )
    call.add_argument("--text", action="store_true", help="text only: do not speak the prompts")
    call.add_argument("--device", help="sound output device name or number (default: system)")
    call.add_argument("--mic-device", help="microphone device name or number (default: system)")
    call.add_argument("--log", type=Path, metavar="FILE", help="write the call log (JSON Lines)")
    call.add_argument(
        "--out", type=Path, metavar="DIR", help="write call.jsonl, transcript.txt and call.wav"
    )
    call.add_argument(
        "--record",
        type=Path,
        metavar="DIR",
        help="keep a live call (keys, microphone) as a scenario that replays it",
    )
    call.add_argument("--quiet", action="store_true", help="print nothing but errors")
    _line_options(call)
    call.set_defaults(
        run=_call,
        outputs=(("log", "--log", FILE), ("out", "--out", FOLDER), ("record", "--record", FOLDER)),
    )

    replay = commands.add_parser(
        "run-recording", help="replay a recording of the caller's side of a whole call"
    )
    replay.add_argument("wav", type=Path, metavar="CALL.wav")
    replay.add_argument("--menu", type=Path, default=None)
    replay.add_argument("--model", metavar="M", help="speech model (without one: keys only)")
    replay.add_argument("--log", type=Path, metavar="FILE")
    replay.add_argument("--out", type=Path, metavar="DIR")
    replay.add_argument("--quiet", action="store_true")
    _line_options(replay)
    replay.set_defaults(
        run=_run_recording, outputs=(("log", "--log", FILE), ("out", "--out", FOLDER))
    )

    test = commands.add_parser("test", help="run call scenarios (*.call.yaml) and check them")
    test.add_argument("paths", nargs="*", type=Path, default=[Path("tests/calls")], metavar="PATH")
    test.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML")
    test.add_argument("--coverage", type=Path, metavar="FILE", help="menu coverage: .md or .mmd")
    test.add_argument(
        "--out", type=Path, metavar="DIR", help="each call's log, transcript and stereo WAV"
    )
    _line_options(test)
    test.set_defaults(
        run=_test,
        outputs=(
            ("junit", "--junit", FILE),
            ("coverage", "--coverage", FILE),
            ("out", "--out", FOLDER),
        ),
    )

    dtmf = commands.add_parser("dtmf", help="the DTMF keys in a WAV, with their times")
    dtmf.add_argument("wav", type=Path, metavar="FILE.wav")
    _line_options(dtmf)
    dtmf.set_defaults(run=_dtmf)

    check = commands.add_parser("check", help="validate menu files")
    check.add_argument("menus", nargs="*", type=Path, metavar="MENU")
    check.add_argument("--model", metavar="M", help="also check every phrase against this model")
    check.set_defaults(run=_check)

    transcribe = commands.add_parser("transcribe", help="what the recognizer hears in a WAV")
    transcribe.add_argument("wav", type=Path, metavar="FILE.wav")
    transcribe.add_argument("--state", help="use the grammar of this menu node (default: open)")
    transcribe.add_argument("--menu", type=Path, default=None)
    transcribe.add_argument("--model", metavar="M")
    transcribe.set_defaults(run=_transcribe)

    models = commands.add_parser("models", help="speech models: download, list")
    model_commands = models.add_subparsers(required=True, metavar="ACTION", dest="action")
    fetch = model_commands.add_parser("download", help="download and verify an official model")
    fetch.add_argument("name", help=f"one of: {', '.join(OFFICIAL_MODELS)}")
    fetch.add_argument("--url", help="a mirror of the official archive")
    fetch.set_defaults(run=_models_download)
    listing = model_commands.add_parser("list", help="installed models")
    listing.set_defaults(run=_models_list)

    prompts = commands.add_parser("prompts", help="pre-render every prompt of a menu")
    prompts.add_argument("menu", nargs="?", type=Path, metavar="MENU")
    prompts.add_argument("--cache", type=Path, metavar="DIR", help="prompt cache directory")
    prompts.set_defaults(run=_prompts, outputs=(("cache", "--cache", FOLDER),))
    return parser


def _line_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--line",
        choices=("ulaw", "alaw", "pcm"),
        help="hear the caller's audio through a phone line: 8 kHz, 300-3400 Hz, G.711 codec",
    )
    parser.add_argument("--snr", type=_finite, metavar="DB", help="line noise, dB below speech")


def _on_the_line(args: argparse.Namespace) -> Line | None:
    """The phone line the caller's audio crosses, when --line or --snr asks for one: it
    streams a file block by block (with --snr, reading it twice: see ``Line.blocks``)."""
    if args.line is None and args.snr is None:
        return None
    from ivr.audio.phone_line import Line

    codec = None if args.line in (None, "pcm") else args.line
    return Line(codec=codec, snr_db=args.snr)


def _read_error(command: str, caller: object) -> int:
    """Exit status 1, said in one line, if the caller hung up because its audio file could
    not be read to the end (``read_error`` of a WholeCallCaller or ClipCaller); else 0."""
    error = getattr(caller, "read_error", None)
    if error is None:
        return 0
    err.print(f"{command}: {error}", markup=False)
    return 1


def _call(args: argparse.Namespace) -> int:
    from ivr.callers.scripted import ScriptError, parse_script
    from ivr.clock import RealClock, VirtualClock
    from ivr.drivers.session import Session
    from ivr.engine.flow import CallFlow
    from ivr.outputs.call_log import CallLog
    from ivr.prompts.player import RenderingPlayer, SilentPlayer

    if args.record is not None and (args.keys or args.audio or args.typed):
        err.print("ivr call: --record keeps live calls (keypad or --mic)", markup=False)
        return 2
    if args.keys is not None:
        try:
            parse_script(args.keys)  # a command-line mistake, said before reading any file
        except ScriptError as error:
            err.print(f"ivr call: {error}", markup=False)
            return 2
    menu = load(args.menu or default_menu())
    flow = CallFlow(menu)
    unwritten = _Unwritten("ivr call")
    with ExitStack() as stack:
        view = _view(menu, args.quiet, keypad=args.keys is None and args.audio is None)
        listeners: list[Listener] = [view]
        if args.log:
            call_log = CallLog(args.log, unwritten)
            stack.callback(call_log.close)
            listeners.append(call_log)
        try:
            call_audio = (
                _artifacts(args.out, menu, listeners, stack, unwritten) if args.out else None
            )
            recording: Callable[[], None] | None = None
            if args.keys is not None or args.audio is not None:
                virtual = VirtualClock()
                caller = _virtual_caller(args, menu, virtual, call_audio)
                view.banner(
                    "脚本模式（虚拟时钟）" if args.keys is not None else "录音模式（虚拟时钟）"
                )
                player: PromptPlayer = (
                    SilentPlayer() if call_audio is None else RenderingPlayer(_prompt_cache(menu))
                )
                session = Session(flow, caller, player, virtual, listeners)
            else:
                real = RealClock()
                speaking = not args.text
                player = _speaking_player(menu, args.device, stack) if speaking else SilentPlayer()
                caller, mode = _live_caller(args, menu, real, stack)
                recording = (
                    _record(args.record, menu, caller, player, listeners, stack, unwritten)
                    if args.record is not None
                    else None
                )
                view.banner(
                    mode + ("，仅文字" if isinstance(player, SilentPlayer) else "，语音播报")
                )
                session = Session(flow, caller, player, real, listeners)
        except ScriptError as error:
            err.print(f"ivr call: {error}", markup=False)
            return 2
        except IvrError as error:
            err.print(f"ivr call: {error}", markup=False)
            return 1
        try:
            session.run()
        except KeyboardInterrupt:
            if args.keys is not None or args.audio is not None:
                raise  # a scripted or recorded call: Ctrl-C stops the command
            # A live call: Ctrl-C is the caller hanging up (SIGTERM and SIGHUP too, then
            # main exits 128+N); what the call leaves behind is still written.
        if call_audio is not None:
            unwritten.attempt(args.out / "call.wav", call_audio.write)
        if recording is not None:
            recording()
    return max(unwritten.status(), _read_error("ivr call", caller))


class _QuietView:
    """``ivr call --quiet``: shows nothing, so rich is never imported."""

    def banner(self, mode: str) -> None:
        pass

    def __call__(self, event: object, moment: float) -> None:
        pass


def _view(menu: Menu, quiet: bool, keypad: bool) -> _QuietView | ConsoleView:
    """What the caller sees: the rich console view, or nothing at all with --quiet."""
    if quiet:
        return _QuietView()
    from ivr.outputs.console import ConsoleView

    return ConsoleView(menu, _console(), keypad=keypad)


def _record(
    folder: Path,
    menu: Menu,
    caller: Caller,
    player: PromptPlayer,
    listeners: list[Listener],
    stack: ExitStack,
    unwritten: _Unwritten,
) -> Callable[[], None]:
    """Listen for record mode; returns what writes the folder once the call is over."""
    from ivr.outputs.artifacts import CallAudio
    from ivr.outputs.call_log import CallLog
    from ivr.outputs.replayable import RECORDING, SCENARIO, PathRecorder, write_scenario
    from ivr.prompts.player import SilentPlayer

    folder.mkdir(parents=True, exist_ok=True)
    call_log = CallLog(folder / "call.jsonl", unwritten)
    stack.callback(call_log.close)
    caller_side = CallAudio(None, keys_as_tones=True)
    path = PathRecorder()
    listeners += [call_log, caller_side, path]
    if hasattr(caller, "audio_sink"):
        caller.audio_sink = caller_side.caller_audio

    def write() -> None:
        recording = folder / RECORDING
        if not unwritten.attempt(
            recording, lambda target: caller_side.write_caller(target, until=path.duration)
        ):
            return  # a scenario without its recording would not replay
        spoken = not isinstance(player, SilentPlayer)
        speech = hasattr(caller, "audio_sink")  # a microphone call: recognize its speech
        scenario = folder / SCENARIO
        if unwritten.attempt(
            scenario, lambda _: write_scenario(folder, menu.path, path, spoken, speech)
        ):
            _console().print(f"recorded: {scenario}", markup=False)

    return write


def _run_recording(args: argparse.Namespace) -> int:
    """A whole recorded call, on a virtual clock driven by the recording."""
    import time

    from ivr.audio.wav import open_wav
    from ivr.callers.whole_call import WholeCallCaller
    from ivr.clock import VirtualClock
    from ivr.drivers.session import Session
    from ivr.engine.flow import CallFlow
    from ivr.outputs.call_log import CallLog
    from ivr.outputs.console import ConsoleView
    from ivr.prompts.player import RenderingPlayer, SilentPlayer

    menu = load(args.menu or default_menu())
    flow = CallFlow(menu)
    out = _console(args.quiet)
    unwritten = _Unwritten("ivr run-recording")
    with ExitStack() as stack:
        view = ConsoleView(menu, out, keypad=False)
        listeners: list[Listener] = [view]
        if args.log:
            call_log = CallLog(args.log, unwritten)
            stack.callback(call_log.close)
            listeners.append(call_log)
        try:
            wav = open_wav(args.wav)  # read in blocks, through the line if one is asked for
            tracker = _tracker(menu, args.model) if args.model else None
            call_audio = (
                _artifacts(args.out, menu, listeners, stack, unwritten) if args.out else None
            )
        except IvrError as error:
            err.print(f"ivr run-recording: {error}", markup=False)
            return 1
        clock = VirtualClock()
        caller = WholeCallCaller(wav, clock, tracker, _on_the_line(args))
        player: PromptPlayer = SilentPlayer()
        if call_audio is not None:
            call_audio.keys_as_tones = False  # the recording holds its own tones
            caller.audio_sink = call_audio.caller_audio
            player = RenderingPlayer(_prompt_cache(menu))
        view.banner("整通录音回放（虚拟时钟）")
        began = time.perf_counter()
        Session(flow, caller, player, clock, listeners).run()
        spent = time.perf_counter() - began
        if call_audio is not None:
            unwritten.attempt(args.out / "call.wav", call_audio.write)
    if _read_error("ivr run-recording", caller):
        return 1  # the call ended where the file could not be read; its log is whole
    out.print(
        f"{wav.duration:.1f} s of recording in {spent:.2f} s "
        f"({wav.duration / max(spent, 1e-9):.0f}× real time)",
        markup=False,
    )
    return unwritten.status()


def _test(args: argparse.Namespace) -> int:
    from ivr.scenarios.report import run_cli

    for report in (args.junit, args.coverage):
        if report is not None:  # checked already; created as --log's folder always was
            report.parent.mkdir(parents=True, exist_ok=True)
    return run_cli(
        args.paths,
        junit=args.junit,
        coverage=args.coverage,
        out=_console(),
        err=err.console,
        line=_on_the_line(args),
        artifacts=args.out,
    )


def _dtmf(args: argparse.Namespace) -> int:
    from ivr.audio.dtmf import detect, detect_blocks
    from ivr.audio.wav import AudioFileError, open_wav

    try:
        wav = open_wav(args.wav)  # read in blocks, through the line if one is asked for
        line = _on_the_line(args)
        if line is None:
            events = detect(wav)
        else:
            from ivr.audio.phone_line import RATE

            events = detect_blocks(line.blocks(wav), RATE)
    except AudioFileError as error:  # also one met in the middle of the file
        err.print(f"ivr dtmf: {error}", markup=False)
        return 1
    # Plain lines, as rich printed them (no markup, no highlighting, short ASCII lines),
    # without importing rich: it would cost about as long as decoding a minute of audio.
    sys.stdout.write("".join(f"{digit.start:8.3f}s  {digit.digit}\n" for digit in events))
    sys.stdout.flush()
    return 0


def _prompt_cache(menu: Menu) -> PromptCache:
    from ivr import wiring

    return wiring.prompt_cache(menu.voice.id, menu.voice.rate)


def _artifacts(
    folder: Path, menu: Menu, listeners: list[Listener], stack: ExitStack, unwritten: _Unwritten
) -> CallAudio:
    """Listen with the call log, the transcript and the call audio, all into ``folder``."""
    from ivr import wiring

    return wiring.artifacts(folder, _prompt_cache(menu), listeners, stack, warn=unwritten)


class _Unwritten:
    """Outputs that could not be written in full: each is said in one line as it fails,
    the call goes on, and the command then ends with status 1."""

    def __init__(self, command: str) -> None:
        self.command = command
        self.count = 0

    def __call__(self, message: str) -> None:
        self.count += 1
        err.print(f"{self.command}: cannot write {message}", markup=False)

    def attempt(self, path: Path, write: Callable[[Path], object]) -> bool:
        """``write(path)``, which leaves no partial file; False (and said) if it failed."""
        from ivr.outputs.paths import reason

        try:
            write(path)
        except OSError as error:
            self(f"{path}: {reason(error)}; nothing written")
            return False
        return True

    def status(self) -> int:
        return 1 if self.count else 0


def _virtual_caller(
    args: argparse.Namespace, menu: Menu, clock: VirtualClock, call_audio: CallAudio | None
) -> Caller:
    if args.keys is not None:
        from ivr.callers.scripted import ScriptedCaller

        return ScriptedCaller(args.keys, clock)
    from ivr.callers.clips import ClipCaller, load_clips

    recordings = load_clips(args.audio, _on_the_line(args))
    caller = ClipCaller(recordings, _tracker(menu, args.model), clock)
    if call_audio is not None:
        caller.audio_sink = call_audio.caller_audio
    return caller


def _live_caller(
    args: argparse.Namespace, menu: Menu, clock: RealClock, stack: ExitStack
) -> tuple[Caller, str]:
    """The caller for a live call and the words for the banner."""
    if args.typed:
        from ivr.callers.typed import TypedCaller

        return TypedCaller(clock), "打字说话（回车发送，q 挂机）"
    from ivr.callers.keypad import KeyboardCaller

    if args.mic:
        from ivr.callers.mic import MicrophoneCaller

        try:
            tracker = _tracker(menu, args.model)
        except IvrError as error:
            err.print(f"ivr call: {error}", markup=False)  # still a call: by keypad
        else:
            device = _device(args.mic_device)
            mic = MicrophoneCaller(tracker, clock, device, half_duplex=args.half_duplex)
            return stack.enter_context(mic), "语音与按键"
    return stack.enter_context(KeyboardCaller(clock)), "按键"


def _tracker(menu: Menu, model: str | None) -> UtteranceTracker:
    """A recognizer for the menu's language; a model error says what to install or pass."""
    from ivr import wiring

    return wiring.tracker(wiring.model_path(model, menu))


def _device(name: str | None) -> str | int | None:
    return int(name) if name and name.isdigit() else name


def _speaking_player(menu: Menu, device: str | None, stack: ExitStack) -> PromptPlayer:
    """Prompts through pyttsx3 and the sound device, or text only with one line saying why."""
    from ivr.audio.wav import AudioDeviceUnavailable, SoundDeviceSpeaker
    from ivr.prompts.player import SilentPlayer, SpeakingPlayer
    from ivr.prompts.tts import PromptCache, Pyttsx3Synthesizer, TTSUnavailable

    try:
        speaker = SoundDeviceSpeaker(_device(device))
        stack.callback(speaker.close)
        synthesizer = Pyttsx3Synthesizer(voice=menu.voice.id, rate=menu.voice.rate)
    except (AudioDeviceUnavailable, TTSUnavailable) as error:
        err.print(f"ivr call: {error} — continuing text-only", markup=False)
        return SilentPlayer()
    player = SpeakingPlayer(PromptCache(synthesizer), speaker)
    player.prefetch_in_background(menu.prompt_texts())
    stack.callback(player.close)
    return player


def _check(args: argparse.Namespace) -> int:
    from ivr.menu.problems import MenuInvalid

    paths = args.menus or [default_menu()]
    failed = False
    for path in paths:
        try:
            menu = load(path)
        except MenuInvalid as invalid:
            failed = True
            for problem in invalid.problems:
                err.print(str(problem), markup=False)
            continue
        if args.model is not None:
            from ivr.hearing.phrase_check import phrases_missing_from_model

            try:
                model = _model(menu, args.model)
            except IvrError as error:
                err.print(f"ivr check: {error}", markup=False)
                return 1
            for problem in phrases_missing_from_model(menu, model):
                failed = True
                err.print(str(problem), markup=False)
    if not failed:
        _console().print(f"{len(paths)} menu file(s) OK", markup=False)
    return 1 if failed else 0


def _model(menu: Menu, spec: str | None) -> VoskModel:
    from ivr.hearing.models import find_model
    from ivr.hearing.recognizer import VoskModel

    return VoskModel(find_model(spec, menu.language, menu.speech.model))


def _transcribe(args: argparse.Namespace) -> int:
    """Print each utterance the recognizer hears, with word confidences and, in a state, the
    decision the hotline would take."""
    from ivr.audio.wav import AudioFileError, open_wav
    from ivr.engine.flow import Call, CallFlow, Phase
    from ivr.engine.matching import decide, match
    from ivr.hearing.recognizer import SpeechError, VoskRecognizer, recognize_clip

    menu = load(args.menu or default_menu())
    flow = CallFlow(menu)
    if args.state is not None and args.state not in menu.nodes:
        err.print(f"ivr transcribe: no node {args.state!r} in {menu.path}", markup=False)
        return 2
    try:
        clip = open_wav(args.wav)  # read in blocks
        recognizer = VoskRecognizer(_model(menu, args.model))
    except IvrError as error:
        err.print(f"ivr transcribe: {error}", markup=False)
        return 1
    call = Call(state=args.state, phase=Phase.LISTENING) if args.state else None
    try:
        recognizer.set_grammar(list(flow.grammar(call)) if call else None)
    except SpeechError as error:
        err.print(f"ivr transcribe: {error}", markup=False)
        return 1
    try:
        heard_all = recognize_clip(recognizer, clip)
    except AudioFileError as error:  # the file failed in the middle (EIO, cut short)
        err.print(f"ivr transcribe: {error}", markup=False)
        return 1
    out = _console()
    for moment, heard in heard_all:
        words = " ".join(f"{w.text}({w.confidence:.2f})" for w in heard.words) or "(nothing)"
        line = f"{moment:7.2f}s  {heard.text or '-'}  [{words}]"
        if call is not None:
            found = match(heard.text, flow.choices(call))
            decision = decide(found, heard.confidence, menu.speech.accept, menu.speech.confirm)
            target = f" -> {found.choice.phrase}" if found else ""
            line += f"  {decision.verdict} {decision.score:.2f}{target}"
        out.print(line, markup=False)
    return 0


def _models_download(args: argparse.Namespace) -> int:
    from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

    from ivr.hearing.models import ModelError, download, get_spec

    try:
        get_spec(args.name)  # an unknown name is one line, before any progress bar
        with Progress(
            *Progress.get_default_columns(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=err.console,
        ) as progress:
            task = progress.add_task(f"downloading {args.name}", total=None)
            path = download(
                args.name,
                url=args.url,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
    except ModelError as error:
        err.print(f"ivr models download: {error}", markup=False)
        return 1
    _console().print(f"installed and verified: {path}", markup=False)
    return 0


def _models_list(args: argparse.Namespace) -> int:
    from ivr.hearing.models import installed_models, models_dir

    found = installed_models()
    out = _console()
    for path in found:
        out.print(str(path), markup=False)
    if not found:
        out.print(f"no models in {models_dir()}; try: ivr models download small-cn", markup=False)
    return 0


def _prompts(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from ivr.prompts.tts import PromptCache, Pyttsx3Synthesizer, TTSUnavailable

    menu = load(args.menu or default_menu())
    texts = menu.prompt_texts()
    try:
        synthesizer = Pyttsx3Synthesizer(voice=menu.voice.id, rate=menu.voice.rate)
    except TTSUnavailable as error:
        err.print(f"ivr prompts: {error}", markup=False)
        return 1
    cache = PromptCache(synthesizer, args.cache)
    with Progress(console=err.console, transient=False) as progress:
        task = progress.add_task("rendering prompts", total=len(texts))
        rendered = cache.prefetch(
            texts, progress=lambda done, total: progress.update(task, completed=done)
        )
    _console().print(
        f"{len(texts)} prompts, {rendered} rendered, {len(texts) - rendered} already cached",
        markup=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
