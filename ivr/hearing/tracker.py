"""Audio in, caller speech out: when the caller starts speaking, and what they said.

One tracker serves recordings (virtual time) and the microphone (real time); the caller
that owns it decides when to give up waiting. Vosk 0.3.45 cannot change its end-of-speech
rules per recognizer (no SetEndpointerDelays), so a state's shorter ``end_of_speech`` is
applied here: that much trailing silence after speech ends the utterance. Empty
recognitions (silence, faint noise) are not utterances: the no-input timer, not the
recognizer, decides that nobody spoke.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from ivr.engine.inputs import SpeechStarted, Utterance

if TYPE_CHECKING:
    from ivr.hearing.recognizer import Recognition, Recognizer

log = logging.getLogger(__name__)


QUIET_DBFS = -45.0
"""Below this a 20 ms chunk counts as silence (the recognizer's onset gate uses the same)."""


def _quiet(pcm16: bytes) -> bool:
    samples = np.frombuffer(pcm16, dtype=np.int16).astype(np.float64)
    if samples.size == 0:
        return True
    power = float(np.mean(samples**2)) / 32768.0**2
    return bool(10 * np.log10(power + 1e-12) < QUIET_DBFS)


class UtteranceTracker:
    def __init__(self, recognizer: Recognizer, rate: int = 16000) -> None:
        self.recognizer = recognizer
        self.rate = rate
        self.end_of_speech: float | None = None
        self._in_speech = False
        self._quiet = 0.0
        self.deaf = False
        """The recognizer could not be set up: nothing is heard, keys still work."""

    def expect(self, phrases: tuple[str, ...], end_of_speech: float | None = None) -> None:
        """Switch to the grammar of the new state; what was half heard is dropped.

        Phrases the model cannot say are logged by the recognizer. If none is left, the
        state is heard with the open vocabulary: poorer, but the caller can still speak.
        """
        from ivr.hearing.recognizer import GrammarError, SpeechError

        self.end_of_speech = end_of_speech
        self._in_speech = False
        if self.deaf:
            return
        try:
            try:
                self.recognizer.set_grammar(list(phrases) if phrases else None)
            except GrammarError as error:
                log.warning("%s; listening with the open vocabulary here", error)
                self.recognizer.set_grammar(None)
        except SpeechError as error:
            # The model's vocabulary cannot be read (a corrupt or foreign Gr.fst): one line,
            # and the call goes on by keypad.
            log.error("speech recognition is off for this call: %s; use the keypad", error)
            self.deaf = True

    def feed(self, pcm16: bytes) -> SpeechStarted | Utterance | None:
        """Give the recognizer 16 kHz mono int16 audio; say if speech began or ended."""
        # Trailing silence is counted from the last loud chunk, before the recognizer's
        # partial result (which comes in 240 ms steps) says that speech began.
        if self.deaf:
            return None
        self._quiet = self._quiet + len(pcm16) / 2 / self.rate if _quiet(pcm16) else 0.0
        if self.recognizer.accept(pcm16):
            return self._utterance(self.recognizer.result())
        if not self._in_speech:
            if self.recognizer.partial():
                self._in_speech = True
                return SpeechStarted()
            return None
        if self.end_of_speech is not None and self._quiet >= self.end_of_speech:
            return self.finish()  # this state's end of speech, before the model's
        return None

    def finish(self) -> Utterance | None:
        """What has been heard so far, as the utterance: the caller stopped, or time ran out."""
        if self.deaf:
            return None
        return self._utterance(self.recognizer.result())

    @property
    def in_speech(self) -> bool:
        return self._in_speech

    def _utterance(self, recognition: Recognition) -> Utterance | None:
        self._in_speech = False
        if not recognition.words:
            return None
        return Utterance(recognition.text, recognition.confidence)
