"""A whole recording of the caller's side, heard as a phone line would: ``ivr run-recording``.

The recording is the caller's half of a call from the moment it is answered: speech, DTMF
tones and pauses. Call time is recording time. Keys come from the in-band DTMF detector,
speech from the recognizer, and the hotline's timers run on the same clock, so a recording
replays a call exactly, faster than real time.

The recognizer hears the audio a little late (`RECOGNIZER_DELAY`) with the DTMF tones cut
out: a tone is only known to be a tone once the detector has confirmed it, and a tone fed to
a closed-grammar recognizer comes back as words.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from ivr.audio.dtmf import DtmfDetector
from ivr.audio.phone_line import LineModel, through_line
from ivr.audio.wav import Audio, AudioFileError, chunks
from ivr.clock import VirtualClock
from ivr.engine.inputs import TELEPHONE_KEYS, CallerAction, HangUp, KeyPress
from ivr.hearing.tracker import UtteranceTracker

RATE = 16000
CHUNK = RATE // 50  # 20 ms
RECOGNIZER_DELAY = 0.3
"""Seconds the recognizer lags the line, so confirmed tones can be cut out of its audio."""


class WholeCallCaller:
    """The caller's side of a whole call, from a clip or a WAV file read block by block
    (a file's audio is never held whole: a recording of hours costs a few megabytes),
    heard through ``line`` if one is given (``ivr.audio.phone_line.Line`` streams it too).

    A file that cannot be read to its end (an I/O error, cut short or replaced on disk)
    ends the call there as the caller hanging up, so the call's log is whole; the error is
    kept in ``read_error`` for the command to report.
    """

    def __init__(
        self,
        clip: Audio,
        clock: VirtualClock,
        tracker: UtteranceTracker | None = None,
        line: LineModel | None = None,
    ) -> None:
        self._chunks = chunks(through_line(clip, line, RATE), CHUNK)
        self._next: npt.NDArray[np.int16] | None = None
        self._started = False
        self.read_error: AudioFileError | None = None
        self.clock = clock
        self.tracker = tracker
        self.detector = DtmfDetector(rate=RATE)
        self.audio_sink: Callable[[float, npt.NDArray[np.int16]], None] | None = None
        self._position = 0
        self._found: deque[CallerAction] = deque()
        self._tones: list[tuple[float, float]] = []
        self._delayed: deque[tuple[float, npt.NDArray[np.int16]]] = deque()

    def expect(self, phrases: tuple[str, ...], end_of_speech: float | None) -> None:
        if self.tracker is not None:
            self.tracker.expect(phrases, end_of_speech)

    def next_input(self, until: float, listening: bool) -> CallerAction | None:
        if not self._started:
            self._started = True
            self._next = self._pull()
        while not self._found:
            if self.read_error is not None:
                return HangUp()
            chunk = self._next
            if chunk is None:
                self._flush_recognizer()
                return self._found.popleft() if self._found else HangUp()
            start = self._position / RATE
            if start + CHUNK / RATE > until + 1e-9:
                self.clock.sleep_until(until)
                return None
            self._next = self._pull()
            self._hear(chunk, start)
        return self._found.popleft()

    def _pull(self) -> npt.NDArray[np.int16] | None:
        """The next 20 ms of the recording; None at its end, or once it cannot be read."""
        try:
            return next(self._chunks, None)
        except AudioFileError as error:
            self.read_error = error
            return None

    def _hear(self, chunk: npt.NDArray[np.int16], start: float) -> None:
        self._position += len(chunk)
        self.clock.sleep_until(self._position / RATE)
        if self.audio_sink is not None:
            self.audio_sink(start, chunk)
        for digit in self.detector.feed(chunk):
            self._tones.append((digit.start, float("inf")))  # until the key is released
            if digit.digit in TELEPHONE_KEYS:  # tones A-D are no key a caller can press
                self._found.append(KeyPress(digit.digit))
        if self.detector.active is None and self._tones and self._tones[-1][1] == float("inf"):
            self._tones[-1] = (self._tones[-1][0], self._position / RATE)
        self._delayed.append((start, chunk))
        while self._delayed and self._delayed[0][0] <= start - RECOGNIZER_DELAY:
            self._recognize(*self._delayed.popleft())

    def _recognize(self, start: float, chunk: npt.NDArray[np.int16]) -> None:
        if self.tracker is None:
            return
        end = start + len(chunk) / RATE
        if any(tone_start < end and start < tone_end for tone_start, tone_end in self._tones):
            chunk = np.zeros_like(chunk)
        heard = self.tracker.feed(chunk.tobytes())
        if heard is not None:
            self._found.append(heard)

    def _flush_recognizer(self) -> None:
        while self._delayed:
            self._recognize(*self._delayed.popleft())
        if self.tracker is not None and self.tracker.in_speech:
            said = self.tracker.finish()
            if said is not None:
                self._found.append(said)
