"""Every command, its options and their help: argparse, and nothing else imported."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import NoReturn

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


FILE, FOLDER = "file", "folder"
"""The kinds of output option, checked by `_check_outputs` before a command starts."""


def parser() -> argparse.ArgumentParser:
    """Every command and option; ``run`` names the handler as ``module:function`` in
    ``ivr.cli``, imported only when that command runs."""
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
    line_options(call)
    call.set_defaults(
        run="call:run",
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
    line_options(replay)
    replay.set_defaults(
        run="replay:run", outputs=(("log", "--log", FILE), ("out", "--out", FOLDER))
    )

    test = commands.add_parser("test", help="run call scenarios (*.call.yaml) and check them")
    test.add_argument("paths", nargs="*", type=Path, default=[Path("tests/calls")], metavar="PATH")
    test.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML")
    test.add_argument("--coverage", type=Path, metavar="FILE", help="menu coverage: .md or .mmd")
    test.add_argument(
        "--out", type=Path, metavar="DIR", help="each call's log, transcript and stereo WAV"
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
    dtmf.add_argument("wav", type=Path, metavar="FILE.wav")
    line_options(dtmf)
    dtmf.set_defaults(run="dtmf:run")

    check = commands.add_parser("check", help="validate menu files")
    check.add_argument("menus", nargs="*", type=Path, metavar="MENU")
    check.add_argument("--model", metavar="M", help="also check every phrase against this model")
    check.set_defaults(run="check:run")

    transcribe = commands.add_parser("transcribe", help="what the recognizer hears in a WAV")
    transcribe.add_argument("wav", type=Path, metavar="FILE.wav")
    transcribe.add_argument("--state", help="use the grammar of this menu node (default: open)")
    transcribe.add_argument("--menu", type=Path, default=None)
    transcribe.add_argument("--model", metavar="M")
    transcribe.set_defaults(run="transcribe:run")

    models = commands.add_parser("models", help="speech models: download, list")
    model_commands = models.add_subparsers(required=True, metavar="ACTION", dest="action")
    fetch = model_commands.add_parser("download", help="download and verify an official model")
    fetch.add_argument("name", help=f"one of: {', '.join(OFFICIAL_MODELS)}")
    fetch.add_argument("--url", help="a mirror of the official archive")
    fetch.set_defaults(run="models:download")
    listing = model_commands.add_parser("list", help="installed models")
    listing.set_defaults(run="models:listing")

    prompts = commands.add_parser("prompts", help="pre-render every prompt of a menu")
    prompts.add_argument("menu", nargs="?", type=Path, metavar="MENU")
    prompts.add_argument("--cache", type=Path, metavar="DIR", help="prompt cache directory")
    prompts.set_defaults(run="prompts:run", outputs=(("cache", "--cache", FOLDER),))

    speech_eval = commands.add_parser(
        "speech-eval", help="measure how well a menu's spoken choices are recognized"
    )
    speech_eval.add_argument("menu", type=Path, metavar="MENU")
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
    speech_eval.add_argument("--quiet", action="store_true", help="print no tables")
    speech_eval.set_defaults(
        run="speech_eval:run", outputs=(("json", "--json", FILE), ("chart", "--chart", FILE))
    )
    return parser


def line_options(parser: argparse.ArgumentParser) -> None:
    """--line and --snr: the caller's audio heard through a phone line."""
    parser.add_argument(
        "--line",
        choices=("ulaw", "alaw", "pcm"),
        help="hear the caller's audio through a phone line: 8 kHz, 300-3400 Hz, G.711 codec",
    )
    parser.add_argument("--snr", type=_finite, metavar="DB", help="line noise, dB below speech")
