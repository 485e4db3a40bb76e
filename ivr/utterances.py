"""Audio in, caller speech out: when the caller starts speaking, and what they said.

One tracker serves recordings (virtual time) and the microphone (real time); the caller
that owns it decides when to give up waiting. Empty recognitions (silence, faint noise)
are not utterances: the no-input timer, not the recognizer, decides that nobody spoke.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ivr.inputs import SpeechStarted, Utterance

if TYPE_CHECKING:
    from ivr.stt import Recognition, Recognizer

log = logging.getLogger(__name__)


class UtteranceTracker:
    def __init__(self, recognizer: Recognizer) -> None:
        self.recognizer = recognizer
        self._in_speech = False

    def expect(self, phrases: tuple[str, ...]) -> None:
        """Switch to the grammar of the new state; what was half heard is dropped.

        Phrases the model cannot say are logged by the recognizer. If none is left, the
        state is heard with the open vocabulary: poorer, but the caller can still speak.
        """
        from ivr.stt import GrammarError

        try:
            self.recognizer.set_grammar(list(phrases) if phrases else None)
        except GrammarError as error:
            log.warning("%s; listening with the open vocabulary here", error)
            self.recognizer.set_grammar(None)
        self._in_speech = False

    def feed(self, pcm16: bytes) -> SpeechStarted | Utterance | None:
        """Give the recognizer 16 kHz mono int16 audio; say if speech began or ended."""
        if self.recognizer.accept(pcm16):
            return self._utterance(self.recognizer.result())
        if not self._in_speech and self.recognizer.partial():
            self._in_speech = True
            return SpeechStarted()
        return None

    def finish(self) -> Utterance | None:
        """What has been heard so far, as the utterance: the caller stopped, or time ran out."""
        return self._utterance(self.recognizer.result())

    @property
    def in_speech(self) -> bool:
        return self._in_speech

    def _utterance(self, recognition: Recognition) -> Utterance | None:
        self._in_speech = False
        if not recognition.words:
            return None
        return Utterance(recognition.text, recognition.confidence)
