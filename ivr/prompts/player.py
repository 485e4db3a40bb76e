"""Saying prompts: text-only, or rendered by a synthesizer and played on a speaker.

The session needs each prompt's duration before it ends, so it can time the no-input
timer and know when a key is a barge-in.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # audio pulls in numpy; scripted text-only calls do not need it
    from collections.abc import Callable, Iterable

    from ivr.audio.wav import AudioClip, ClipCache, Speaker
    from ivr.prompts.recordings import PromptFiles

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
    call audio is written must time its prompts as they sound.

    ``cache`` gives each prompt's WAV file: the TTS ``PromptCache``, or ``RecordedPrompts``
    (a voice talent's recording where there is one), as for ``SpeakingPlayer``."""

    def __init__(self, cache: PromptFiles, clips: ClipCache | None = None) -> None:
        from ivr.audio.wav import ClipCache

        self.cache = cache
        self.clips = ClipCache() if clips is None else clips
        """Decoded prompts in memory: each is read once, for its length and its audio."""

    def clip(self, text: str) -> AudioClip:
        """The prompt as rendered (its arrays are shared and read-only)."""
        return self.clips.get(self.cache.get(text))

    def start(self, text: str) -> float:
        return self.clip(text).duration

    def stop(self) -> None:
        return None


class SpeakingPlayer:
    """Renders through the prompt cache and plays on a speaker that can be stopped.

    A prompt that cannot be rendered or played is shown as text for its estimated length:
    a speech problem must not end the call.

    Prompts are kept in memory decoded and already at the speaker's rate (``ClipCache``),
    so a prompt said before costs no file I/O and no resampling when a key asks for it;
    ``prefetch`` loads them all before the caller presses anything.
    """

    def __init__(
        self, cache: PromptFiles, speaker: Speaker, clips: ClipCache | None = None
    ) -> None:
        from ivr.audio.wav import ClipCache

        self.cache = cache
        self.speaker = speaker
        self.clips = ClipCache() if clips is None else clips
        rate = getattr(speaker, "rate", None)
        self.rate: int | None = rate if isinstance(rate, int) else None
        """The speaker's device rate: clips are kept resampled to it."""
        self._closing = threading.Event()
        self._prefetcher: threading.Thread | None = None

    def clip(self, text: str) -> AudioClip:
        """The prompt ready for the speaker (rendered first if it is not on disk)."""
        return self.clips.get(self.cache.get(text), self.rate)

    def start(self, text: str) -> float:
        try:
            return self.speaker.play(self.clip(text))
        except Exception as error:  # any speech failure degrades to text
            log.warning("prompt not spoken (%s); showing it as text", error)
            return estimated_duration(text)

    def prefetch(
        self, texts: Iterable[str], progress: Callable[[int, int], None] | None = None
    ) -> int:
        """Render the missing prompts, then load them into memory while they fit.

        Stops between prompts once ``close`` is called; returns how many were rendered.
        """
        wanted = list(dict.fromkeys(texts))
        missing = [text for text in wanted if not self.cache.is_cached(text)]
        for done, text in enumerate(missing, start=1):
            if self._closing.is_set():
                return done - 1
            self.cache.get(text)
            if progress is not None:
                progress(done, len(missing))
        evictions = self.clips.evictions
        for text in wanted:
            if self._closing.is_set() or self.clips.evictions != evictions:
                break  # closing, or the memory budget is full: stop there
            self.clip(text)
        return len(missing)

    def prefetch_in_background(self, texts: Iterable[str]) -> None:
        """Render and load every prompt on a thread, so a key costs no I/O or resampling.

        ``close`` stops and joins it: a thread still resampling in soxr (a C++ extension)
        when the interpreter exits makes the process abort ("terminate called without an
        active exception").
        """
        self._prefetcher = threading.Thread(
            target=self.prefetch, args=(list(texts),), name="ivr-prefetch", daemon=True
        )
        self._prefetcher.start()

    def close(self, timeout: float = 30.0) -> None:
        """Stop the background prefetch after the prompt it is on (one render at most)."""
        self._closing.set()
        if self._prefetcher is not None:
            self._prefetcher.join(timeout)

    def stop(self) -> None:
        self.speaker.stop()
