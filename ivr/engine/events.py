"""What the engine decides, as events: played, shown and logged by the session."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from enum import StrEnum
from typing import TYPE_CHECKING

from ivr.menu.model import MASK

if TYPE_CHECKING:
    from ivr.engine.backoffice import Request


class EventType(StrEnum):
    CALL_START = "call-start"
    STATE = "state"
    PROMPT = "prompt"
    KEY = "key"
    UTTERANCE = "utterance"
    NO_INPUT = "no-input"
    NO_MATCH = "no-match"
    BARGE_IN = "barge-in"
    TRANSFER = "transfer"
    HANGUP = "hangup"
    CALL_END = "call-end"
    DIGITS = "digits"
    """A collect node's entry, complete and valid, stored in its variable."""
    REQUEST = "request"
    """The engine asks the back office to perform an operation (the driver does)."""
    REPLY = "reply"
    """The back office's result (or ``error``: unavailable, or no reply in time)."""
    QUEUE = "queue"
    """The contact centre: ``enter``, ``position`` (count, seconds: the estimate), ``closed``,
    ``full``."""
    AGENT = "agent"
    """An agent answers after ``seconds`` in the queue."""
    CALLBACK = "callback"
    """The caller accepted a callback after ``seconds`` in the queue (stored)."""
    RECORD = "record"
    """A record node: ``start`` (after the beep), then how it ended (``terminator``,
    ``silence``, ``max-length``, ``no-input``, ``hangup``, ``skipped``) with ``seconds``
    and, for a message kept, its reference as ``text``."""


RECORD_REASONS = ("start", "terminator", "silence", "max-length", "no-input", "hangup", "skipped")
"""The ``reason`` of a ``record`` event (docs/call-log.md): the codes the call log keeps;
the console and the transcript say them in the menu's language (ivr/outputs/catalogue.py)."""


class PromptKind(StrEnum):
    """Why a prompt is said; the console and logs use it, the player does not."""

    GREETING = "greeting"
    MENU = "menu"
    REPROMPT = "reprompt"
    NOTICE = "notice"
    ANSWER = "answer"
    INTRO = "intro"
    STEP = "step"
    HINT = "hint"
    CLOSING = "closing"
    GOODBYE = "goodbye"
    CONFIRM = "confirm"
    COLLECT = "collect"
    """A collect node asks for digits."""
    HOLD = "hold"
    """An action's hold prompt (the back office is slow), or the queue's hold prompt."""
    QUEUE = "queue"
    """The contact centre speaks: position and estimate, closed, full, the offers."""
    RECORD = "record"
    """A record node asks for a voice message."""
    BEEP = "beep"
    """The tone after which the recording starts."""


class Outcome(StrEnum):
    TRANSFERRED = "transferred"
    """Handed to an agent, on request or after too many failures."""
    ABANDONED = "abandoned"
    """The caller hung up."""
    DISCONNECTED = "disconnected"
    """The hotline hung up (the hangup action)."""
    CALLBACK = "callback"
    """The caller left a number to be called back (a menu with a contact centre)."""


@dataclass(frozen=True, slots=True)
class CallEvent:
    """One thing that happened in a call, at the state it happened in."""

    type: EventType
    state: str
    text: str | None = None
    kind: PromptKind | None = None
    key: str | None = None
    count: int | None = None
    outcome: Outcome | None = None
    reason: str | None = None
    confidence: float | None = None
    """Utterances: the recognizer's confidence in the words."""
    decision: str | None = None
    """Utterances: accept, confirm or reject."""
    score: float | None = None
    """Utterances: match score times confidence, which the decision compares."""
    phrase: str | None = None
    """Utterances: the phrase it was matched to."""
    operation: str | None = None
    """Requests and replies: the back-office operation."""
    result: str | None = None
    """Replies: the operation's result."""
    sensitive: bool | None = None
    """True for what a sensitive collection heard (a PIN's keys, its digits, an utterance)
    and for entering it: `masked` hides the values; None otherwise (not logged)."""
    request: Request | None = None
    """Requests: what to ask the back office. Never recorded (it may hold a PIN)."""
    seconds: float | None = None
    """Queue events: the estimated wait, or the wait itself (agent, callback, hang-up)."""
    context: tuple[tuple[str, str], ...] | None = None
    """Transfers in a self-service menu: what the agent needs (verified or not, the masked
    account, the path taken, the case looked up), as (name, text) pairs; never a PIN."""

    def masked(self) -> CallEvent:
        """The event as anything outside the engine may see it: a sensitive event's key,
        text and phrase are ``MASK``. The timeline reports only masked events, so the log,
        the transcript, the console, the call WAV and the reports never get a clear PIN."""
        if self.request is not None:
            return replace(self, request=None).masked()
        if not self.sensitive:
            return self
        secret = self.type in _SECRET
        return replace(
            self,
            key=None if self.key is None else MASK,
            text=MASK if secret and self.text is not None else self.text,
            phrase=None if self.phrase is None else MASK,
            request=None,
        )

    def to_record(self) -> dict[str, object]:
        """The event as a JSON-ready dict, without the fields that do not apply (masked)."""
        event = self.masked()
        record = {name: value for name in _RECORDED if (value := getattr(event, name)) is not None}
        if event.context is not None:
            record["context"] = dict(event.context)
        return record


_SECRET = frozenset({EventType.KEY, EventType.UTTERANCE, EventType.DIGITS, EventType.NO_MATCH})
"""Events whose text is what the caller keyed or said (a no-match's text: an invalid entry)."""

_RECORDED = tuple(f.name for f in fields(CallEvent) if f.name != "request")
