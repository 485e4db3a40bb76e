"""The caller of a scenario: its turns (keys, speech, silence, audio) as a caller's plan.

A scenario's keys follow the key-script plan and its clips go through the one clip-feeding
loop of `PlannedCaller` (ivr.callers.plan), so a scenario times its turns exactly as
``ivr call --keys`` and ``ivr call --audio`` do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ivr.callers.plan import PlannedCaller, Speech
from ivr.callers.scripted import ScriptPlan, parse_script
from ivr.clock import VirtualClock
from ivr.engine.events import CallEvent
from ivr.engine.inputs import CallerAction, HangUp
from ivr.scenarios.model import BARGE_IN_DELAY, Scenario, Turn, TurnKind

if TYPE_CHECKING:
    from ivr.audio.wav import AudioClip
    from ivr.hearing.tracker import UtteranceTracker


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
                from ivr.callers.clips import speech_of, speech_start  # numpy: only for speech

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
