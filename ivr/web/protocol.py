"""What a browser may send over a call's WebSocket, checked before anything acts on it.

Text messages are JSON objects with a ``type``:

- ``{"type": "call", "caller_id": "13800138000"}``: place the call (caller ID optional:
  digits only, at most `CALLER_ID_DIGITS`);
- ``{"type": "key", "key": "1"}``: one of the twelve telephone keys;
- ``{"type": "mic", "on": true}``: the microphone switch;
- ``{"type": "hangup"}``.

Binary messages are microphone audio: 20 ms of 16 kHz mono signed 16-bit little-endian
PCM, exactly `FRAME_BYTES` bytes, and only while the microphone is on.

Each check gives a `Problem` with the line the page shows and whether the socket must be
closed (a message too large to have come from the page, a flood); a malformed or unknown
message only gets the error, and the call goes on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from ivr.engine.inputs import TELEPHONE_KEYS
from ivr.limits import caller_id_problem

RATE = 16000
FRAME_SAMPLES = RATE // 50
FRAME_BYTES = FRAME_SAMPLES * 2
"""One audio frame: 20 ms of 16 kHz mono int16 (640 bytes)."""
MAX_TEXT = 512
"""The longest text message the page sends is well under this (a caller ID)."""

MESSAGES_PER_SECOND, MESSAGE_BURST = 20.0, 40.0
"""Text messages: a person pressing keys as fast as they can stays far below."""
FRAMES_PER_SECOND, FRAME_BURST = 60.0, 150.0
"""Audio frames: 50 a second in real time, with room for a network's bunching."""

TOO_LARGE, POLICY = 1009, 1008
"""WebSocket close codes: message too big, policy violation (a flood)."""


@dataclass(frozen=True)
class Problem:
    """A message refused: ``error`` for the page; ``close`` the socket with this code."""

    error: str
    close: int | None = None


@dataclass(frozen=True)
class Message:
    """A valid text message."""

    type: str
    key: str = ""
    caller_id: str = ""
    on: bool = False


def read_text(text: str) -> Message | Problem:
    """The message in ``text``, or why it is refused."""
    if len(text) > MAX_TEXT:
        return Problem(f"message too long ({len(text)} characters; at most {MAX_TEXT})", TOO_LARGE)
    try:
        data = json.loads(text)
    except ValueError:
        return Problem("not a JSON message")
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        return Problem('a message must be a JSON object with a "type"')
    kind = data["type"]
    if kind == "key":
        key = data.get("key")
        if not isinstance(key, str) or len(key) != 1 or key not in TELEPHONE_KEYS:
            return Problem("a key must be one of 0-9, * and #")
        return Message("key", key=key)
    if kind == "call":
        caller_id = data.get("caller_id", "")
        if caller_id is None:
            caller_id = ""
        if not isinstance(caller_id, str):
            return Problem("a caller ID is digits only (0-9)")
        problem = caller_id_problem(caller_id)
        return Message("call", caller_id=caller_id) if problem is None else Problem(problem)
    if kind == "mic":
        on = data.get("on")
        if not isinstance(on, bool):
            return Problem('"mic" needs "on": true or false')
        return Message("mic", on=on)
    if kind == "hangup":
        return Message("hangup")
    return Problem(f"unknown message type {kind[:40]!r}")


def check_frame(data: bytes) -> Problem | None:
    """None for a well-formed audio frame, else why it is refused."""
    if len(data) > FRAME_BYTES:
        return Problem(
            f"audio frame too large ({len(data)} bytes; a frame is {FRAME_BYTES})", TOO_LARGE
        )
    if len(data) != FRAME_BYTES:
        return Problem(f"audio frame of {len(data)} bytes ignored (a frame is {FRAME_BYTES})")
    return None


class Bucket:
    """A token bucket: ``rate`` messages a second on average, ``burst`` at once."""

    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = burst
        self.last = clock()

    def take(self) -> bool:
        """One message: False when the bucket is empty (a flood)."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


class Guard:
    """The flood limits of one socket: text messages and audio frames counted apart."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.messages = Bucket(MESSAGES_PER_SECOND, MESSAGE_BURST, clock)
        self.frames = Bucket(FRAMES_PER_SECOND, FRAME_BURST, clock)

    def text(self, text: str) -> Message | Problem:
        if not self.messages.take():
            return Problem("too many messages: the call is closed", POLICY)
        return read_text(text)

    def frame(self, data: bytes) -> Problem | None:
        if not self.frames.take():
            return Problem("too much audio: the call is closed", POLICY)
        return check_frame(data)
