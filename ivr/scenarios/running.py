"""Running: play one scenario or a set on a virtual clock, wired by ivr.wiring, and check them.

run_scenario loads the file, builds the caller (or replays the recording), runs the session
and hands the events to the verdict; it never raises for a bad file (see Status).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ivr.clock import VirtualClock
from ivr.drivers.session import Session
from ivr.engine.events import CallEvent
from ivr.engine.flow import Call, CallFlow
from ivr.errors import IvrError
from ivr.menu.problems import MenuInvalid, shorten
from ivr.prompts.player import SilentPlayer
from ivr.scenarios.loading import find_scenarios, load_scenario
from ivr.scenarios.model import SUFFIX, Scenario, ScenarioResult, Status, TurnKind
from ivr.scenarios.verdict import check

LineModel = Callable[["AudioClip"], "AudioClip"]
"""What a phone line does to the caller's audio (see ivr.audio.phone_line.degrade)."""

if TYPE_CHECKING:
    from ivr.audio.wav import AudioClip
    from ivr.drivers.centre import SimulatedCentre
    from ivr.engine.backoffice import BackOffice, Reply, Request
    from ivr.hearing.tracker import UtteranceTracker
    from ivr.menu.model import Menu
    from ivr.outputs.artifacts import CallAudio
    from ivr.prompts.recordings import RecordedPrompts
    from ivr.prompts.tts import PromptCache


class _Skip(Exception):
    """Speech this machine cannot provide; the scenario is skipped, not failed."""


def run_scenario(
    scenario: Scenario | str | Path,
    *,
    speech_cache: Path | None = None,
    raise_errors: bool = False,
    line: LineModel | None = None,
    artifacts: Path | None = None,
    model: str | None = None,
    database: str | None = None,
    backoffice: BackOffice | None = None,
) -> ScenarioResult:
    """Play one scenario and check it. Never raises for a bad file: see ``status``.

    ``speech_cache``: where ``say:`` audio is rendered by the espeak-ng command line
    (default: ``~/.cache/ivr/speech-eval``, shared with ``ivr speech-eval``; entries are
    keyed by voice, rate, pitch and text).
    ``raise_errors``: let an unexpected exception in the run propagate (with its
    traceback) instead of reporting it as the scenario's error.
    ``line``: what the phone line does to the caller's audio (ivr.audio.phone_line.degrade).
    ``artifacts``: a folder for the call's log, transcript and stereo WAV.
    ``model``: the speech model (a folder or a package name) if the scenario names none.
    ``database``: a database URL where a ``backoffice: {database: demo}`` scenario's demo
    data is built (its demo callers replaced), instead of a fresh SQLite file.
    ``backoffice``: the back office to ask, as it is (a test that looks at it afterwards).
    """
    started = time.perf_counter()
    if not isinstance(scenario, Scenario):
        path = Path(scenario)
        try:
            scenario = load_scenario(path)
        except MenuInvalid as invalid:
            return ScenarioResult(
                name=path.name.removesuffix(SUFFIX),
                path=path,
                status=Status.ERROR,
                reason="invalid scenario file",
                problems=invalid.problems,
                wall=time.perf_counter() - started,
            )
        except Exception as error:  # a bug in loading is this scenario's error too
            if raise_errors:
                raise
            return ScenarioResult(
                name=path.name.removesuffix(SUFFIX),
                path=path,
                status=Status.ERROR,
                reason=one_line(error),
                wall=time.perf_counter() - started,
            )
    result = ScenarioResult(
        name=scenario.name,
        path=scenario.path,
        status=Status.PASSED,
        menu_path=scenario.menu.path,
        turns=len(scenario.turns),
    )
    try:
        _play(scenario, result, speech_cache, line, artifacts, model, database, backoffice)
    except _Skip as skip:
        result.status = Status.SKIPPED
        result.reason = str(skip)
    except Exception as error:  # a broken run is this scenario's error, not the suite's end
        if raise_errors and not _bad_input(error):
            raise
        result.status = Status.ERROR
        result.reason = one_line(error)
    result.wall = time.perf_counter() - started
    return result


