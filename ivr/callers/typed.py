"""A caller who types what they would say: ``ivr call --typed``.

Each line is an utterance, matched exactly as recognized speech is, so a menu's phrases can
be tried without a model or a microphone. A line that is one telephone key is that key; ``q``
or the end of input hangs up. Timers run in real time, as in a live call.
"""

from __future__ import annotations

import queue
import sys
import threading
from typing import TextIO

from ivr.clock import Clock
from ivr.engine.inputs import TELEPHONE_KEYS, HangUp, KeyPress, Utterance

HANG_UP_WORDS = frozenset({"q", "quit", "挂机"})


def reading_of(line: str) -> KeyPress | Utterance | HangUp | None:
    """What a typed line means; None for an empty line."""
    text = line.strip()
    if not text:
        return None
    if text.lower() in HANG_UP_WORDS:
        return HangUp()
    if text in TELEPHONE_KEYS:
        return KeyPress(text)
    return Utterance(text, 1.0)


class TypedCaller:
    def __init__(self, clock: Clock, stream: TextIO | None = None) -> None:
        self.clock = clock
        self.stream = stream or sys.stdin
        self._inputs: queue.Queue[KeyPress | Utterance | HangUp] = queue.Queue()
        threading.Thread(target=self._read_lines, name="typed-caller", daemon=True).start()

    def _read_lines(self) -> None:
        for line in self.stream:
            said = reading_of(line)
            if said is not None:
                self._inputs.put(said)
            if isinstance(said, HangUp):
                return
        self._inputs.put(HangUp())

    def expect(self, phrases: tuple[str, ...], end_of_speech: float | None) -> None:
        """Typed text needs no grammar: it is matched against the phrases directly."""

    def next_input(self, until: float, listening: bool) -> KeyPress | Utterance | HangUp | None:
        try:
            return self._inputs.get(timeout=max(until - self.clock.now(), 0.0))
        except queue.Empty:
            return None
