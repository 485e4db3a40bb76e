"""Fakes and helpers for testing menus and the engine; users' own test suites can use them.

`run_script` plays a key script against a menu on a virtual clock and returns every event
with its call time, which is what most behaviour tests need.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ivr.callers.scripted import ScriptedCaller
from ivr.clock import Clock, VirtualClock
from ivr.drivers.session import Listener, Session
from ivr.engine.events import CallEvent, EventType, Outcome
from ivr.engine.flow import Call, CallFlow
from ivr.menu.model import Menu
from ivr.prompts.player import estimated_duration

if TYPE_CHECKING:
    from ivr.audio.wav import AudioClip
    from ivr.drivers.centre import SimulatedCentre
    from ivr.hearing.recognizer import GrammarReport, Recognition


@dataclass
class RecordingPlayer:
    """A player that says nothing and remembers what it was asked to say and when."""

    clock: Clock
    duration: Callable[[str], float] = estimated_duration
    started: list[tuple[float, str]] = field(default_factory=list)
    stopped: list[float] = field(default_factory=list)

    def start(self, text: str) -> float:
        self.started.append((self.clock.now(), text))
        return self.duration(text)

    def stop(self) -> None:
        self.stopped.append(self.clock.now())


@dataclass
class CallRecording:
    """Everything a scripted call did."""

    call: Call
    events: list[tuple[float, CallEvent]]
    player: RecordingPlayer

    @property
    def outcome(self) -> Outcome | None:
        return self.call.outcome

    def of_type(self, kind: EventType) -> list[CallEvent]:
        return [event for _, event in self.events if event.type is kind]

    def times(self, kind: EventType) -> list[float]:
        return [moment for moment, event in self.events if event.type is kind]

    @property
    def prompts(self) -> list[str]:
        """Texts of the prompts that started, in order."""
        return [event.text or "" for event in self.of_type(EventType.PROMPT)]

    @property
    def states(self) -> list[str]:
        """Nodes entered after the start, in order."""
        return [event.state for event in self.of_type(EventType.STATE)]

    @property
    def end(self) -> CallEvent:
        return self.of_type(EventType.CALL_END)[-1]


def run_script(
    menu: Menu | CallFlow,
    script: str,
    *,
    think_time: float = 0.5,
    duration: Callable[[str], float] = estimated_duration,
    listeners: tuple[Listener, ...] = (),
    centre: SimulatedCentre | None = None,
) -> CallRecording:
    """Play a key script (see ivr.callers.scripted) against a menu, on a virtual clock.

    A menu with a contact centre and no ``centre`` given: the centre as a `CallPool` makes
    it (Monday 2026-03-16 10:00, no other callers), so a script's events never depend on
    when it runs; pass `ivr.drivers.session.simulated_centre` for the declared load."""
    flow = menu if isinstance(menu, CallFlow) else CallFlow(menu)
    if centre is None and flow.menu.contact_centre is not None:
        from ivr.drivers.centre import SimulatedCentre
        from ivr.drivers.pool import DEFAULT_START

        centre = SimulatedCentre(flow.menu.contact_centre, DEFAULT_START)
    clock = VirtualClock()
    player = RecordingPlayer(clock, duration)
    events: list[tuple[float, CallEvent]] = []

    def record(event: CallEvent, moment: float) -> None:
        events.append((moment, event))

    caller = ScriptedCaller(script, clock, think_time=think_time)
    call = Session(flow, caller, player, clock, [record, *listeners], centre=centre).run()
    return CallRecording(call, events, player)


class FakeRecognizer:
    """A recognizer without a model: loud audio is speech, and each utterance it hears
    "is" the next of the given transcripts.

    Speech ends after ``end_silence`` seconds below ``threshold`` (RMS of int16 samples), as
    a real recognizer's endpointer would; grammars are recorded so tests can check them.
    """

    def __init__(
        self,
        transcripts: list[tuple[str, float]],
        threshold: float = 500.0,
        end_silence: float = 0.5,
        rate: int = 16000,
    ) -> None:
        self.transcripts = list(transcripts)
        self.threshold = threshold
        self.end_silence = end_silence
        self.rate = rate
        self.grammars: list[tuple[str, ...] | None] = []
        self._heard_speech = False
        self._silence = 0.0

    def set_grammar(self, phrases: Sequence[str] | None) -> GrammarReport:
        from ivr.hearing.recognizer import GrammarReport

        self.grammars.append(tuple(phrases) if phrases is not None else None)
        self.reset()
        return GrammarReport(tuple(phrases or ()), {})

    def accept(self, pcm16: bytes) -> bool:
        samples = np.frombuffer(pcm16, dtype=np.int16).astype(np.float64)
        loud = samples.size > 0 and float(np.sqrt(np.mean(samples**2))) > self.threshold
        if loud:
            self._heard_speech = True
            self._silence = 0.0
            return False
        if self._heard_speech:
            self._silence += samples.size / self.rate
        return self._heard_speech and self._silence >= self.end_silence

    def partial(self) -> str:
        return "…" if self._heard_speech else ""

    def result(self) -> Recognition:
        from ivr.hearing.recognizer import Recognition, Word

        heard = self._heard_speech and bool(self.transcripts)
        self.reset()
        if not heard:
            return Recognition(())
        text, confidence = self.transcripts.pop(0)
        return Recognition(tuple(Word(w, confidence, 0.0, 0.0) for w in text.split()))

    def reset(self) -> None:
        self._heard_speech = False
        self._silence = 0.0


def caller_recording(
    seconds: float, keys: dict[float, str], speech: dict[float, AudioClip], rate: int = 16000
) -> AudioClip:
    """A whole-call recording of the caller's side: each key as an 80 ms DTMF tone and each
    clip of speech at its call time, silence elsewhere (for ``ivr run-recording`` tests)."""
    from ivr.audio.dtmf import generate
    from ivr.audio.wav import AudioClip, to_rate

    track = np.zeros(int(rate * seconds), np.int32)
    placed = [(t, to_rate(generate(k, tone_ms=80, gap_ms=0), rate)) for t, k in keys.items()]
    placed += [(t, to_rate(clip, rate)) for t, clip in speech.items()]
    for moment, clip in placed:
        start = int(moment * rate)
        track[start : start + len(clip.samples)] += clip.samples
    return AudioClip(np.clip(track, -32768, 32767).astype(np.int16), rate)
