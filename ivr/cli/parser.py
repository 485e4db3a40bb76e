"""Every command, its options and their help: argparse, and nothing else imported."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable

OFFICIAL_MODELS = ("small-cn", "small-en-us")
"""The keys of ``ivr.hearing.models.OFFICIAL``, for the help text without importing it (a
test keeps the two equal): that module brings http.client, ssl and platformdirs."""


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


MAX_SPEED = 100.0
"""``ivr call --speed``: beyond this a 5 s timeout is shorter than a terminal's refresh."""


def _speed(text: str) -> float:
    """``--speed``: a finite number of times faster than real time, above 0, at most 100."""
    value = _finite(text)
    if not 0 < value <= MAX_SPEED:
        raise argparse.ArgumentTypeError(f"must be above 0 and at most {MAX_SPEED:g}, not {text}")
    return value


def _port(text: str) -> int:
    """``ivr serve --port``: a TCP port, 0 (any free one) to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0 to 65535, not {text}")
    return value


def _caller_id(text: str) -> str:
    """``ivr call --caller``: a caller ID as every front end takes one (`caller_id_problem`)."""
    from ivr.limits import caller_id_problem

    problem = caller_id_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return text


class _CallerIdOnly(argparse.Action):
    """Stores what `_caller_id` took; argparse hands ``--caller=--`` over as ``[]`` without
    calling the type, so that is refused here with the rule's words."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        if not isinstance(values, str):
            parser.error(f"argument {option_string}: a caller ID is digits only (0-9)")
        setattr(namespace, self.dest, values)


MAX_WEB_CALLS = 1000
"""``ivr serve --max-calls``: one thread per call; measured in benchmarks/web.py."""


def _max_calls(text: str) -> int:
    """``ivr serve --max-calls``: 1 to `MAX_WEB_CALLS`."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 1 <= value <= MAX_WEB_CALLS:
        raise argparse.ArgumentTypeError(f"must be 1 to {MAX_WEB_CALLS}, not {text}")
    return value


TIME_EXAMPLE = "2026-03-16T14:00"


def _moment(text: str) -> dt.datetime:
    """``--time``: when single calls are made, for the menu's contact centre; read as
    ``$IVR_TIME`` is (``ivr.drivers.session.call_time``), local time in the centre's zone."""
    import datetime

    try:
        return datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a date and time: {text!r} (YYYY-MM-DDTHH:MM, e.g. {TIME_EXAMPLE})"
        ) from None


TIME_HELP = (
    "when the call is made, for the menu's contact centre (its hours and its queue): "
    "YYYY-MM-DDTHH:MM in the centre's time zone (default: $IVR_TIME, else now)"
)


class _Version(argparse.Action):
    """``--version``: the installed package's version, read only when asked for (importing
    importlib.metadata would slow every ``ivr`` start, ``--help`` included)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version of ivr and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> NoReturn:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("ivr")
        except PackageNotFoundError:  # run from a source tree that was never installed
            found = "unknown (not installed: pip install -e .)"
        sys.stdout.write(f"ivr {found}\n")  # to stdout, as argparse's own version action
        parser.exit(0)


DEMO_CASES = ("failed-payment", "refund", "real-name", "invoice", "locked")
"""The cases of ``ivr.backoffice.demo.CASES``, for ``ivr db accounts --case`` without
importing it (SQLAlchemy); a test keeps the two equal."""

MAX_DEMO_ACCOUNTS = 10_000
"""``ivr db init --demo``: each demo PIN is an argon2id hash (~20 ms of CPU)."""


def _demo_count(text: str) -> int:
    """``--demo N``: 0 to MAX_DEMO_ACCOUNTS accounts."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value <= MAX_DEMO_ACCOUNTS:
        raise argparse.ArgumentTypeError(f"must be 0 to {MAX_DEMO_ACCOUNTS:,}, not {text}")
    return value


DB_HELP = (
    "the back-office database: a SQLite file or a postgresql://USER@HOST/NAME URL "
    "(default: $IVR_DATABASE_URL, else backoffice.sqlite3 in the user data dir)"
)

MENU_HELP = "menu file (default: $IVR_MENU, else the wallet)"

FILE, FOLDER = "file", "folder"
"""The kinds of output option, checked by `_check_outputs` before a command starts."""


