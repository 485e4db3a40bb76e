"""``ivr run-recording``: the caller's side of a whole call, replayed on a virtual clock."""

from __future__ import annotations

import argparse
from contextlib import ExitStack
from typing import TYPE_CHECKING

from ivr.cli import common
from ivr.cli.common import (
    Unwritten,
    artifacts,
    console,
    default_menu,
    err,
    load,
    on_the_line,
    prompt_cache,
    read_error,
)
from ivr.errors import IvrError

if TYPE_CHECKING:
    from ivr.drivers.session import Listener
    from ivr.prompts.player import PromptPlayer


def run(args: argparse.Namespace) -> int:
    """A whole recorded call, on a virtual clock driven by the recording."""
    import time

    from ivr import wiring
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
    office = wiring.backoffice(menu, args.db)
    out = console(args.quiet)
    unwritten = Unwritten("ivr run-recording")
    with ExitStack() as stack:
        if office is not None:
            stack.callback(office.close)
        view = ConsoleView(menu, out, keypad=False)
        listeners: list[Listener] = [view]
        if args.log:
            call_log = CallLog(args.log, unwritten)
            stack.callback(call_log.close)
            listeners.append(call_log)
        try:
            wav = open_wav(args.wav)  # read in blocks, through the line if one is asked for
            tracker = common.tracker(menu, args.model) if args.model else None
            call_audio = (
                artifacts(args.out, menu, listeners, stack, unwritten) if args.out else None
            )
        except IvrError as error:
            err.print(f"ivr run-recording: {error}", markup=False)
            return 1
        clock = VirtualClock()
        caller = WholeCallCaller(wav, clock, tracker, on_the_line(args))
        player: PromptPlayer = SilentPlayer()
        if call_audio is not None:
            call_audio.keys_as_tones = False  # the recording holds its own tones
            caller.audio_sink = call_audio.caller_audio
            player = RenderingPlayer(prompt_cache(menu))
        view.banner(view.mode("replay_mode"))
        began = time.perf_counter()
        Session(
            flow, caller, player, clock, listeners, watchers=[view], backoffice=office,
            keeps_audio=call_audio is not None,
        ).run()  # fmt: skip
        spent = time.perf_counter() - began
        if call_audio is not None:
            unwritten.attempt(args.out / "call.wav", call_audio.write)
    if read_error("ivr run-recording", caller):
        return 1  # the call ended where the file could not be read; its log is whole
    out.print(
        f"{wav.duration:.1f} s of recording in {spent:.2f} s "
        f"({wav.duration / max(spent, 1e-9):.0f}× real time)",
        markup=False,
    )
    return unwritten.status()
