"""The ``ivr`` command. The only module that prints; errors are one line, never a traceback."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from rich.console import Console

from ivr.calllog import CallLog
from ivr.clock import RealClock, VirtualClock
from ivr.engine import CallFlow
from ivr.menu import Menu, load
from ivr.player import PromptPlayer, SilentPlayer
from ivr.problems import MenuInvalid
from ivr.scripted import ScriptedCaller, ScriptError
from ivr.session import Caller, Listener, Session

MENU_ENV = "IVR_MENU"
_REPO_MENU = Path(__file__).resolve().parent.parent / "menus" / "wallet.zh-CN.yaml"

err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def default_menu() -> Path:
    """$IVR_MENU, else the wallet menu next to the package (an editable install or a clone)."""
    return Path(os.environ.get(MENU_ENV) or _REPO_MENU)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        code: int = args.run(args)
    except MenuInvalid as invalid:
        for problem in invalid.problems:
            err.print(str(problem), markup=False)
        return 1
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ivr", description="Offline simulator of the 人民数字钱包 customer-service hotline."
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    call = commands.add_parser("call", help="call the hotline from the console keypad")
    call.add_argument("--menu", type=Path, default=None, help="menu file (default: the wallet)")
    call.add_argument(
        "--keys",
        metavar="SCRIPT",
        help='scripted caller on a virtual clock: keys, "_" = stay silent, "!" = barge in',
    )
    call.add_argument("--text", action="store_true", help="text only: do not speak the prompts")
    call.add_argument("--device", help="sound output device name or number (default: system)")
    call.add_argument("--log", type=Path, metavar="FILE", help="write the call log (JSON Lines)")
    call.add_argument("--quiet", action="store_true", help="print nothing but errors")
    call.set_defaults(run=_call)

    check = commands.add_parser("check", help="validate menu files")
    check.add_argument("menus", nargs="*", type=Path, metavar="MENU")
    check.set_defaults(run=_check)

    prompts = commands.add_parser("prompts", help="pre-render every prompt of a menu")
    prompts.add_argument("menu", nargs="?", type=Path, metavar="MENU")
    prompts.add_argument("--cache", type=Path, metavar="DIR", help="prompt cache directory")
    prompts.set_defaults(run=_prompts)
    return parser


def _call(args: argparse.Namespace) -> int:
    menu = load(args.menu or default_menu())
    flow = CallFlow(menu)
    out = Console(highlight=False, quiet=args.quiet)
    from ivr.console import ConsoleView

    with ExitStack() as stack:
        listeners: list[Listener] = []
        view = ConsoleView(menu, out, keypad=args.keys is None)
        listeners.append(view)
        if args.log:
            call_log = CallLog(args.log)
            stack.callback(call_log.close)
            listeners.append(call_log)
        caller: Caller
        player: PromptPlayer
        if args.keys is not None:
            clock = VirtualClock()
            try:
                caller = ScriptedCaller(args.keys, clock)
            except ScriptError as error:
                err.print(f"ivr call: {error}", markup=False)
                return 2
            player = SilentPlayer()
            view.banner("脚本模式（虚拟时钟）")
            session = Session(flow, caller, player, clock, listeners)
        else:
            real_clock = RealClock()
            player = SilentPlayer() if args.text else _speaking_player(menu, args.device, stack)
            from ivr.keypad import KeyboardCaller

            caller = stack.enter_context(KeyboardCaller(real_clock))
            view.banner("仅文字" if isinstance(player, SilentPlayer) else "语音播报")
            session = Session(flow, caller, player, real_clock, listeners)
        session.run()
    return 0


def _speaking_player(menu: Menu, device: str | None, stack: ExitStack) -> PromptPlayer:
    """Prompts through pyttsx3 and the sound device, or text only with one line saying why."""
    from ivr.audio import AudioDeviceUnavailable, SoundDeviceSpeaker
    from ivr.player import SpeakingPlayer
    from ivr.tts import PromptCache, Pyttsx3Synthesizer, TTSUnavailable

    try:
        speaker = SoundDeviceSpeaker(int(device) if device and device.isdigit() else device)
        stack.callback(speaker.close)
        synthesizer = Pyttsx3Synthesizer(voice=menu.voice.id, rate=menu.voice.rate)
    except (AudioDeviceUnavailable, TTSUnavailable) as error:
        err.print(f"ivr call: {error} — continuing text-only", markup=False)
        return SilentPlayer()
    cache = PromptCache(synthesizer)
    import threading

    threading.Thread(target=cache.prefetch, args=(menu.prompt_texts(),), daemon=True).start()
    return SpeakingPlayer(cache, speaker)


def _check(args: argparse.Namespace) -> int:
    paths = args.menus or [default_menu()]
    failed = False
    for path in paths:
        try:
            load(path)
        except MenuInvalid as invalid:
            failed = True
            for problem in invalid.problems:
                err.print(str(problem), markup=False)
    if not failed:
        Console(highlight=False).print(f"{len(paths)} menu file(s) OK", markup=False)
    return 1 if failed else 0


def _prompts(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from ivr.tts import PromptCache, Pyttsx3Synthesizer, TTSUnavailable

    menu = load(args.menu or default_menu())
    texts = menu.prompt_texts()
    try:
        synthesizer = Pyttsx3Synthesizer(voice=menu.voice.id, rate=menu.voice.rate)
    except TTSUnavailable as error:
        err.print(f"ivr prompts: {error}", markup=False)
        return 1
    cache = PromptCache(synthesizer, args.cache)
    with Progress(console=err, transient=False) as progress:
        task = progress.add_task("rendering prompts", total=len(texts))
        rendered = cache.prefetch(
            texts, progress=lambda done, total: progress.update(task, completed=done)
        )
    Console(highlight=False).print(
        f"{len(texts)} prompts, {rendered} rendered, {len(texts) - rendered} already cached",
        markup=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
