"""What the engine decides, as events: played, shown and logged by the session."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum


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


class Outcome(StrEnum):
    TRANSFERRED = "transferred"
    """Handed to an agent, on request or after too many failures."""
    ABANDONED = "abandoned"
    """The caller hung up."""
    DISCONNECTED = "disconnected"
    """The hotline hung up (the hangup action)."""


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

    def to_record(self) -> dict[str, object]:
        """The event as a JSON-ready dict, without the fields that do not apply."""
        return {name: value for name, value in asdict(self).items() if value is not None}
