"""``ivr call``: one call, by keypad, microphone, typing, a key script or recordings."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
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
    from ivr.clock import RealClock, VirtualClock
    from ivr.drivers.centre import SimulatedCentre
    from ivr.drivers.session import Caller, Listener
    from ivr.engine.flow import Call, CallFlow
    from ivr.menu.model import Menu
    from ivr.outputs.artifacts import CallAudio
    from ivr.outputs.console import ConsoleView
    from ivr.prompts.player import PromptPlayer


def run(args: argparse.Namespace) -> int:
    """A call by keypad, microphone, typing, a key script or recorded utterances."""
    from ivr.callers.scripted import ScriptError, parse_script
    from ivr.clock import RealClock, VirtualClock
    from ivr.drivers.session import Session
    from ivr.engine.flow import CallFlow
    from ivr.outputs.call_log import CallLog
    from ivr.prompts.player import RenderingPlayer, SilentPlayer

    if args.keys is not None:
        try:
            parse_script(args.keys)  # a command-line mistake, said before reading any file
        except ScriptError as error:
            err.print(f"ivr call: {error}", markup=False)
            return 2
    menu = load(args.menu or default_menu())
    if args.start is not None and args.start not in menu.nodes:
        err.print(
            f"ivr call: --start: no node {args.start!r} in {menu.path} "
            f"(nodes: {', '.join(menu.nodes)})",
            markup=False,
        )
        return 2
    if common.time_refused("call", args, menu):
        return 2
    flow = CallFlow(menu)
    from ivr import wiring

    office = wiring.backoffice(menu, args.db)
    unwritten = Unwritten("ivr call")
    virtual_run = args.keys is not None or args.audio is not None
    with ExitStack() as stack:
        if office is not None:
            stack.callback(office.close)
        real = None if virtual_run else RealClock()
        view = _view(menu, args, real)
        stack.callback(view.close)
        listeners: list[Listener] = [view]
        if args.log:
            call_log = CallLog(args.log, unwritten)
            stack.callback(call_log.close)
            listeners.append(call_log)
        try:
            call_audio = (
                artifacts(args.out, menu, listeners, stack, unwritten) if args.out else None
            )
            recording: Callable[[], None] | None = None
            if real is None:
                virtual = VirtualClock()
                caller = _virtual_caller(args, menu, virtual, call_audio)
                mode = "script_mode" if args.keys is not None else "clips_mode"
                view.banner(view.mode(mode, speed=args.speed))
                player: PromptPlayer = (
                    SilentPlayer() if call_audio is None else RenderingPlayer(prompt_cache(menu))
                )
                session = Session(
                    flow, caller, player, virtual, listeners,
                    watchers=[view], start=args.start, speed=args.speed,
                    backoffice=office, caller_id=args.caller, centre=_centre(flow, args.time),
                    keeps_audio=call_audio is not None,
                )  # fmt: skip
            else:
                speaking = not args.text and args.speed == 1.0
                player = _speaking_player(menu, args.device, stack) if speaking else SilentPlayer()
                caller, mode = _live_caller(args, menu, real, stack, edits_line=view.live)
                draft = getattr(caller, "draft", None)
                if draft is not None:
                    view.typing(lambda: getattr(caller, "draft", ""))
                centre = _centre(flow, args.time)
                recording = (
                    _record(args.record, menu, caller, player, listeners, stack, unwritten, centre)
                    if args.record is not None
                    else None
                )
                text_only = isinstance(player, SilentPlayer)
                view.banner(
                    view.mode(mode, text_only=text_only, speed=args.speed),
                    hint=mode.removesuffix("_mode"),
                )
                session = Session(
                    flow, caller, player, real, listeners,
                    watchers=[view], start=args.start, speed=args.speed,
                    backoffice=office, caller_id=args.caller, centre=centre,
                    keeps_audio=call_audio is not None,
                )  # fmt: skip
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
    return max(unwritten.status(), read_error("ivr call", caller))


class _QuietView:
    """``ivr call --quiet``: shows nothing, so rich is never imported."""

    def mode(self, mode: str, text_only: bool | None = None, speed: float = 1.0) -> str:
        return mode

    def banner(self, mode: str, hint: str | None = None) -> None:
        pass

    def __call__(self, event: object, moment: float) -> None:
        pass

    def status(self, activity: str, now: float, until: float, call: Call) -> None:
        pass

    def typing(self, draft: Callable[[], str]) -> None:
        pass

    @property
    def live(self) -> bool:
        return False

    def close(self) -> None:
        pass


def _view(
    menu: Menu, args: argparse.Namespace, clock: RealClock | None
) -> _QuietView | ConsoleView:
    """What the caller sees: the rich console view (a live status line when the call runs
    in real time on a terminal), or nothing at all with --quiet."""
    if args.quiet:
        return _QuietView()
    from ivr.outputs.console import ConsoleView

    keypad = args.keys is None and args.audio is None
    now = None if clock is None else clock.now
    return ConsoleView(menu, console(), keypad=keypad, clock=now)


def _centre(flow: CallFlow, at: dt.datetime | None) -> SimulatedCentre | None:
    """The call's contact centre as it is at ``--time``, else ``$IVR_TIME``, else now,
    begun on a whole second (a recorded call's replay names that moment as its scenario's
    ``time``, so its queue is the live call's); None when the menu declares none."""
    from ivr.drivers.session import call_time, simulated_centre
    from ivr.engine.queueing import zone

    spec = flow.menu.contact_centre
    if spec is None:
        return None
    moment = at or call_time() or dt.datetime.now(zone(spec.time_zone))
    return simulated_centre(flow, moment.replace(microsecond=0))


def _record(
    folder: Path,
    menu: Menu,
    caller: Caller,
    player: PromptPlayer,
    listeners: list[Listener],
    stack: ExitStack,
    unwritten: Unwritten,
    centre: SimulatedCentre | None,
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
            recording, lambda target: caller_side.write_caller(target, until=path.recorded_until)
        ):
            return  # a scenario without its recording would not replay
        spoken = not isinstance(player, SilentPlayer)
        speech = hasattr(caller, "audio_sink")  # a microphone call: recognize its speech
        scenario = folder / SCENARIO
        if unwritten.attempt(
            scenario,
            lambda _: write_scenario(
                folder, menu.path, path, spoken, speech, None if centre is None else centre.start
            ),
        ):
            console().print(f"recorded: {scenario}", markup=False)

    return write


def _virtual_caller(
    args: argparse.Namespace, menu: Menu, clock: VirtualClock, call_audio: CallAudio | None
) -> Caller:
    if args.keys is not None:
        from ivr.callers.scripted import ScriptedCaller

        return ScriptedCaller(args.keys, clock)
    from ivr.callers.clips import ClipCaller, load_clips

    recordings = load_clips(args.audio, on_the_line(args))
    caller = ClipCaller(recordings, common.tracker(menu, args.model), clock)
    if call_audio is not None:
        caller.audio_sink = call_audio.caller_audio
    return caller


def _live_caller(
    args: argparse.Namespace, menu: Menu, clock: RealClock, stack: ExitStack, edits_line: bool
) -> tuple[Caller, str]:
    """The caller for a live call and its mode (a field of the words for the banner).
    ``edits_line``: a typing caller edits its line itself (the live status line is redrawn
    over the terminal's echo) and the view shows the line."""
    if args.typed:
        from ivr.callers.typed import TypedCaller

        return stack.enter_context(TypedCaller(clock, edits_line=edits_line)), "typed_mode"
    from ivr.callers.keypad import KeyboardCaller

    if args.mic:
        from ivr.callers.mic import MicrophoneCaller
        from ivr.hearing.models import ModelLanguageMismatch

        try:
            tracker = common.tracker(menu, args.model)
        except ModelLanguageMismatch:
            raise  # refused before the call starts: it would hear nothing the menu offers
        except IvrError as error:
            err.print(f"ivr call: {error}", markup=False)  # still a call: by keypad
        else:
            device = _device(args.mic_device)
            mic = MicrophoneCaller(tracker, clock, device, half_duplex=args.half_duplex)
            return stack.enter_context(mic), "mic_mode"
    return stack.enter_context(KeyboardCaller(clock)), "keypad_mode"


def _device(name: str | None) -> str | int | None:
    return int(name) if name and name.isdigit() else name


def _speaking_player(menu: Menu, device: str | None, stack: ExitStack) -> PromptPlayer:
    """Prompts through pyttsx3 and the sound device, or text only with one line saying why."""
    from ivr import wiring
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
    player = SpeakingPlayer(wiring.recorded_prompts(menu, PromptCache(synthesizer)), speaker)
    player.prefetch_in_background(menu.prompt_texts())
    stack.callback(player.close)
    return player