def _bad_input(error: Exception) -> bool:
    """An error in what the scenario names (a hostile WAV), not in ivr: never a traceback."""
    from ivr.audio.wav import AudioFileError

    return isinstance(error, AudioFileError)


def one_line(error: Exception) -> str:
    """An exception as one short printable line; an IvrError's own words suffice (they are
    written for the user), anything else is named by its class."""
    text = str(error) if isinstance(error, IvrError) else f"{type(error).__name__}: {error}"
    return shorten(text, 300)


def run_scenarios(
    paths: Iterable[str | Path | Scenario],
    progress: Callable[[int, int, ScenarioResult], None] | None = None,
    *,
    speech_cache: Path | None = None,
    line: LineModel | None = None,
    artifacts: Path | None = None,
    model: str | None = None,
) -> list[ScenarioResult]:
    """Run scenarios (files, folders searched for ``*.call.yaml``, or loaded ones) in order.

    ``progress(done, total, result)`` is called after each one. ``artifacts``: a folder
    with one subfolder per scenario (see run_scenario). ``model``: the speech model of the
    scenarios that name none.
    """
    items: list[str | Path | Scenario] = []
    for entry in paths:
        items += [entry] if isinstance(entry, Scenario) else find_scenarios([entry])
    results = []
    for done, item in enumerate(items, start=1):
        folder = None
        if artifacts is not None:
            stem = item.path if isinstance(item, Scenario) else Path(item)
            folder = artifacts / f"{done:03d}-{stem.name.removesuffix(SUFFIX)}"
        result = run_scenario(
            item, speech_cache=speech_cache, line=line, artifacts=folder, model=model
        )
        results.append(result)
        if progress is not None:
            progress(done, len(items), result)
    return results


def _play(
    scenario: Scenario,
    result: ScenarioResult,
    speech_cache: Path | None,
    line: LineModel | None,
    artifacts: Path | None,
    model: str | None = None,
    database: str | None = None,
    office: BackOffice | None = None,
) -> None:
    spoken = scenario.spoken
    tracker, clips = _speech(scenario, speech_cache, line, model) if spoken else (None, {})
    clock = VirtualClock()
    events = result.events

    def record(event: CallEvent, moment: float) -> None:
        events.append((moment, event))

    with ExitStack() as stack:
        if office is None:
            office = scenario_backoffice(scenario, database, stack)
        listeners: list[Callable[[CallEvent, float], None]] = [record]
        call_audio = _artifacts(scenario, artifacts, listeners, stack) if artifacts else None
        if scenario.recording is not None:
            call = _replay(scenario, clock, tracker, listeners, line, call_audio, office)
            starts: list[tuple[int, float]] = []
        else:
            from ivr.scenarios.caller import ScenarioCaller

            caller = ScenarioCaller(scenario, clock, events, clips=clips, tracker=tracker)
            if call_audio is not None:
                caller.audio_sink = call_audio.caller_audio
            flow = CallFlow(scenario.menu)
            call = Session(
                flow,
                caller,
                SilentPlayer(),
                clock,
                listeners,
                backoffice=office,
                caller_id=scenario.caller_id,
                centre=centre(scenario),
                keeps_audio=call_audio is not None,
            ).run()
            starts = caller.starts
        if call_audio is not None and artifacts is not None:
            call_audio.write(artifacts / "call.wav")
    result.outcome = call.outcome
    result.duration = events[-1][0] if events else clock.now()
    result.failures = check(scenario, events, starts)
    result.status = Status.FAILED if result.failures else Status.PASSED


def centre(scenario: Scenario) -> SimulatedCentre | None:
    """The contact centre of a scenario whose menu declares one: simulated around the call
    at the scenario's ``time``, seeded, so the queue it meets is the same every run."""
    if scenario.menu.contact_centre is None:
        return None
    from ivr.drivers.session import simulated_centre

    return simulated_centre(CallFlow(scenario.menu), scenario.time)


