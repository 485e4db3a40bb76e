"""A caller who speaks recorded utterances, on a virtual clock: ``ivr call --audio a.wav b.wav``.

Each recording is one utterance, said once the hotline has finished speaking (after a
short think time), or, when its name is given with a leading ``!``, one second into the
prompt being said (barge-in). The audio goes through the real recognizer chunk by chunk
while the virtual clock moves with the audio, so end-of-speech and timers behave as on a
phone line, faster than real time. When the recordings run out the caller hangs up; so
does a caller whose recording cannot be read to its end (``RecordedCaller.read_error``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ivr.audio.phone_line import LineModel, through_line
from ivr.audio.wav import Audio, AudioClip, AudioFileError, chunks, open_wav
from ivr.clock import VirtualClock
from ivr.engine.inputs import HangUp, KeyPress, SpeechStarted, Utterance
from ivr.hearing.tracker import UtteranceTracker

RATE = 16000
CHUNK_SECONDS = 0.02
TRAILING_SILENCE = 2.0
"""Silence after each recording, so the recognizer can hear that the caller stopped."""

BARGE_IN = "!"


@dataclass(frozen=True)
class Recording:
    """One utterance: a clip in memory or a WAV file, said from its start as it is read,
    through ``line`` if one is given."""

    clip: Audio
    barge_in: bool = False
    name: str = ""
    line: LineModel | None = None


def load_recordings(names: list[str], line: LineModel | None = None) -> list[Recording]:
    """Check ``--audio`` arguments; ``!name.wav`` barges in. Raises AudioFileError (one line).

    Every header is checked now, so a bad file stops the call before it starts, but the
    audio is read only as it is said, block by block, as a telephone test tool plays a
    file into a call: the hotline's timers and end of speech decide how much of it is
    heard, so an utterance file of hours costs no more memory than one of seconds, and no
    length limit beyond ``WAV_SECONDS`` is needed. A ``line``
    (``ivr.audio.phone_line.Line``) is applied
    as the file is said, also in blocks; with noise it first reads the file once to measure
    its level (see ``Line.blocks``).
    """
    recordings = []
    for name in names:
        barge_in = name.startswith(BARGE_IN)
        path = Path(name.removeprefix(BARGE_IN))
        recordings.append(Recording(open_wav(path), barge_in, str(path), line))
    return recordings


class RecordedCaller:
    def __init__(
        self,
        recordings: list[Recording],
        tracker: UtteranceTracker,
        clock: VirtualClock,
        think_time: float = 0.5,
        barge_in_delay: float = 1.0,
    ) -> None:
        self.recordings = deque(recordings)
        self.tracker = tracker
        self.clock = clock
        self.think_time = think_time
        self.barge_in_delay = barge_in_delay
        self._audio: Iterator[npt.NDArray[np.int16]] | None = None
        """The 20 ms chunks of the recording being said, then its trailing silence."""
        self._next: npt.NDArray[np.int16] | None = None
        self._chunk = int(RATE * CHUNK_SECONDS)
        self.audio_sink: Callable[[float, np.ndarray], None] | None = None
        """Receives what the caller says, with its call time (for the call's WAV)."""
        self.read_error: AudioFileError | None = None
        """Why a recording could not be read to its end: the caller hung up there."""

    def expect(self, phrases: tuple[str, ...], end_of_speech: float | None) -> None:
        self.tracker.expect(phrases, end_of_speech)

    def next_input(
        self, until: float, listening: bool
    ) -> KeyPress | Utterance | HangUp | SpeechStarted | None:
        try:
            if self._audio is None and not self._begin(until, listening):
                if listening and not self.recordings:
                    return HangUp()
                self.clock.sleep_until(until)
                return None
            return self._speak(until, listening)
        except AudioFileError as error:
            self.read_error = error
            self.recordings.clear()
            self._audio = None
            return HangUp()

    def _begin(self, until: float, listening: bool) -> bool:
        """Start saying the next recording now, if it is its turn."""
        if not self.recordings:
            return False
        recording = self.recordings[0]
        if listening:
            start = self.clock.now() + self.think_time
        elif recording.barge_in:
            start = min(self.clock.now() + self.barge_in_delay, until)
        else:
            return False
        if start >= until and listening:
            return False
        self.recordings.popleft()
        self.clock.sleep_until(start)
        silence = AudioClip(np.zeros(int(RATE * TRAILING_SILENCE), dtype=np.int16), RATE)
        said = through_line(recording.clip, recording.line, RATE)
        self._audio = chunks(chain(said, [silence]), self._chunk)
        self._next = next(self._audio, None)
        return True

    def _speak(self, until: float, listening: bool) -> Utterance | SpeechStarted | None:
        """Feed audio up to ``until``; stop at the first thing the tracker reports."""
        assert self._audio is not None
        while self._next is not None:
            if self.clock.now() + CHUNK_SECONDS > until + 1e-9:
                if not listening:
                    self.clock.sleep_until(until)
                    return None  # the prompt ended while the caller speaks: keep going
                self._audio = None
                self.clock.sleep_until(until)
                return self.tracker.finish()  # the no-input timer ran out mid-speech
            chunk = self._next
            self._next = next(self._audio, None)
            if self.audio_sink is not None:
                self.audio_sink(self.clock.now(), chunk)
            self.clock.sleep_until(self.clock.now() + len(chunk) / RATE)
            heard = self.tracker.feed(chunk.tobytes())
            if isinstance(heard, Utterance):
                self._audio = None
                return heard
            if heard is not None and not listening:
                return heard  # speech started during a prompt: barge-in
        self._audio = None
        said = self.tracker.finish()
        if said is None:
            self.clock.sleep_until(until)
        return said
