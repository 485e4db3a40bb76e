"""Saying prompts: text-only, or rendered by a synthesizer and played on a speaker.

The session needs each prompt's duration before it ends, so it can time the no-input
timer and know when a key is a barge-in.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # audio pulls in numpy; scripted text-only calls do not need it
    from ivr.audio import AudioClip, Speaker
    from ivr.tts import PromptCache

log = logging.getLogger(__name__)

SECONDS_PER_CHARACTER = 0.33
"""espeak-ng Mandarin at 170 wpm, measured over the wallet prompts (punctuation included)."""


class PromptPlayer(Protocol):
    def start(self, text: str) -> float:
        """Begin saying ``text``; return at once with how long it takes, in seconds."""
        ...

    def stop(self) -> None:
        """Stop the prompt now (barge-in)."""
        ...


def estimated_duration(text: str) -> float:
    return round(len(text) * SECONDS_PER_CHARACTER, 3)


class SilentPlayer:
    """Text only: prompts take the time they would take to say, so timers behave the same."""

    def start(self, text: str) -> float:
        return estimated_duration(text)

    def stop(self) -> None:
        return None


class RenderingPlayer:
    """Renders prompts for their real length without playing them: a virtual-time run whose
    call audio is written must time its prompts as they sound."""

    def __init__(self, cache: PromptCache) -> None:
        self.cache = cache

    def clip(self, text: str) -> AudioClip:
        from ivr.audio import read_wav

        return read_wav(self.cache.get(text))

    def start(self, text: str) -> float:
        return self.clip(text).duration

    def stop(self) -> None:
        return None


class SpeakingPlayer:
    """Renders through the prompt cache and plays on a speaker that can be stopped.

    A prompt that cannot be rendered or played is shown as text for its estimated length:
    a speech problem must not end the call.
    """

    def __init__(self, cache: PromptCache, speaker: Speaker) -> None:
        self.cache = cache
        self.speaker = speaker

    def start(self, text: str) -> float:
        from ivr.audio import read_wav

        try:
            return self.speaker.play(read_wav(self.cache.get(text)))
        except Exception as error:  # any speech failure degrades to text
            log.warning("prompt not spoken (%s); showing it as text", error)
            return estimated_duration(text)

    def stop(self) -> None:
        self.speaker.stop()
