"""The caller of a scenario: plays its turns (keys, speech, silence, audio) on a virtual clock.

Kept in its own module, moved verbatim from the scenario runner, so that the caller can be
replaced whole (see docs/design.md).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from ivr.callers.scripted import ScriptedAction, parse_script
from ivr.clock import VirtualClock
from ivr.engine.events import CallEvent
from ivr.engine.inputs import CallerAction, HangUp, KeyPress, SpeechStarted, Utterance
from ivr.scenarios.model import BARGE_IN_DELAY, Scenario, Turn, TurnKind

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from ivr.audio.wav import AudioClip
    from ivr.hearing.tracker import UtteranceTracker


class ScenarioCaller:
    """The caller of a scenario: executes its turns in order on a virtual clock.

    Implements the session's Caller protocol. Keys follow ``ivr.callers.scripted`` (think time,
    ``_``, ``!``); speech is fed to the recognizer 20 ms at a time while the clock moves
    with the audio, as ``ivr.callers.clips`` does. ``starts`` records, for each turn begun, the
    number of events reported before it and the call time: the turns' event windows.
    """

    def __init__(
        self,
        scenario: Scenario,
        clock: VirtualClock,
        events: list[tuple[float, CallEvent]],
        *,
        clips: Mapping[int, AudioClip] | None = None,
        tracker: UtteranceTracker | None = None,
    ) -> None:
        self.scenario = scenario
        self.clock = clock
        self.events = events
        self.clips = dict(clips or {})
        self.tracker = tracker
        self.audio_sink: Callable[[float, npt.NDArray[np.int16]], None] | None = None
        """Receives the caller's speech with its call time (for the call's WAV)."""
        self.starts: list[tuple[int, float]] = []
        self._index = 0
        self._started = False
        self._keys: deque[ScriptedAction] = deque()
        self._silence_until = 0.0
        self._audio: npt.NDArray[np.int16] | None = None
        self._position = 0

    def expect(self, phrases: tuple[str, ...], end_of_speech: float | None = None) -> None:
        if self.tracker is not None:
            self.tracker.expect(phrases, end_of_speech)

    def next_input(self, until: float, listening: bool) -> CallerAction | None:
        while True:
            turn = self._turn()
            if turn is None:
                if listening:
                    return HangUp()  # nothing left to do: hang up once the hotline waits
                self.clock.sleep_until(until)
                return None
            if not self._started:
                if not self._may_start(turn, until, listening):
                    self.clock.sleep_until(until)
                    return None
                self._begin(turn, until, listening)
            action, done = self._act(turn, until, listening)
            if done:
                self._index += 1
                self._started = False
            if action is not None:
                return action
            if self.clock.now() >= until - 1e-9:
                return None

    def _turn(self) -> Turn | None:
        turns = self.scenario.turns
        return turns[self._index] if self._index < len(turns) else None

    def _may_start(self, turn: Turn, until: float, listening: bool) -> bool:
        if turn.kind is TurnKind.PRESS:
            first = parse_script(turn.keys)
            return listening or (bool(first) and first[0].barge_in)
        if turn.spoken:
            if listening:
                return self.clock.now() + self.scenario.think_time < until
            return turn.barge_in
        return listening

    def _begin(self, turn: Turn, until: float, listening: bool) -> None:
        self._started = True
        self.starts.append((len(self.events), self.clock.now()))
        now = self.clock.now()
        if turn.kind is TurnKind.PRESS:
            self._keys = deque(parse_script(turn.keys))
        elif turn.kind is TurnKind.SILENCE:
            self._silence_until = now + turn.seconds
        elif turn.spoken:
            import numpy as np

            from ivr.callers.clips import RATE, TRAILING_SILENCE

            start = (
                now + self.scenario.think_time if listening else min(now + BARGE_IN_DELAY, until)
            )
            self.clock.sleep_until(start)
            clip = self.clips[turn.number]
            silence = np.zeros(int(RATE * TRAILING_SILENCE), dtype=np.int16)
            self._audio = np.concatenate([clip.samples, silence])
            self._position = 0

    def _act(self, turn: Turn, until: float, listening: bool) -> tuple[CallerAction | None, bool]:
        """Do the turn's next thing; returns (input or None, whether the turn is over)."""
        if turn.kind is TurnKind.PRESS:
            return self._press(until, listening)
        if turn.kind is TurnKind.SILENCE:
            if self._silence_until <= until:
                self.clock.sleep_until(self._silence_until)
                return None, True
            self.clock.sleep_until(until)
            return None, False
        if turn.spoken:
            return self._speak(until, listening)
        return HangUp(), True

    def _press(self, until: float, listening: bool) -> tuple[KeyPress | None, bool]:
        """One key of the script, exactly as ``ScriptedCaller`` would press it."""
        now = self.clock.now()
        if not self._keys:  # a script with no key (the loader refuses one): nothing to do
            return None, True
        action = self._keys[0]
        if action.key is not None and action.barge_in and not listening:
            self._keys.popleft()
            self.clock.sleep_until(min(now + BARGE_IN_DELAY, (now + until) / 2))
            return KeyPress(action.key), not self._keys
        if not listening:
            self.clock.sleep_until(until)
            return None, False
        self._keys.popleft()
        if action.key is None or now + self.scenario.think_time > until:
            self.clock.sleep_until(until)
            return None, not self._keys
        self.clock.sleep_until(now + self.scenario.think_time)
        return KeyPress(action.key), not self._keys

    def _speak(self, until: float, listening: bool) -> tuple[CallerAction | None, bool]:
        """Feed audio up to ``until``; stop at the first thing the tracker reports."""
        from ivr.callers.clips import CHUNK_SECONDS, RATE

        assert self._audio is not None and self.tracker is not None
        size = int(RATE * CHUNK_SECONDS)
        while self._position < len(self._audio):
            if self.clock.now() + CHUNK_SECONDS > until + 1e-9:
                self.clock.sleep_until(until)
                if not listening:
                    return None, False  # the prompt ended while the caller speaks: go on
                self._audio = None
                return self.tracker.finish(), True  # the no-input timer ran out mid-speech
            chunk = self._audio[self._position : self._position + size]
            self._position += size
            if self.audio_sink is not None:
                self.audio_sink(self.clock.now(), chunk)
            self.clock.sleep_until(self.clock.now() + len(chunk) / RATE)
            heard = self.tracker.feed(chunk.tobytes())
            if isinstance(heard, Utterance):
                self._audio = None
                return heard, True
            if isinstance(heard, SpeechStarted) and not listening:
                return heard, False  # speech during a prompt: barge-in
        self._audio = None
        return self.tracker.finish(), True


# --- running ---------------------------------------------------------------------------