DEMO_NOW = "2026-03-14T12:00:00+08:00"
"""The moment a database scenario's demo data and its back office's clock are set to
(``now:`` in the scenario): the same dates are read, the same accounts locked, every run."""
DEMO_SEED = 1
DEMO_ACCOUNTS = 20
"""Four callers of each case: each of the guide's four causes of a failed payment."""


def scenario_backoffice(
    scenario: Scenario, database: str | None, stack: ExitStack
) -> BackOffice | None:
    """The back office a scenario's ``backoffice`` names: the in-memory one (its data, or
    the demo data for a menu with action nodes), or a database (``database: demo``: a fresh
    SQLite copy of the demo data, or the demo built at ``database``; ``database: missing``:
    none there). None for a menu without action nodes. ``stack`` closes it."""
    from ivr.drivers.memory import from_data

    data = scenario.backoffice
    if data is not None and "database" in data:
        office = _database(data, database, stack)
        latency = float(data.get("latency", 0.0))
        return _Slowed(office, latency) if latency else office
    if data is not None:
        return from_data(data)
    menu = scenario.menu
    if menu.contact_centre is not None or any(n.action is not None for n in menu.nodes.values()):
        return from_data({})
    return None


def demo_moment(data: Mapping[str, Any]) -> dt.datetime:
    """A database scenario's ``now``, a moment with its zone."""
    moment = dt.datetime.fromisoformat(str(data.get("now", DEMO_NOW)).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"now: {moment} has no time zone")
    return moment


def _database(data: Mapping[str, Any], url: str | None, stack: ExitStack) -> BackOffice:
    import tempfile

    from ivr.backoffice.office import ConnectingBackOffice, DatabaseBackOffice

    folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ivr-scenario-")))
    if data["database"] == "missing":
        missing = ConnectingBackOffice(str(folder / "no-such-database.sqlite3"))
        stack.callback(missing.close)
        return missing
    now = demo_moment(data)
    seed = int(data.get("seed", DEMO_SEED))
    count = int(data.get("accounts", DEMO_ACCOUNTS))
    if url is None:
        url = str(folder / "backoffice.sqlite3")
        _copy_demo(Path(url), seed, count, now)
    else:
        from ivr.backoffice.demo import build

        build(url, count, seed, now)
    office = DatabaseBackOffice(url, create=False, now=lambda: now)
    stack.callback(office.close)
    return office


_templates: dict[tuple[int, int, dt.datetime], Path] = {}


def _copy_demo(target: Path, seed: int, count: int, now: dt.datetime) -> None:
    """A fresh SQLite file with the demo data: built once per process (argon2 hashes take
    time), then copied for each scenario, so no scenario sees another's writes."""
    import atexit
    import shutil
    import tempfile

    from ivr.backoffice.demo import build

    key = (seed, count, now)
    template = _templates.get(key)
    if template is None or not template.exists():
        folder = Path(tempfile.mkdtemp(prefix="ivr-demo-"))
        atexit.register(shutil.rmtree, folder, True)
        template = folder / "demo.sqlite3"
        build(str(template), count, seed, now)
        _templates[key] = template
    shutil.copyfile(template, target)


class _Slowed:
    """A back office whose replies take ``latency`` seconds of call time."""

    def __init__(self, office: BackOffice, latency: float) -> None:
        self.office = office
        self.latency = latency

    def perform(self, request: Request) -> Reply:
        return self.office.perform(request)

    def delay(self, request: Request) -> float:
        return self.latency


def _artifacts(
    scenario: Scenario,
    folder: Path,
    listeners: list[Callable[[CallEvent, float], None]],
    stack: ExitStack,
) -> CallAudio:
    """The call's log, transcript and stereo WAV, into ``folder``."""
    from ivr import wiring

    cache = _prompt_files(scenario.menu)
    keys_as_tones = scenario.recording is None
    return wiring.artifacts(
        folder,
        cache,
        listeners,
        stack,
        language=scenario.menu.language,
        keys_as_tones=keys_as_tones,
    )