def parser() -> argparse.ArgumentParser:
    """Every command and option; ``run`` names the handler as ``module:function`` in
    ``ivr.cli``, imported only when that command runs."""
    parser = _Parser(
        prog="ivr", description="Offline simulator of the 人民数字钱包 customer-service hotline."
    )
    parser.add_argument("--version", action=_Version)
    parser.set_defaults(outputs=())
    commands = parser.add_subparsers(required=True, metavar="COMMAND", dest="command")

    call = commands.add_parser("call", help="call the hotline (keypad, voice or recordings)")
    call.add_argument("--menu", type=Path, default=None, help=MENU_HELP)
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
    call.add_argument(
        "--model",
        metavar="M",
        help="speech model for --mic or --audio: a directory or a package name",
    )
    call.add_argument(
        "--half-duplex",
        action="store_true",
        help="with --mic: ignore the microphone while a prompt plays",
    )
    call.add_argument("--text", action="store_true", help="text only: do not speak the prompts")
    call.add_argument(
        "--device", help="live calls: sound output device name or number (default: system)"
    )
    call.add_argument(
        "--mic-device", help="with --mic: microphone device name or number (default: system)"
    )
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
    call.add_argument(
        "--start", metavar="NODE", help="begin the call at this menu node (no greeting)"
    )
    call.add_argument(
        "--caller",
        metavar="NUMBER",
        type=_caller_id,
        action=_CallerIdOnly,
        help="the calling number (caller ID): the call variable caller_id, which identifies "
        "the caller to the back office; digits only, at most 20 (CALLER_ID_DIGITS)",
    )
    call.add_argument("--db", metavar="URL", help=DB_HELP)
    call.add_argument(
        "--speed",
        type=_speed,
        default=1.0,
        metavar="N",
        help="text only: prompts and timers N times faster (0 < N <= 100; "
        "not with --mic, --audio, --out or --record)",
    )
    call.add_argument("--time", type=_moment, metavar="YYYY-MM-DDTHH:MM", help=TIME_HELP)
    line_options(call)
    call.set_defaults(
        run="call:run",
        outputs=(("log", "--log", FILE), ("out", "--out", FOLDER), ("record", "--record", FOLDER)),
    )

    replay = commands.add_parser(
        "run-recording", help="replay a recording of the caller's side of a whole call"
    )
    replay.add_argument(
        "wav", type=Path, metavar="CALL.wav", help="the caller's side of a call (keys, speech)"
    )
    replay.add_argument("--menu", type=Path, default=None, help=MENU_HELP)
    replay.add_argument("--model", metavar="M", help="speech model (without one: keys only)")
    replay.add_argument("--log", type=Path, metavar="FILE", help="write the call log (JSON Lines)")
    replay.add_argument(
        "--out", type=Path, metavar="DIR", help="write call.jsonl, transcript.txt and call.wav"
    )
    replay.add_argument("--quiet", action="store_true", help="print nothing but errors")
    replay.add_argument("--db", metavar="URL", help=DB_HELP)
    line_options(replay)
    replay.set_defaults(
        run="replay:run", outputs=(("log", "--log", FILE), ("out", "--out", FOLDER))
    )

    test = commands.add_parser("test", help="run call scenarios (*.call.yaml) and check them")
    test.add_argument(
        "paths",
        nargs="*",
        type=Path,
        default=[Path("tests/calls")],
        metavar="PATH",
        help="scenario files or folders searched for them (default: tests/calls)",
    )
    test.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML")
    test.add_argument("--coverage", type=Path, metavar="FILE", help="menu coverage: .md or .mmd")
    test.add_argument(
        "--out", type=Path, metavar="DIR", help="each call's log, transcript and stereo WAV"
    )
    test.add_argument(
        "--model",
        metavar="M",
        help="speech model for the scenarios that name none (a scenario's own model: wins)",
    )
    line_options(test)
    test.set_defaults(
        run="scenarios:run",
        outputs=(
            ("junit", "--junit", FILE),
            ("coverage", "--coverage", FILE),
            ("out", "--out", FOLDER),
        ),
    )

    dtmf = commands.add_parser("dtmf", help="the DTMF keys in a WAV, with their times")
    dtmf.add_argument("wav", type=Path, metavar="FILE.wav", help="the audio to listen to")
    line_options(dtmf)
    dtmf.set_defaults(run="dtmf:run")

    check = commands.add_parser("check", help="validate menu files")
    check.add_argument(
        "menus", nargs="*", type=Path, metavar="MENU", help="menu files (default: the wallet)"
    )
    check.add_argument("--model", metavar="M", help="also check every phrase against this model")
    check.set_defaults(run="check:run")

    graph = commands.add_parser(
        "graph", help="the menu as a diagram, with the time to reach each leaf by keys"
    )
    graph.add_argument("menu", nargs="?", type=Path, metavar="MENU", help="default: the wallet")
    graph.add_argument(
        "--format",
        choices=("mermaid", "svg", "dot"),
        default="mermaid",
        help="Mermaid text (default), SVG laid out by Graphviz's dot, or DOT source",
    )
    graph.add_argument("--out", type=Path, metavar="FILE", help="write here (default: stdout)")
    graph.set_defaults(run="graph:run", outputs=(("out", "--out", FILE),))

    transcribe = commands.add_parser("transcribe", help="what the recognizer hears in a WAV")
    transcribe.add_argument("wav", type=Path, metavar="FILE.wav", help="the audio to recognize")
    transcribe.add_argument("--state", help="use the grammar of this menu node (default: open)")
    transcribe.add_argument("--menu", type=Path, default=None, help=MENU_HELP)
    transcribe.add_argument(
        "--model", metavar="M", help="speech model: a directory or a package name"
    )
    transcribe.set_defaults(run="transcribe:run")

    models = commands.add_parser("models", help="speech models: download, list")
    model_commands = models.add_subparsers(required=True, metavar="ACTION", dest="action")
    fetch = model_commands.add_parser("download", help="download and verify an official model")
    fetch.add_argument("name", help=f"one of: {', '.join(OFFICIAL_MODELS)}")
    fetch.add_argument("--url", help="a mirror of the official archive")
    fetch.set_defaults(run="models:download")
    listing = model_commands.add_parser("list", help="installed models")
    listing.set_defaults(run="models:listing")

    prompts = commands.add_parser(
        "prompts",
        help="pre-render every prompt (render), or list them for a recording session (export)",
        description="ivr prompts [render] [MENU] --cache DIR: pre-render every prompt by "
        "text-to-speech. ivr prompts export [MENU] --out FILE: every prompt's ID, node and "
        "text as CSV, for a voice talent to record as <ID>.wav (see the README's 'Recorded "
        "prompts').",
    )
    prompts.add_argument(
        "what", nargs="?", metavar="ACTION", help="render (the default) or export; or the MENU"
    )
    prompts.add_argument("menu", nargs="?", type=Path, metavar="MENU", help=MENU_HELP)
    prompts.add_argument("--cache", type=Path, metavar="DIR", help="render: prompt cache directory")
    prompts.add_argument(
        "--out", type=Path, metavar="FILE", help="export: write the CSV here (default: stdout)"
    )
    prompts.add_argument(
        "--missing",
        action="store_true",
        help="export: only prompts with no usable recording (none yet, or of another text)",
    )
    prompts.add_argument(
        "--audio",
        type=Path,
        metavar="DIR",
        help="export: the recordings' folder, holding <language>/<ID>.wav and prompts.csv "
        "(default: $IVR_PROMPT_AUDIO, else audio/prompts beside the menu's folder)",
    )
    prompts.set_defaults(
        run="prompts:run", outputs=(("cache", "--cache", FOLDER), ("out", "--out", FILE))
    )

    speech_eval = commands.add_parser(
        "speech-eval", help="measure how well a menu's spoken choices are recognized"
    )
    speech_eval.add_argument("menu", type=Path, metavar="MENU", help="the menu to measure")
    speech_eval.add_argument("--model", metavar="M", help="speech model: a directory or package")
    speech_eval.add_argument(
        "--quick", action="store_true", help="one voice, two speeds, clean and 20 dB noise"
    )
    speech_eval.add_argument(
        "--conditions",
        nargs="+",
        metavar="C",
        help="clean, noise20, noise10, line (G.711), line20 (default: clean noise20 line)",
    )
    speech_eval.add_argument(
        "--oog", nargs="+", type=Path, metavar="FILE", help="more out-of-grammar utterances"
    )
    speech_eval.add_argument(
        "--recordings", type=Path, metavar="DIR", help="your own WAVs: PHRASE.wav, _oog/*.wav"
    )
    speech_eval.add_argument("--json", type=Path, metavar="FILE", help="write every figure")
    speech_eval.add_argument("--chart", type=Path, metavar="FILE.png", help="write the chart")
    speech_eval.add_argument(
        "--write-calibration",
        action="store_true",
        help="set the menu's thresholds to the recommended ones, for this model",
    )
    speech_eval.add_argument(
        "--second-pass",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="check each result against a syllable loop (default: the menu's speech.second_pass)",
    )
    speech_eval.add_argument(
        "--decoys",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="listen for the language's shipped decoy words too, rejecting them "
        "(default: the menu's speech.decoys)",
    )
    speech_eval.add_argument("--quiet", action="store_true", help="print no tables")
    speech_eval.set_defaults(
        run="speech_eval:run", outputs=(("json", "--json", FILE), ("chart", "--chart", FILE))
    )

    db = commands.add_parser(
        "db",
        help="the back office's database: create it, fill it with demo callers, list them "
        "and the tickets filed",
    )
    db_commands = db.add_subparsers(required=True, metavar="ACTION", dest="action")
    init = db_commands.add_parser(
        "init", help="create the database or bring its schema up to date; --demo adds callers"
    )
    init.add_argument(
        "--demo",
        type=_demo_count,
        metavar="N",
        help="replace the demo callers with N new ones, each a case for training "
        f"(0 to {MAX_DEMO_ACCOUNTS:,}; real accounts are kept)",
    )
    init.add_argument(
        "--seed",
        type=int,
        default=1,
        metavar="S",
        help="with --demo: the same seed makes the same callers and PINs (default: 1)",
    )
    init.add_argument("--db", metavar="URL", help=DB_HELP)
    init.set_defaults(run="db:init")
    accounts = db_commands.add_parser(
        "accounts", help="the demo callers, with their phone numbers, demo PINs and cases"
    )
    accounts.add_argument("--case", choices=DEMO_CASES, help="only the callers with this case")
    accounts.add_argument("--db", metavar="URL", help=DB_HELP)
    accounts.set_defaults(run="db:accounts")
    tickets = db_commands.add_parser(
        "tickets", help="the complaints and suggestions callers filed, newest first"
    )
    tickets.add_argument(
        "--last", type=_demo_count, default=20, metavar="N", help="how many (default: 20)"
    )
    tickets.add_argument("--db", metavar="URL", help=DB_HELP)
    tickets.set_defaults(run="db:tickets")

    report = commands.add_parser(
        "report", help="figures from call logs: containment, drop-off, waits, the funnel"
    )
    report.add_argument(
        "logs",
        nargs="+",
        type=Path,
        metavar="LOG",
        help="call logs (JSON Lines) or folders searched for *.jsonl",
    )
    report.add_argument("--menu", type=Path, default=None, help=MENU_HELP)
    report.add_argument(
        "--html", type=Path, metavar="FILE", help="write a self-contained HTML report"
    )
    report.add_argument("--json", type=Path, metavar="FILE", help="write every figure as JSON")
    report.add_argument(
        "--compare",
        nargs="+",
        type=Path,
        metavar="LOG",
        help="other call logs (another menu's, another day's): headline and per-node figures "
        "side by side with these, in the terminal and at the top of --html (--json stays "
        "these logs' report)",
    )
    report.add_argument("--quiet", action="store_true", help="print nothing but errors")
    report.set_defaults(
        run="report:run", outputs=(("html", "--html", FILE), ("json", "--json", FILE))
    )

    serve = commands.add_parser(
        "serve", help="the web phone: call the hotline from a browser, the menu map beside it"
    )
    serve.add_argument("--menu", type=Path, default=None, help=MENU_HELP)
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only; "
        "another address is warned about)",
    )
    serve.add_argument(
        "--port", type=_port, default=8000, help="TCP port to listen on (default: 8000)"
    )
    serve.add_argument(
        "--max-calls",
        type=_max_calls,
        default=20,
        metavar="N",
        help="at most N calls at once; one more is told the lines are busy (default: 20)",
    )
    serve.add_argument(
        "--model", metavar="M", help="speech model for the microphone: a directory or a package"
    )
    serve.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="keep each call's call.jsonl, transcript.txt and call.wav here "
        "(default: a new temporary folder)",
    )
    serve.add_argument("--db", metavar="URL", help=DB_HELP)
    serve.add_argument("--time", type=_moment, metavar="YYYY-MM-DDTHH:MM", help=TIME_HELP)
    serve.set_defaults(run="serve:run", outputs=(("out", "--out", FOLDER),))

    simulate = commands.add_parser(
        "simulate", help="a caller population through the menu on a virtual clock: logs, summary"
    )
    simulate.add_argument("--menu", type=Path, default=None, help=MENU_HELP)
    simulate.add_argument(
        "--calls", type=_calls, required=True, metavar="N", help="how many callers (1 or more)"
    )
    simulate.add_argument(
        "--population",
        type=Path,
        required=True,
        metavar="FILE",
        help="who calls, why and how (menus/population.sample.yaml)",
    )
    simulate.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="write each menu's call logs here as JSON lines (<menu>.jsonl, with call ids)",
    )
    simulate.add_argument(
        "--seed",
        type=int,
        default=1,
        metavar="S",
        help="the same seed, the same callers (default 1)",
    )
    simulate.add_argument(
        "--compare",
        type=Path,
        metavar="MENU",
        help="also run the same callers (same seed) through this menu; both side by side",
    )
    simulate.set_defaults(run="simulate:run", outputs=(("out", "--out", FOLDER),))
    return parser


