"""The scenario model: a scenario's turns and expectations, and the result of running it.

Plain data: every other module of the package (and coverage) reads it; it imports none of them.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import regex

from ivr.engine.events import CallEvent, EventType, Outcome
from ivr.menu.model import MASK, Menu
from ivr.menu.problems import MenuProblem, printable

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

    def describe(self, masked: bool = False) -> str:
        """The turn as the scenario file says it: ``press "12"``, ``say "셋"``; ``masked``
        (it keyed or said a sensitive entry, a PIN): ``press "******"``."""
        if self.kind is TurnKind.PRESS:
            return f'press "{MASK if masked else self.keys}"'
        if self.kind is TurnKind.SILENCE:
            return f"silence {self.seconds:g} s"
        barge = "!" if self.barge_in else ""
        if self.kind is TurnKind.SAY:
            return f'say "{barge}{MASK if masked else self.text}"'
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
    caller_id: str | None = None
    """The calling number: the call variable ``caller_id``."""
    time: dt.datetime = dt.datetime(2026, 3, 16, 10, 0)
    """When the call is made (local time of the menu's contact centre): business hours and
    the simulated queue of a menu with a contact centre depend on it (seeded: repeatable)."""
    backoffice: Mapping[str, Any] | None = None
    """What the in-memory back office holds (``ivr.drivers.memory.from_data``): the file's
    ``backoffice`` (``demo``: ``{}``, ``down``: ``{"down": True}``); None: none given (the
    demo data, if the menu has action nodes)."""

    @property
    def spoken(self) -> bool:
        """True if a turn or the recording needs speech recognition (and so a model)."""
        return self.recording_speech or any(turn.spoken for turn in self.turns)


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
