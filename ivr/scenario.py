"""Call scenarios: a call written as turns in a ``*.call.yaml`` file, played and checked.

A scenario names a menu and lists what the caller does, turn by turn, and what they must
hear after each turn::

    menu: ../../menus/wallet.zh-CN.yaml
    turns:
      - press: "12"
        expect: {state: password_recovery, prompt: 第一步}
      - silence: 6
        expect: {event: no-input}
      - hangup
    expect: {outcome: abandoned, max_duration: 120}

Every call runs on a virtual clock with the prompts timed as the text-only player times
them, so a scenario with three 5-second timeouts takes milliseconds. ``say:`` turns are
spoken by text-to-speech and heard by the real recognizer, never passed through as text;
a scenario with speech whose model cannot be found is *skipped*, with the reason.

**When is a turn checked?** A turn's events run from the moment the caller starts acting
on it (the first key, the start of the silence or of the speech) to the moment the caller
starts acting on the next turn; the first turn's run from the start of the call, the last
turn's to its end. Everything the turn caused is therefore in its window: the prompts it
led to (reported as they *start*), the no-input after a silence, the end of an answer.

Turns: ``press`` keys as in ``ivr call --keys`` (each once the prompts have ended, after
the think time; ``_`` silent until the no-input timer fires; ``!`` one second into the
prompt being said); ``silence: N`` seconds counted from the end of the prompts; ``say``
text rendered by pyttsx3/espeak-ng in the caller's voice (the menu's, or ``voice:``;
``rate:`` per turn) and fed to the real recognizer 20 ms at a time; ``play`` a WAV file;
``hangup`` once the prompts have ended. When the turns run out the caller hangs up as soon
as the hotline waits for them, as a key script does.

Expectations after a turn: ``state`` (one node or a list, entered during the turn in this
order; with no node entered, the node the call stayed in), ``prompt`` (text contained in a
prompt said), ``prompt_matches`` (regular expression searched in a prompt said), ``event``
/ ``not_event`` (event types that must / must not occur), ``decision`` (accept, confirm or
reject of an utterance) and ``recognized`` (the words heard). For the whole call:
``outcome``, ``max_duration`` (call time) and ``state`` (where the call ended).
"""

from __future__ import annotations

import enum
import itertools
import json
import math
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree

import jsonschema
import regex
from jsonschema.exceptions import best_match

from ivr.check import not_a_mapping, schema_message
from ivr.clock import VirtualClock
from ivr.engine import Call, CallFlow
from ivr.events import CallEvent, EventType, Outcome
from ivr.inputs import CallerAction, HangUp
from ivr.limits import (
    KEY_SCRIPT_CHARS,
    PATTERN_CHARS,
    PATTERN_REPEATS,
    PATTERN_SECONDS,
    TIMER_SECONDS,
)
from ivr.menu import Menu
from ivr.menu import load as load_menu
from ivr.outputs import write_replacing
from ivr.player import SilentPlayer
from ivr.problems import MAX_PROBLEMS, MenuInvalid, MenuProblem, excerpt, printable, shorten
from ivr.scripted import ScriptError, ScriptPlan, parse_script
from ivr.session import Session
from ivr.timeline import PlannedCaller, Speech
from ivr.yamlsource import line_of, load_located

LineModel = Callable[["AudioClip"], "AudioClip"]
"""What a phone line does to the caller's audio (see ivr.line.degrade)."""

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from ivr.artifacts import CallAudio
    from ivr.audio import AudioClip
    from ivr.coverage import Coverage
    from ivr.stt import VoskModel
    from ivr.tts import PromptCache
    from ivr.utterances import UtteranceTracker

SUFFIX = ".call.yaml"
THINK_TIME = 0.5
"""Seconds between the end of the prompts and a key or an utterance, as in ``ivr call --keys``."""
BARGE_IN_DELAY = 1.0
"""A barge-in key or utterance comes this long into the prompt being said."""


# --- the scenario file ---------------------------------------------------------------


class TurnKind(enum.StrEnum):
    PRESS = "press"
    SILENCE = "silence"
    SAY = "say"
    PLAY = "play"
    HANGUP = "hangup"


_ACTIONS = tuple(TurnKind)


@dataclass(frozen=True)
class Expectation:
    """What must be heard during one turn; empty fields are not checked."""

    states: tuple[str, ...] = ()
    prompts: tuple[str, ...] = ()
    patterns: tuple[regex.Pattern[str], ...] = ()
    events: tuple[EventType, ...] = ()
    not_events: tuple[EventType, ...] = ()
    decision: str | None = None
    recognized: str | None = None


@dataclass(frozen=True)
class Turn:
    number: int
    """1-based, as in messages."""
    line: int
    kind: TurnKind
    keys: str = ""
    seconds: float = 0.0
    text: str = ""
    audio: Path | None = None
    rate: int | None = None
    barge_in: bool = False
    expect: Expectation = field(default_factory=Expectation)

    @property
    def spoken(self) -> bool:
        return self.kind in (TurnKind.SAY, TurnKind.PLAY)

    def describe(self) -> str:
        """The turn as the scenario file says it: ``press "12"``, ``say "셋"``."""
        if self.kind is TurnKind.PRESS:
            return f'press "{self.keys}"'
        if self.kind is TurnKind.SILENCE:
            return f"silence {self.seconds:g} s"
        barge = "!" if self.barge_in else ""
        if self.kind is TurnKind.SAY:
            return f'say "{barge}{self.text}"'
        if self.kind is TurnKind.PLAY:
            return f"play {barge}{self.audio.name if self.audio else ''}"
        return "hangup"


@dataclass(frozen=True)
class CallExpectation:
    outcome: Outcome | None = None
    max_duration: float | None = None
    state: str | None = None
    states: tuple[str, ...] | None = None
    """Every node entered, in order (a recorded call's path)."""
    line: int = 0