def _replay(
    scenario: Scenario,
    clock: VirtualClock,
    tracker: UtteranceTracker | None,
    listeners: list[Callable[[CallEvent, float], None]],
    line: LineModel | None,
    call_audio: CallAudio | None,
    office: BackOffice | None,
) -> Call:
    """A recorded call, on the recording's clock, with prompts timed as when it was made."""
    from ivr.audio.wav import open_wav
    from ivr.callers.whole_call import WholeCallCaller
    from ivr.prompts.player import PromptPlayer, RenderingPlayer

    assert scenario.recording is not None
    recording = open_wav(scenario.recording)  # read in blocks, through the line if any
    caller = WholeCallCaller(recording, clock, tracker, line)
    if call_audio is not None:
        caller.audio_sink = call_audio.caller_audio
    menu = scenario.menu
    player: PromptPlayer = SilentPlayer()
    if scenario.spoken_prompts:
        player = RenderingPlayer(_prompt_files(menu))
    call = Session(
        CallFlow(menu),
        caller,
        player,
        clock,
        listeners,
        backoffice=office,
        caller_id=scenario.caller_id,
        centre=centre(scenario),
        keeps_audio=call_audio is not None,
    ).run()
    if caller.read_error is not None:  # the caller hung up there; the scenario is in error
        raise caller.read_error
    return call


def _speech(
    scenario: Scenario,
    speech_cache: Path | None,
    line: LineModel | None = None,
    model: str | None = None,
) -> tuple[UtteranceTracker, dict[int, AudioClip]]:
    """The recognizer and the caller's audio for a scenario with speech; _Skip if impossible."""
    from ivr import wiring
    from ivr.audio.wav import read_wav, to_rate
    from ivr.callers.clips import RATE
    from ivr.hearing.models import ModelNotFound

    menu = scenario.menu
    try:
        where = wiring.model_path(scenario.model or model, menu)
    except ModelNotFound as error:
        raise _Skip(f"speech needs a {menu.language} model: {error}") from None
    tracker = wiring.tracker(where, shared=True, menu=menu)
    clips: dict[int, AudioClip] = {}
    for turn in scenario.turns:
        if turn.kind is TurnKind.PLAY and turn.audio is not None:
            clips[turn.number] = read_wav(turn.audio)
        elif turn.kind is TurnKind.SAY:
            voice = scenario.voice_id or menu.voice.id
            rate = turn.rate or scenario.rate or menu.voice.rate
            clips[turn.number] = _caller_speech(turn.text, voice, rate, speech_cache)
    for number, clip in clips.items():
        clips[number] = to_rate(line(clip) if line else clip, RATE)
    return tracker, clips


ESPEAK_PITCH = 50
"""espeak-ng's own default pitch (0-99), which the caller's voice keeps."""


def _caller_speech(text: str, voice: str, rate: int, directory: Path | None) -> AudioClip:
    """A ``say:`` turn's audio, from the espeak-ng command line: the same text always gives
    the same samples. (Through pyttsx3 it did not: espeak-ng's pitch flutter runs on across
    a process's utterances, so a scenario's 상담원 depended on what the process had said
    before, and was once heard as 셋 in the full suite.)"""
    from ivr.hearing.evaluation import EvaluationError, Render, Renderer

    try:
        return Renderer(directory).clip(text, Render(voice, rate, ESPEAK_PITCH))
    except EvaluationError as error:
        raise _Skip(f"say turns need espeak-ng: {error}") from None


def _prompt_files(menu: Menu) -> RecordedPrompts:
    """The hotline's prompts: recorded where the menu has recordings, else by TTS."""
    from ivr import wiring

    return wiring.recorded_prompts(menu, _speech_cache(menu.voice.id, menu.voice.rate, None))


def _speech_cache(voice: str, rate: int, directory: Path | None) -> PromptCache:
    from ivr import wiring
    from ivr.prompts.tts import TTSUnavailable

    try:
        return wiring.prompt_cache(voice, rate, directory, shared=True)
    except TTSUnavailable as error:
        raise _Skip(f"say turns need text-to-speech: {error}") from None
