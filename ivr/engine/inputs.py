"""What reaches the engine: caller inputs and the timer and player signals about them.

Timers are inputs too: the session driver decides *when* a no-input happened (on a real or
a virtual clock); the engine only decides what it means.
"""

from __future__ import annotations

from dataclasses import dataclass

from ivr.engine.backoffice import Reply
from ivr.errors import InvalidKey

TELEPHONE_KEYS = frozenset("0123456789*#")
"""The twelve keys of a telephone keypad: the only values a :class:`KeyPress` holds."""


@dataclass(frozen=True, slots=True)
class KeyPress:
    """One telephone key, 0-9, * or #, from the keypad or an in-band tone."""

    key: str

    def __post_init__(self) -> None:
        """A closed type: refuse anything but 0-9, * and # (so tones A-D cannot pass)."""
        if self.key not in TELEPHONE_KEYS:
            raise InvalidKey(self.key)


@dataclass(frozen=True, slots=True)
class Utterance:
    """What the caller said, as recognized (or typed): matched like any other choice."""

    text: str
    confidence: float = 1.0
    """The recognizer's confidence in the words (lowest word confidence); 1.0 when typed."""


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """The caller began to speak: the session stops the prompt (barge-in); not for the engine."""


@dataclass(frozen=True, slots=True)
class NoInput:
    """The no-input timer ran out after the prompts finished."""


@dataclass(frozen=True, slots=True)
class PromptsFinished:
    """Every queued prompt has been played; answers move on to their parent menu then."""


@dataclass(frozen=True, slots=True)
class HangUp:
    """The caller put the phone down."""


@dataclass(frozen=True, slots=True)
class BackOfficeReply:
    """The back office answered an action node's request (or failed: ``error``)."""

    reply: Reply
    reason: str | None = None
    """Why the result is ``error`` when the back office gave none: unavailable, timeout."""
    operation: str = ""
    """The operation replied to; ``request_callback`` is the queue's, not an action node's."""


@dataclass(frozen=True, slots=True)
class QueueNews:
    """What the contact centre says about a call that asked for an agent (the timeline
    gets it from the centre and hands it to the engine, which says it)."""

    kind: str
    """``enter``, ``position``, ``closed``, ``full``, ``offer`` (the callback), ``hold``,
    ``agent`` (an agent answers)."""
    position: int | None = None
    seconds: float | None = None
    """``enter``/``position``: the estimated wait; ``agent``: the wait."""
    opens: str | None = None
    """``closed``: when agents are next available, as said (``明天九点``)."""


@dataclass(frozen=True, slots=True)
class RecordingOver:
    """A record node's recording ended (the timeline times it): how, after how long, and
    the reference the message is kept under."""

    reason: str
    """``terminator``, ``silence`` (the final silence after speech), ``max-length``,
    ``no-input`` (nothing said), ``hangup`` or ``skipped`` (the skip key)."""
    seconds: float = 0.0
    """The message's length: from the end of the beep to the terminator, the last speech
    (``silence``) or the maximum."""
    reference: str = ""
    """Where the message is kept: ``<call-id>-message.wav`` in the call's folder; empty
    when the call's audio is not kept (no file will exist to refer to)."""


CallInput = (
    KeyPress
    | Utterance
    | NoInput
    | PromptsFinished
    | HangUp
    | BackOfficeReply
    | QueueNews
    | RecordingOver
)
"""What the engine handles."""

CallerAction = KeyPress | Utterance | HangUp | SpeechStarted
"""What a caller does: the engine's inputs from the caller, plus the start of speech."""