@dataclass(frozen=True)
class Scenario:
    path: Path
    name: str
    menu: Menu
    turns: tuple[Turn, ...]
    expect: CallExpectation = field(default_factory=CallExpectation)
    model: str | None = None
    """As written: a model folder (made absolute) or a package name; None: the defaults."""
    voice_id: str | None = None
    rate: int | None = None
    think_time: float = THINK_TIME
    recording: Path | None = None
    """A whole-call recording of the caller's side, replayed instead of turns."""
    spoken_prompts: bool = False
    """The recording was made with prompts timed by their rendered length."""
    recording_speech: bool = False

    @property
    def spoken(self) -> bool:
        """True if a turn or the recording needs speech recognition (and so a model)."""
        return self.recording_speech or any(turn.spoken for turn in self.turns)


@cache
def scenario_schema() -> dict[str, Any]:
    """The published JSON Schema of scenario files (ivr/schema/scenario.schema.json)."""
    text = resources.files("ivr").joinpath("schema/scenario.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def find_scenarios(paths: Iterable[str | Path]) -> list[Path]:
    """Scenario files: the files given, and every ``*.call.yaml`` below the folders given."""
    found: list[Path] = []
    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            found += sorted(p for p in path.rglob(f"*{SUFFIX}") if p.is_file())
        else:
            found.append(path)
    return list(dict.fromkeys(found))


def load_scenario(path: str | Path) -> Scenario:
    """Read and check a scenario file; raises MenuInvalid with every ``path:line`` problem.

    Beyond the schema: the menu must load, ``state`` names must be nodes of it, regular
    expressions must compile, key scripts must parse and recordings must exist.
    """
    path = Path(path)
    if not path.is_file():
        raise MenuInvalid([MenuProblem(path, 1, "no such scenario file")])
    document, problems = load_located(path)
    problems += _schema_problems(document, path)
    if problems:
        raise MenuInvalid(problems)
    return _Builder(document, path).build()


def _schema_problems(document: Any, path: Path) -> list[MenuProblem]:
    if not isinstance(document, Mapping):
        return [not_a_mapping(document, path)]
    validator = jsonschema.Draft202012Validator(scenario_schema())
    problems = []
    for error in itertools.islice(validator.iter_errors(document), MAX_PROBLEMS + 1):
        error = _specific(error)
        location = list(error.absolute_path)
        where = shorten(_where(location), 80)
        line = line_of(document, location + _unknown_keys(error)[:1])
        problems.append(MenuProblem(path, line, f"{where}: {_say(error, location)}"))
    return sorted(set(problems))


def _specific(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """For "one of these shapes", the error of the shape that came closest."""
    if error.validator == "oneOf" and error.context and not _is_turn(error):
        closest: jsonschema.ValidationError = best_match(error.context)
        return closest
    return error


def _is_turn(error: jsonschema.ValidationError) -> bool:
    path = list(error.absolute_path)
    return len(path) == 2 and path[0] == "turns" and isinstance(error.instance, Mapping)


def _where(location: list[Any]) -> str:
    """``turns/3/expect`` reads as ``turn 3 expect`` (1-based, as in the runner's messages)."""
    if len(location) >= 2 and location[0] == "turns" and isinstance(location[1], int):
        rest = "/".join(str(part) for part in location[2:])
        return f"turn {location[1] + 1}" + (f" {rest}" if rest else "")
    return "/".join(str(part) for part in location) or "top level"


def _unknown_keys(error: jsonschema.ValidationError) -> list[str]:
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = error.schema.get("properties", {}) if isinstance(error.schema, Mapping) else {}
        return sorted(str(key) for key in error.instance if key not in allowed)
    return []


def _say(error: jsonschema.ValidationError, location: list[Any]) -> str:
    """A schema error in words a scenario author understands."""
    actions = ", ".join(_ACTIONS)
    instance: Any = error.instance
    if error.validator == "oneOf" and _is_turn(error):
        given = [str(key) for key in instance if key in _ACTIONS]
        if given:
            return f"a turn has one action, not {len(given)} ({', '.join(given)})"
        return f"a turn needs one action: {actions}"
    if error.validator == "const" and error.validator_value == "hangup":
        return (
            f"{excerpt(error.instance)} is not a turn: write `hangup` or a mapping with {actions}"
        )
    unknown = _unknown_keys(error)
    if unknown:
        allowed = error.schema.get("properties", {}) if isinstance(error.schema, Mapping) else {}
        shown = ", ".join(shorten(name, 40) for name in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        return f"unknown field {shown}{more} (allowed: {', '.join(allowed)})"
    if error.validator == "required":
        return error.message.replace("is a required property", "is required")
    if error.validator == "dependentRequired":
        return "rate is for say turns only"
    if error.validator == "pattern" and location[-1:] == ["press"]:
        shown = excerpt(error.instance)
        return f"{shown}: press takes keys 0-9 * #, '_' (silence) and '!' (barge-in)"
    if error.validator == "enum" and isinstance(error.validator_value, list):
        return (
            f"{excerpt(error.instance)} is not one of {', '.join(map(str, error.validator_value))}"
        )
    return schema_message(error)


class _Builder:
    """A schema-valid document to a Scenario, with the checks a schema cannot make."""

    def __init__(self, document: Mapping[str, Any], path: Path) -> None:
        self.doc = document
        self.path = path
        self.folder = path.resolve().parent
        self.problems: list[MenuProblem] = []

    def problem(self, location: list[Any], message: str) -> None:
        self.problems.append(MenuProblem(self.path, line_of(self.doc, location), message))

    def build(self) -> Scenario:
        self._numbers()
        menu = self._menu()
        turns = tuple(self._turn(i, raw, menu) for i, raw in enumerate(self.doc.get("turns", [])))
        recording = self._recording()
        expect = self._call_expect(menu)
        voice = self.doc.get("voice", {})
        model = self.doc.get("model")
        if model is not None and (self.folder / model).is_dir():
            model = str(self.folder / model)
        if self.problems or menu is None:
            raise MenuInvalid(self.problems)
        return Scenario(
            path=self.path,
            name=self.doc.get("name") or self.path.name.removesuffix(SUFFIX),
            menu=menu,
            turns=turns,
            expect=expect,
            model=model,
            voice_id=voice.get("id"),
            rate=voice.get("rate"),
            think_time=float(self.doc.get("think_time", THINK_TIME)),
            recording=recording,
            spoken_prompts=self.doc.get("prompts") == "spoken",
            recording_speech=bool(self.doc.get("speech", False)),
        )

    def _numbers(self) -> None:
        """Every number finite; silences, think time and durations within TIMER_SECONDS."""
        stack: list[tuple[list[Any], Any]] = [([], self.doc)]
        while stack:
            location, value = stack.pop()
            if isinstance(value, Mapping):
                stack += [([*location, key], item) for key, item in value.items()]
            elif isinstance(value, list):
                stack += [([*location, index], item) for index, item in enumerate(value)]
            elif isinstance(value, float) and not math.isfinite(value):
                self.problem(location, f"{_where(location)}: {value} is not a finite number")
            elif (
                isinstance(value, int | float)
                and location[-1:] in (["silence"], ["think_time"], ["max_duration"])
                and value > TIMER_SECONDS
            ):
                self.problem(
                    location,
                    f"{_where(location)}: {value:g} s is longer than {TIMER_SECONDS:g} s "
                    "(limit TIMER_SECONDS)",
                )

    def _recording(self) -> Path | None:
        if "recording" not in self.doc:
            return None
        target: Path = self.folder / str(self.doc["recording"])
        if not target.is_file():
            self.problem(["recording"], f"recording {self.doc['recording']!r} not found")
        return target

    def _menu(self) -> Menu | None:
        target = self.folder / self.doc["menu"]
        if not target.is_file():
            self.problem(["menu"], f"menu file {self.doc['menu']!r} not found (looked in {target})")
            return None
        try:
            return _load_menu(target.resolve())
        except MenuInvalid as invalid:
            count = len(invalid.problems)
            self.problem(["menu"], f"menu {self.doc['menu']!r} is not valid ({count} problem(s))")
            self.problems += invalid.problems
            return None

    def _turn(self, index: int, raw: Any, menu: Menu | None) -> Turn:
        where: list[Any] = ["turns", index]
        line = line_of(self.doc, where)
        if raw == "hangup":
            return Turn(index + 1, line, TurnKind.HANGUP)
        kind = next(TurnKind(key) for key in _ACTIONS if key in raw)
        expect = self._expect(raw.get("expect", {}), [*where, "expect"], menu)
        value = raw[kind.value]
        barge_in = bool(raw.get("barge_in", False))
        common: dict[str, Any] = {"number": index + 1, "line": line, "kind": kind}
        if "barge_in" in raw and kind not in (TurnKind.SAY, TurnKind.PLAY):
            self.problem([*where, "barge_in"], "barge_in is for say and play turns; press '!KEY'")
        if kind is TurnKind.PRESS:
            self._script([*where, "press"], value)
            return Turn(**common, keys=value, expect=expect)
        if kind is TurnKind.SILENCE:
            return Turn(**common, seconds=float(value), expect=expect)
        if kind is TurnKind.SAY:
            return Turn(
                **common, text=value, rate=raw.get("rate"), barge_in=barge_in, expect=expect
            )
        if kind is TurnKind.PLAY:
            barge_in = barge_in or value.startswith("!")
            audio = self.folder / value.removeprefix("!")
            if not audio.is_file():
                self.problem([*where, "play"], f"recording {value!r} not found (looked in {audio})")
            return Turn(**common, audio=audio, barge_in=barge_in, expect=expect)
        return Turn(**common, expect=expect)

    def _script(self, where: list[Any], script: str) -> None:
        if len(script) > KEY_SCRIPT_CHARS:
            limit = f"at most {KEY_SCRIPT_CHARS} (limit KEY_SCRIPT_CHARS)"
            self.problem(where, f"a key script of {len(script)} characters; {limit}")
            return
        try:
            if not parse_script(script):
                self.problem(where, "press has no key: write keys 0-9 * #, or '_' for silence")
        except ScriptError as error:
            self.problem(where, str(error))

    def _expect(self, raw: Mapping[str, Any], where: list[Any], menu: Menu | None) -> Expectation:
        states = _texts(raw.get("state"))
        if menu is not None:
            for state in states:
                if state not in menu.nodes:
                    self.problem([*where, "state"], _unknown_node(state, menu))
        patterns = []
        for pattern in _texts(raw.get("prompt_matches")):
            try:
                patterns.append(compile_pattern(pattern))
            except (re.error, regex.error, ValueError) as error:
                self.problem(
                    [*where, "prompt_matches"],
                    f"bad regular expression {excerpt(pattern)}: {shorten(str(error), 120)}",
                )
        return Expectation(
            states=states,
            prompts=_texts(raw.get("prompt")),
            patterns=tuple(patterns),
            events=tuple(EventType(e) for e in _texts(raw.get("event"))),
            not_events=tuple(EventType(e) for e in _texts(raw.get("not_event"))),
            decision=raw.get("decision"),
            recognized=raw.get("recognized"),
        )

    def _call_expect(self, menu: Menu | None) -> CallExpectation:
        raw = self.doc.get("expect", {})
        state = raw.get("state")
        if state is not None and menu is not None and state not in menu.nodes:
            self.problem(["expect", "state"], _unknown_node(state, menu))
        outcome = raw.get("outcome")
        duration = raw.get("max_duration")
        states = raw.get("states")
        for index, node in enumerate(states or []):
            if menu is not None and node not in menu.nodes:
                self.problem(["expect", "states", index], _unknown_node(node, menu))
        return CallExpectation(
            outcome=Outcome(outcome) if outcome else None,
            max_duration=float(duration) if duration is not None else None,
            state=state,
            states=tuple(states) if states is not None else None,
            line=line_of(self.doc, ["expect"]) if raw else 0,
        )


_COUNTED_REPEAT = re.compile(r"\{([0-9]+)(?:,([0-9]*))?\}")


def compile_pattern(pattern: str) -> regex.Pattern[str]:
    """A scenario's regular expression, compiled for searches with a time bound.

    The dialect is Python's ``re``, checked first; the ``regex`` package runs the searches
    because its searches take a timeout. Its compiler unrolls counted repeats, so their
    product is bounded (``(a{99}){99}`` counts as 9801), as is the pattern's length.
    """
    if len(pattern) > PATTERN_CHARS:
        raise ValueError(
            f"{len(pattern)} characters; at most {PATTERN_CHARS} (limit PATTERN_CHARS)"
        )
    re.compile(pattern)
    product = 1
    for low, high in _COUNTED_REPEAT.findall(pattern):
        product *= max(int(low), int(high or 0), 1)
        if product > PATTERN_REPEATS:
            raise ValueError(
                f"counted repeats ({{m,n}}) multiply to more than {PATTERN_REPEATS} "
                "(limit PATTERN_REPEATS)"
            )
    return regex.compile(pattern)


def _texts(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _unknown_node(state: str, menu: Menu) -> str:
    import difflib

    close = difflib.get_close_matches(state, list(menu.nodes), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{state!r} is not a node of {menu.path.name}{hint}"


_menus: dict[tuple[Path, int, int], Menu] = {}


def _load_menu(path: Path) -> Menu:
    """Menus are loaded once per run of many scenarios (keyed by path, size and mtime)."""
    stat = path.stat()
    key = (path, stat.st_size, stat.st_mtime_ns)
    if key not in _menus:
        _menus[key] = load_menu(path)
    return _menus[key]


# --- results ---------------------------------------------------------------------------


class Status(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    """Needs speech that cannot be had here (no model for the language, no TTS)."""
    ERROR = "error"
    """The scenario file is invalid, or the run itself broke."""


@dataclass(frozen=True)
class Failure:
    """One expectation that did not hold: which turn, what was expected, what was heard."""

    turn: int | None
    """1-based turn number; None for the whole-call expectations."""
    action: str
    line: int
    expected: str
    heard: str

    @property
    def where(self) -> str:
        return f"turn {self.turn} ({self.action})" if self.turn is not None else "the call"

    def __str__(self) -> str:
        return f"{self.where}: expected {self.expected}; heard {self.heard}"


@dataclass
class ScenarioResult:
    name: str
    path: Path
    status: Status
    failures: list[Failure] = field(default_factory=list)
    duration: float = 0.0
    """Call time in seconds (virtual)."""
    wall: float = 0.0
    """Seconds it took to run here, speech rendering and model loading included."""
    events: list[tuple[float, CallEvent]] = field(default_factory=list)
    outcome: Outcome | None = None
    reason: str = ""
    """Why it was skipped, or the error."""
    problems: list[MenuProblem] = field(default_factory=list)
    menu_path: Path | None = None
    turns: int = 0

    @property
    def passed(self) -> bool:
        return self.status is Status.PASSED

    @property
    def records(self) -> list[dict[str, object]]:
        """The call log (``ivr call --log``) of this call: one dict per event."""
        return [{"t": round(moment, 3), **event.to_record()} for moment, event in self.events]

    def failure_lines(self) -> list[str]:
        """``path:line: turn N (action): expected …; heard …`` for each failure or problem."""
        if self.problems:
            return [str(problem) for problem in self.problems]
        path = printable(str(self.path))
        if self.status is Status.ERROR:
            return [f"{path}:1: {printable(self.reason)}"]
        return [f"{path}:{f.line}: {printable(str(f))}" for f in self.failures]

    def explain(self) -> str:
        """A readable report of a failed scenario: each failure, expected and heard."""
        name, path = printable(self.name), printable(str(self.path))
        if self.problems or self.status is Status.ERROR:
            head = f"{name} ({path}): {printable(self.reason)}"
            return "\n".join([head, *self.failure_lines()])
        count = len(self.failures)
        first = printable(str(self.failures[0])) if count else ""
        lines = [f"{count} expectation(s) not met; first: {first}" if count else ""]
        lines.append(f"{name} ({path})")
        for failure in self.failures:
            lines.append(f"{path}:{failure.line}: {printable(failure.where)}")
            lines.append(f"    expected: {printable(failure.expected)}")
            lines.append(f"    heard:    {printable(failure.heard)}")
        return "\n".join(lines)


# --- the caller ------------------------------------------------------------------------


class ScenarioPlan:
    """A scenario's turns as a caller's plan, in order.

    Keys are a key script's (`ScriptPlan`: think time, ``_``, ``!``); a silence lasts its
    seconds, then the next turn goes on at once; speech is a clip said after the think
    time (or one second into the prompt), and if nothing at all is heard the next turn goes
    on at once. ``starts`` records, for each turn begun, the number of events reported
    before it and the call time: the turns' event windows.
    """

    def __init__(
        self,
        scenario: Scenario,
        events: list[tuple[float, CallEvent]],
        clips: Mapping[int, AudioClip],
    ) -> None:
        self.scenario = scenario
        self.events = events
        self.clips = clips
        self.starts: list[tuple[int, float]] = []
        self._index = 0
        self._started = False
        self._keys = ScriptPlan("")
        self._silence_until = 0.0

    def next_input(
        self, now: float, until: float, listening: bool
    ) -> tuple[float, CallerAction | Speech] | None:
        turns, think = self.scenario.turns, self.scenario.think_time
        while self._index < len(turns):
            turn = turns[self._index]
            if turn.spoken:
                from ivr.recorded import speech_of, speech_start  # numpy: only for speech

                start = speech_start(now, until, listening, turn.barge_in, think, BARGE_IN_DELAY)
                if start is None:
                    return None
                self._begin(turn, now)
                self._next_turn()
                return start, speech_of(self.clips[turn.number], waits_if_unheard=False)
            if not self._started:
                barges_in = turn.kind is TurnKind.PRESS and parse_script(turn.keys)[0].barge_in
                if not (listening or barges_in):
                    return None
                self._begin(turn, now)
            if turn.kind is TurnKind.PRESS:
                planned = self._keys.next_input(now, until, listening)
                if not self._keys.actions:
                    self._next_turn()
                return planned
            if turn.kind is TurnKind.SILENCE:
                if self._silence_until > until:
                    return None
                self._next_turn()
                now = max(now, self._silence_until)
                if now >= until - 1e-9:
                    return None
                continue
            self._next_turn()
            return now, HangUp()
        return (now, HangUp()) if listening else None  # no turn left: hang up

    def _begin(self, turn: Turn, now: float) -> None:
        self._started = True
        self.starts.append((len(self.events), now))
        if turn.kind is TurnKind.PRESS:
            self._keys = ScriptPlan(turn.keys, self.scenario.think_time, BARGE_IN_DELAY)
        elif turn.kind is TurnKind.SILENCE:
            self._silence_until = now + turn.seconds

    def _next_turn(self) -> None:
        self._index += 1
        self._started = False


class ScenarioCaller(PlannedCaller):
    """The caller of a scenario (a `ScenarioPlan`) as a session's caller, on a virtual clock."""

    def __init__(
        self,
        scenario: Scenario,
        clock: VirtualClock,
        events: list[tuple[float, CallEvent]],
        *,
        clips: Mapping[int, AudioClip] | None = None,
        tracker: UtteranceTracker | None = None,
    ) -> None:
        self.turns = ScenarioPlan(scenario, events, dict(clips or {}))
        super().__init__(self.turns, clock, tracker)

    @property
    def starts(self) -> list[tuple[int, float]]:
        """For each turn begun, the number of events reported before it and its call time."""
        return self.turns.starts


# --- running ---------------------------------------------------------------------------


class _Skip(Exception):
    """Speech this machine cannot provide; the scenario is skipped, not failed."""


_vosk_models: dict[Path, VoskModel] = {}
_caches: dict[tuple[str, int, Path | None], PromptCache] = {}


def run_scenario(
    scenario: Scenario | str | Path,
    *,
    speech_cache: Path | None = None,
    raise_errors: bool = False,
    line: LineModel | None = None,
    artifacts: Path | None = None,
) -> ScenarioResult:
    """Play one scenario and check it. Never raises for a bad file: see ``status``.

    ``speech_cache``: where ``say:`` audio is rendered (default: the prompt cache,
    ``~/.cache/ivr/prompts``; entries are keyed by engine, voice, rate and text).
    ``raise_errors``: let an unexpected exception in the run propagate (with its
    traceback) instead of reporting it as the scenario's error.
    ``line``: what the phone line does to the caller's audio (ivr.line.degrade).
    ``artifacts``: a folder for the call's log, transcript and stereo WAV.
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
        _play(scenario, result, speech_cache, line, artifacts)
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
    from ivr.audio import AudioFileError

    return isinstance(error, AudioFileError)


def one_line(error: Exception) -> str:
    """An exception as one short printable line; an input error's own words suffice."""
    text = str(error) if _bad_input(error) else f"{type(error).__name__}: {error}"
    return shorten(text, 300)


def run_scenarios(
    paths: Iterable[str | Path | Scenario],
    progress: Callable[[int, int, ScenarioResult], None] | None = None,
    *,
    speech_cache: Path | None = None,
    line: LineModel | None = None,
    artifacts: Path | None = None,
) -> list[ScenarioResult]:
    """Run scenarios (files, folders searched for ``*.call.yaml``, or loaded ones) in order.

    ``progress(done, total, result)`` is called after each one. ``artifacts``: a folder
    with one subfolder per scenario (see run_scenario).
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
        result = run_scenario(item, speech_cache=speech_cache, line=line, artifacts=folder)
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
) -> None:
    tracker, clips = _speech(scenario, speech_cache, line) if scenario.spoken else (None, {})
    clock = VirtualClock()
    events = result.events

    def record(event: CallEvent, moment: float) -> None:
        events.append((moment, event))

    with ExitStack() as stack:
        listeners: list[Callable[[CallEvent, float], None]] = [record]
        call_audio = _artifacts(scenario, artifacts, listeners, stack) if artifacts else None
        if scenario.recording is not None:
            call = _replay(scenario, clock, tracker, listeners, line, call_audio)
            starts: list[tuple[int, float]] = []
        else:
            caller = ScenarioCaller(scenario, clock, events, clips=clips, tracker=tracker)
            if call_audio is not None:
                caller.audio_sink = call_audio.caller_audio
            flow = CallFlow(scenario.menu)
            call = Session(flow, caller, SilentPlayer(), clock, listeners).run()
            starts = caller.starts
        if call_audio is not None and artifacts is not None:
            call_audio.write(artifacts / "call.wav")
    result.outcome = call.outcome
    result.duration = events[-1][0] if events else clock.now()
    result.failures = check(scenario, events, starts)
    result.status = Status.FAILED if result.failures else Status.PASSED


def _artifacts(
    scenario: Scenario,
    folder: Path,
    listeners: list[Callable[[CallEvent, float], None]],
    stack: ExitStack,
) -> CallAudio:
    """The call's log, transcript and stereo WAV, into ``folder``."""
    from ivr.artifacts import CallAudio, Transcript
    from ivr.calllog import CallLog
    from ivr.player import RenderingPlayer

    menu = scenario.menu
    call_log = CallLog(folder / "call.jsonl")
    transcript = Transcript(folder / "transcript.txt")
    stack.callback(call_log.close)
    stack.callback(transcript.close)
    prompts = RenderingPlayer(_speech_cache(menu.voice.id, menu.voice.rate, None))
    call_audio = CallAudio(prompts.clip, keys_as_tones=scenario.recording is None)
    listeners += [call_log, transcript, call_audio]
    return call_audio


def _replay(
    scenario: Scenario,
    clock: VirtualClock,
    tracker: UtteranceTracker | None,
    listeners: list[Callable[[CallEvent, float], None]],
    line: LineModel | None,
    call_audio: CallAudio | None,
) -> Call:
    """A recorded call, on the recording's clock, with prompts timed as when it was made."""
    from ivr.audio import open_wav
    from ivr.linecall import LineCaller
    from ivr.player import PromptPlayer, RenderingPlayer

    assert scenario.recording is not None
    recording = open_wav(scenario.recording)  # read in blocks, through the line if any
    caller = LineCaller(recording, clock, tracker, line)
    if call_audio is not None:
        caller.audio_sink = call_audio.caller_audio
    menu = scenario.menu
    player: PromptPlayer = SilentPlayer()
    if scenario.spoken_prompts:
        player = RenderingPlayer(_speech_cache(menu.voice.id, menu.voice.rate, None))
    call = Session(CallFlow(menu), caller, player, clock, listeners).run()
    if caller.read_error is not None:  # the caller hung up there; the scenario is in error
        raise caller.read_error
    return call


def _speech(
    scenario: Scenario, speech_cache: Path | None, line: LineModel | None = None
) -> tuple[UtteranceTracker, dict[int, AudioClip]]:
    """The recognizer and the caller's audio for a scenario with speech; _Skip if impossible."""
    from ivr.audio import read_wav, to_rate
    from ivr.models import ModelNotFound, find_model
    from ivr.recorded import RATE
    from ivr.stt import VoskModel, VoskRecognizer
    from ivr.utterances import UtteranceTracker

    menu = scenario.menu
    try:
        where = find_model(scenario.model, menu.language, menu.speech.model)
    except ModelNotFound as error:
        raise _Skip(f"speech needs a {menu.language} model: {error}") from None
    where = where.resolve()
    if where not in _vosk_models:
        _vosk_models[where] = VoskModel(where)
    clips: dict[int, AudioClip] = {}
    for turn in scenario.turns:
        if turn.kind is TurnKind.PLAY and turn.audio is not None:
            clips[turn.number] = read_wav(turn.audio)
        elif turn.kind is TurnKind.SAY:
            voice = scenario.voice_id or menu.voice.id
            rate = turn.rate or scenario.rate or menu.voice.rate
            clips[turn.number] = read_wav(_speech_cache(voice, rate, speech_cache).get(turn.text))
    for number, clip in clips.items():
        clips[number] = to_rate(line(clip) if line else clip, RATE)
    return UtteranceTracker(VoskRecognizer(_vosk_models[where])), clips


def _speech_cache(voice: str, rate: int, directory: Path | None) -> PromptCache:
    from ivr.tts import PromptCache, Pyttsx3Synthesizer, TTSUnavailable

    key = (voice, rate, directory)
    if key not in _caches:
        try:
            synthesizer = Pyttsx3Synthesizer(voice=voice, rate=rate)
        except TTSUnavailable as error:
            raise _Skip(f"say turns need text-to-speech: {error}") from None
        _caches[key] = PromptCache(synthesizer, directory)
    return _caches[key]


# --- checking --------------------------------------------------------------------------


def check(
    scenario: Scenario,
    events: Sequence[tuple[float, CallEvent]],
    starts: Sequence[tuple[int, float]],
) -> list[Failure]:
    """Every expectation of the scenario that the call's events do not meet.

    ``starts``: for each turn begun, the index of its first event and its call time (see
    ``ScenarioCaller``). The first turn's window starts with the call.
    """
    failures: list[Failure] = []
    bounds = [0] + [index for index, _ in starts[1:]] + [len(events)]
    state = scenario.menu.start
    budget = _Budget(PATTERN_SECONDS)
    for position, turn in enumerate(scenario.turns):
        if position >= len(starts):
            failures.append(_not_reached(turn, events))
            continue
        window = [event for _, event in events[bounds[position] : bounds[position + 1]]]
        failures += _check_turn(turn, window, state, budget)
        state = window[-1].state if window else state
    failures += _check_call(scenario, events)
    return failures


def _not_reached(turn: Turn, events: Sequence[tuple[float, CallEvent]]) -> Failure:
    ended = [(t, e) for t, e in events if e.type is EventType.CALL_END]
    if ended:
        moment, end = ended[-1]
        heard = f"nothing: the call had ended ({end.outcome} at {moment:.1f} s in {end.state})"
    else:
        heard = "nothing: the hotline never waited for this turn"
    return Failure(turn.number, turn.describe(), turn.line, "the turn to be played", heard)


class _Budget:
    """The time left for a scenario's regular expressions (PATTERN_SECONDS in all)."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def search(self, pattern: regex.Pattern[str], texts: Sequence[str]) -> bool | None:
        """Whether the pattern is found in one of the texts; None when time ran out."""
        for text in texts:
            left = self.deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                if pattern.search(text, timeout=left) is not None:
                    return True
            except TimeoutError:
                self.deadline = 0.0
                return None
        return False


def _check_turn(
    turn: Turn, window: list[CallEvent], before: str, budget: _Budget | None = None
) -> list[Failure]:
    failures: list[Failure] = []
    expect = turn.expect

    def fail(expected: str, heard: str) -> None:
        failures.append(Failure(turn.number, turn.describe(), turn.line, expected, heard))

    entered = [e.state for e in window if e.type is EventType.STATE]
    if expect.states and not _in_order(expect.states, entered):
        where = window[-1].state if window else before
        heard = f"entered {' → '.join(entered)}" if entered else f"stayed in {where}"
        wanted = " → ".join(expect.states)
        fail(f"state {wanted}" if len(expect.states) == 1 else f"states {wanted}", heard)
    prompts = [e.text or "" for e in window if e.type is EventType.PROMPT]
    for text in expect.prompts:
        if not any(text in prompt for prompt in prompts):
            fail(f"a prompt containing 「{text}」", _prompts_heard(prompts))
    budget = budget or _Budget(PATTERN_SECONDS)
    for pattern in expect.patterns:
        searched = budget.search(pattern, prompts)
        if searched is None:
            fail(
                f"a prompt matching /{pattern.pattern}/",
                f"no answer in time: the scenario's regular expressions may search for "
                f"{PATTERN_SECONDS:g} s in all (limit PATTERN_SECONDS)",
            )
        elif not searched:
            fail(f"a prompt matching /{pattern.pattern}/", _prompts_heard(prompts))
    kinds = [e.type for e in window]
    for kind in expect.events:
        if kind not in kinds:
            fail(f"a {kind} event", _events_heard(window))
    for kind in expect.not_events:
        found = [e for e in window if e.type is kind]
        if found:
            fail(f"no {kind} event", "; ".join(_describe_event(e) for e in found[:3]))
    utterances = [e for e in window if e.type is EventType.UTTERANCE]
    said = "; ".join(_describe_event(e) for e in utterances) or "no utterance recognized"
    if expect.decision is not None and expect.decision not in {e.decision for e in utterances}:
        fail(f"an utterance judged {expect.decision}", said)
    if expect.recognized is not None:
        wanted = " ".join(expect.recognized.split())
        if wanted not in {e.text for e in utterances}:
            fail(f"the words 「{wanted}」 recognized", said)
    return failures


def _check_call(scenario: Scenario, events: Sequence[tuple[float, CallEvent]]) -> list[Failure]:
    expect = scenario.expect
    failures: list[Failure] = []
    ends = [(t, e) for t, e in events if e.type is EventType.CALL_END]
    moment, end = ends[-1] if ends else (events[-1][0] if events else 0.0, None)
    summary = f"{end.outcome} at {moment:.1f} s in {end.state}" if end else "no end of call"

    def fail(expected: str, heard: str) -> None:
        failures.append(Failure(None, "call", expect.line, expected, heard))

    if expect.outcome is not None and (end is None or end.outcome is not expect.outcome):
        fail(f"outcome {expect.outcome}", summary)
    if expect.max_duration is not None and moment > expect.max_duration + 1e-9:
        fail(f"a call of at most {expect.max_duration:g} s", f"{moment:.1f} s ({summary})")
    if expect.state is not None and (end is None or end.state != expect.state):
        fail(f"the call to end in {expect.state}", summary)
    entered = [e.state for _, e in events if e.type is EventType.STATE]
    if expect.states is not None and list(expect.states) != entered:
        fail(f"the path {' → '.join(expect.states)}", " → ".join(entered) or "no node entered")
    return failures


def _in_order(wanted: Sequence[str], seen: Sequence[str]) -> bool:
    """True if ``wanted`` occurs in ``seen`` in this order (not necessarily adjacent)."""
    remaining = iter(seen)
    return all(any(state == item for item in remaining) for state in wanted)


def _short(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _prompts_heard(prompts: list[str]) -> str:
    if not prompts:
        return "no prompt"
    shown = ", ".join(f"「{_short(p)}」" for p in prompts[:6])
    more = f" and {len(prompts) - 6} more" if len(prompts) > 6 else ""
    return f"prompts {shown}{more}"


def _events_heard(window: list[CallEvent]) -> str:
    if not window:
        return "no event"
    counts = Counter(e.type for e in window)
    order = list(dict.fromkeys(e.type for e in window))
    return "events " + ", ".join(
        f"{kind}×{counts[kind]}" if counts[kind] > 1 else str(kind) for kind in order
    )


def _describe_event(event: CallEvent) -> str:
    if event.type is EventType.UTTERANCE:
        return (
            f"「{event.text}」 (confidence {event.confidence}) → {event.decision} in {event.state}"
        )
    detail = [f"{name} {value}" for name, value in event.to_record().items() if name in (
        "key", "count", "reason", "outcome")]  # fmt: skip
    return f"{event.type} in {event.state}" + (f" ({', '.join(detail)})" if detail else "")


# --- reports ---------------------------------------------------------------------------


def summary_line(results: Sequence[ScenarioResult]) -> str:
    """``12 passed, 1 failed, 2 skipped in 0.31 s (call time 1,234 s)``."""
    counts = Counter(result.status for result in results)
    parts = [f"{counts[Status.PASSED]} passed", f"{counts[Status.FAILED]} failed"]
    if counts[Status.SKIPPED]:
        parts.append(f"{counts[Status.SKIPPED]} skipped")
    if counts[Status.ERROR]:
        parts.append(f"{counts[Status.ERROR]} errors")
    wall = sum(result.wall for result in results)
    call = sum(result.duration for result in results)
    return f"{', '.join(parts)} in {wall:.2f} s (call time {call:,.0f} s)"


_MARKS = {
    Status.PASSED: "[green]✓ passed[/]",
    Status.FAILED: "[red]✗ failed[/]",
    Status.SKIPPED: "[yellow]– skipped[/]",
    Status.ERROR: "[red]! error[/]",
}


def results_table(results: Sequence[ScenarioResult], *, title: str = "Call scenarios") -> Table:
    """A rich table: one row per scenario, with the first failure or the skip reason."""
    from rich.markup import escape
    from rich.table import Table

    notes = [_note(result) for result in results]
    table = Table(title=title, title_justify="left")
    table.add_column("", no_wrap=True)
    table.add_column("scenario", ratio=2, overflow="fold")
    table.add_column("turns", justify="right")
    table.add_column("outcome")
    table.add_column("call", justify="right", no_wrap=True)
    table.add_column("wall", justify="right", no_wrap=True)
    if any(notes):
        table.add_column("note", ratio=3, overflow="fold")
    for result, note in zip(results, notes, strict=True):
        cells = [
            _MARKS[result.status],
            f"{escape(printable(result.name))}\n[dim]{escape(printable(result.path.name))}[/]",
            str(result.turns),
            str(result.outcome or ""),
            f"{result.duration:.1f} s",
            f"{result.wall * 1000:.0f} ms",
        ]
        table.add_row(*cells, *([escape(printable(note))] if any(notes) else []))
    return table


def _note(result: ScenarioResult) -> str:
    if result.status is Status.SKIPPED:
        return printable(result.reason)
    if result.failures:
        extra = len(result.failures) - 1
        return printable(str(result.failures[0])) + (f" (+{extra} more)" if extra else "")
    if result.status is Status.ERROR:
        return "; ".join(result.failure_lines()[:2])
    return ""


def write_junit(results: Sequence[ScenarioResult], path: str | Path) -> None:
    """JUnit XML for CI tools: one testcase per scenario; failure, error or skipped in it."""
    counts = Counter(result.status for result in results)
    total_wall = sum(result.wall for result in results)
    suites = ElementTree.Element(
        "testsuites",
        name="ivr call scenarios",
        tests=str(len(results)),
        failures=str(counts[Status.FAILED]),
        errors=str(counts[Status.ERROR]),
        skipped=str(counts[Status.SKIPPED]),
        time=f"{total_wall:.3f}",
    )
    suite = ElementTree.SubElement(
        suites,
        "testsuite",
        name="ivr.scenarios",
        tests=str(len(results)),
        failures=str(counts[Status.FAILED]),
        errors=str(counts[Status.ERROR]),
        skipped=str(counts[Status.SKIPPED]),
        time=f"{total_wall:.3f}",
    )
    for result in results:
        case = ElementTree.SubElement(
            suite,
            "testcase",
            classname=_classname(result.path),
            name=result.name,
            file=str(result.path),
            time=f"{result.wall:.3f}",
        )
        if result.status is Status.FAILED:
            first = result.failures[0]
            failure = ElementTree.SubElement(
                case, "failure", message=str(first), type="ScenarioFailure"
            )
            failure.text = result.explain()
        elif result.status is Status.ERROR:
            error = ElementTree.SubElement(
                case, "error", message=result.reason or "error", type="ScenarioError"
            )
            error.text = "\n".join(result.failure_lines())
        elif result.status is Status.SKIPPED:
            ElementTree.SubElement(case, "skipped", message=result.reason)
        if result.events:
            out = ElementTree.SubElement(case, "system-out")
            out.text = f"call time {result.duration:.1f} s, outcome {result.outcome}\n" + "\n".join(
                json.dumps(record, ensure_ascii=False) for record in result.records
            )
    for element in suites.iter():  # names, messages and calls may hold anything
        element.attrib = {key: xml_text(value) for key, value in element.attrib.items()}
        element.text = xml_text(element.text) if element.text else element.text
    tree = ElementTree.ElementTree(suites)
    ElementTree.indent(tree)
    write_replacing(  # whole or not at all: CI parses it
        Path(path), lambda target: tree.write(str(target), encoding="utf-8", xml_declaration=True)
    )


_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""Characters XML 1.0 forbids (most controls, lone surrogates, U+FFFE/U+FFFF)."""


def xml_text(text: str) -> str:
    """``text`` with each character XML 1.0 forbids written as its escape (\\x1b), so
    the JUnit file always parses; ElementTree escapes only & < > and quotes."""
    return _NOT_XML.sub(lambda found: found[0].encode("unicode_escape").decode("ascii"), text)


def _classname(path: Path) -> str:
    """``tests/calls/wallet/x.call.yaml`` -> ``tests.calls.wallet`` (CI tools group by it)."""
    try:
        relative = path.resolve().relative_to(Path.cwd())
    except ValueError:
        relative = path
    parts = relative.parent.parts
    return ".".join(part for part in parts if part not in ("/", "..", ".")) or "scenarios"


def run_cli(
    paths: Sequence[str | Path],
    *,
    junit: Path | None = None,
    coverage: Path | None = None,
    out: Console,
    err: Console,
    line: LineModel | None = None,
    artifacts: Path | None = None,
) -> int:
    """What ``ivr test`` does: run, show a progress bar and the table, write reports.

    Returns the exit status: 0 if nothing failed (skips are fine), 1 otherwise.
    """
    from rich.markup import escape
    from rich.progress import Progress

    files = find_scenarios(paths)
    if not files:
        where = ", ".join(str(p) for p in paths)
        err.print(f"ivr test: no {SUFFIX} files in {where}", markup=False)
        return 1
    with Progress(console=out, transient=True) as bar:
        task = bar.add_task("calls", total=len(files))

        def advance(done: int, total: int, result: ScenarioResult) -> None:
            bar.update(task, completed=done, description=escape(printable(result.name)))

        results = run_scenarios(files, advance, line=line, artifacts=artifacts)
    out.print(results_table(results))
    for result in results:
        if result.status in (Status.FAILED, Status.ERROR):
            for failure in result.failure_lines():
                err.print(failure, markup=False, highlight=False)
    if junit is not None:
        write_junit(results, junit)
        out.print(f"JUnit XML: {junit}", markup=False)
    if coverage is not None:
        from ivr.coverage import coverage_by_menu, write_coverage

        covered: list[Coverage] = list(coverage_by_menu(results).values())
        for report in covered:
            out.print(report.table())
        for written in write_coverage(covered, coverage):
            out.print(f"coverage diagram: {written}", markup=False)
    out.print(summary_line(results), markup=False, highlight=False)
    failed = any(result.status in (Status.FAILED, Status.ERROR) for result in results)
    return 1 if failed else 0
