"""One way to express a caller: a plan of keys, silences and speech, asked each time the
call starts to wait, and the one adapter that runs a plan as a session's caller.

Key scripts, recorded utterances, scenario turns and the pool's random callers are plans;
`PlannedCaller` runs any of them on a virtual clock and is the one place that feeds speech
to the recognizer 20 ms at a time while the clock moves with the audio.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from ivr.clock import VirtualClock
from ivr.engine.inputs import CallerAction, HangUp, Utterance

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from ivr.audio.wav import AudioClip, AudioFileError
    from ivr.hearing.tracker import UtteranceTracker

CHUNK_SECONDS = 0.02
SPEECH_RATE = 16000
"""The recognizer's rate: speech reaches it at this rate."""


Step_co = TypeVar("Step_co", covariant=True)

Plan = tuple[float, CallerAction]
"""A caller's next action and the call time at which it happens."""


@dataclass(frozen=True, slots=True)
class Speech:
    """What the caller says: the hotline hears it through its recognizer, chunk by chunk
    (`SpeechStarted`, then an `Utterance`, or nothing at all)."""

    audio: AudioClip | Iterator[AudioClip]
    """At the recognizer's rate, with the silence after it that ends the utterance: one
    clip, or blocks read only as they are said (a long WAV file costs no memory)."""
    waits_if_unheard: bool = True
    """Nothing heard at all: the caller stays silent until the wait runs out, as someone
    waiting to be answered does (False: the plan goes on at once, a scenario's next turn)."""


class CallerPlan(Protocol[Step_co]):
    """One caller, asked each time the call starts to wait."""

    def next_input(self, now: float, until: float, listening: bool) -> tuple[float, Step_co] | None:
        """What the caller does between ``now`` and call time ``until``, if anything.

        ``listening`` is False while a prompt is being said (``until`` is its end) and
        True while the no-input timer runs (``until`` is its deadline). A step at
        ``until`` or before it is taken; a later one, or None, lets the wait run out, and
        the caller is asked again at the next wait.
        """
        ...


class PlannedCaller:
    """A `CallerPlan` as a session's caller, on a virtual clock.

    Keys and hang-ups come at their planned time; a clip of `Speech` is fed to the
    recognizer 20 ms at a time while the clock moves with the audio, so end of speech,
    barge-in and timers behave as on a phone line, faster than real time. While the
    caller speaks the plan is not asked.
    """

    def __init__(
        self,
        plan: CallerPlan[CallerAction | Speech],
        clock: VirtualClock,
        tracker: UtteranceTracker | None = None,
    ) -> None:
        self.plan = plan
        self.clock = clock
        self.tracker = tracker
        """Hears the caller's speech; plans without speech need none."""
        self.audio_sink: Callable[[float, npt.NDArray[np.int16]], None] | None = None
        """Receives what the caller says, with its call time (for the call's WAV)."""
        self._speech: Speech | None = None
        self._chunks: Iterator[npt.NDArray[np.int16]] | None = None
        self._pending: npt.NDArray[np.int16] | None = None
        self.read_error: AudioFileError | None = None
        """Why the caller's audio could not be read to its end: the caller hung up there."""

    def expect(self, phrases: tuple[str, ...], end_of_speech: float | None = None) -> None:
        if self.tracker is not None:
            self.tracker.expect(phrases, end_of_speech)

    def next_input(self, until: float, listening: bool) -> CallerAction | None:
        clock = self.clock
        while True:
            speech = self._speech
            if speech is not None:
                try:
                    heard = self._speak(speech, until, listening)
                except ValueError as error:
                    from ivr.audio.wav import AudioFileError

                    if not isinstance(error, AudioFileError):
                        raise
                    self.read_error = error  # the file failed mid-read: the caller hangs up
                    self._end_speech()
                    return HangUp()
                if heard is not None or self._speech is not None:
                    return heard
                if speech.waits_if_unheard or clock.now() >= until - 1e-9:
                    clock.sleep_until(until)
                    return None
            now = clock.now()
            planned = self.plan.next_input(now, until, listening)
            if planned is None or planned[0] > until:
                clock.sleep_until(until)
                return None
            at, step = planned
            clock.sleep_until(max(at, now))
            if not isinstance(step, Speech):
                return step
            self._speech = step

    def _speak(self, speech: Speech, until: float, listening: bool) -> CallerAction | None:
        """Feed the speech up to ``until``; stop at the first thing the recognizer reports.

        The speech is over (``_speech`` is None) once its words are heard, its audio has
        all been said, or the no-input deadline came while the caller was speaking. A
        chunk read but not yet said waits in ``_pending`` for the next call.
        """
        clock, tracker = self.clock, self.tracker
        assert tracker is not None, "a plan with speech needs a tracker"
        if self._chunks is None:
            from ivr.audio.wav import AudioClip, chunks  # numpy: only for speech

            blocks = [speech.audio] if isinstance(speech.audio, AudioClip) else speech.audio
            self._chunks = chunks(blocks, int(SPEECH_RATE * CHUNK_SECONDS))
        while True:
            chunk = self._pending if self._pending is not None else next(self._chunks, None)
            if chunk is None:
                break
            if clock.now() + CHUNK_SECONDS > until + 1e-9:
                self._pending = chunk
                clock.sleep_until(until)
                if not listening:
                    return None  # the prompt ended while the caller speaks: go on
                self._end_speech()
                return tracker.finish()  # the no-input timer ran out mid-speech
            self._pending = None
            if self.audio_sink is not None:
                self.audio_sink(clock.now(), chunk)
            clock.sleep_until(clock.now() + len(chunk) / SPEECH_RATE)
            heard = tracker.feed(chunk.tobytes())
            if isinstance(heard, Utterance):
                self._end_speech()
                return heard
            if heard is not None and not listening:
                return heard  # speech began during a prompt: barge-in
        self._end_speech()
        return tracker.finish()

    def _end_speech(self) -> None:
        self._speech, self._chunks, self._pending = None, None, None