def _calls(text: str) -> int:
    """--calls: a whole number from 1 to SIMULATED_CALLS."""
    from ivr.limits import SIMULATED_CALLS

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= SIMULATED_CALLS:
        raise argparse.ArgumentTypeError(
            f"{value}: from 1 to {SIMULATED_CALLS:,} (limit SIMULATED_CALLS)"
        )
    return value


_Rule = tuple[str, "Callable[[argparse.Namespace], bool]", str]

_NONSENSE: tuple[_Rule, ...] = (
    ("call", lambda a: a.half_duplex and not a.mic, "--half-duplex needs --mic"),
    ("call", lambda a: a.mic_device is not None and not a.mic, "--mic-device needs --mic"),
    (
        "call",
        lambda a: a.device is not None and a.text,
        "--device plays the prompts, which --text does not",
    ),
    (
        "call",
        lambda a: a.device is not None and (a.keys is not None or a.audio is not None),
        "--device is for live calls: --keys and --audio run on a virtual clock, unheard",
    ),
    (
        "call",
        lambda a: a.model is not None and not (a.mic or a.audio is not None),
        "--model is for speech: it needs --mic or --audio (--keys and --typed use none)",
    ),
    (
        "call",
        lambda a: (a.line is not None or a.snr is not None) and a.audio is None,
        "--line and --snr act on recorded audio: they need --audio",
    ),
    (
        "call",
        lambda a: a.record is not None and (a.keys is not None or a.audio is not None or a.typed),
        "--record keeps live calls (keypad or --mic)",
    ),
    (
        "call",
        lambda a: a.speed != 1.0 and (a.mic or a.audio is not None or a.out or a.record),
        "--speed is for text-only calls, not with --mic, --audio, --out or --record "
        "(their audio runs in real time)",
    ),
)
"""Option combinations refused with exit 2: each would be silently ignored otherwise."""


def nonsense(args: argparse.Namespace) -> str | None:
    """Why the options of ``args`` make no sense together, or None (checked before the
    command imports anything)."""
    for command, rule, message in _NONSENSE:
        if args.command == command and rule(args):
            return message
    return None


def line_options(parser: argparse.ArgumentParser) -> None:
    """--line and --snr: the caller's audio heard through a phone line."""
    parser.add_argument(
        "--line",
        choices=("ulaw", "alaw", "pcm"),
        help="hear the caller's audio through a phone line: 8 kHz, 300-3400 Hz, G.711 codec",
    )
    parser.add_argument("--snr", type=_finite, metavar="DB", help="line noise, dB below speech")
