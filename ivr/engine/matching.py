"""From what a caller said to what they meant: phrase matching and the accept/confirm/reject rule.

Keys and speech meet here: both become an `Action`. A key maps to one action directly; an
utterance is matched against the phrases valid in the current state:

1. exact: the whole utterance is one phrase (after `normalize`) -> score 1.0;
2. contained: the utterance holds phrases of exactly one action ("我想找回密码") -> score
   0.6 + 0.4 x the share of the utterance they cover; phrases of two different actions
   ("是 不是", or a closed grammar's garbage "예 아니요 셋") -> no match at all;
3. similar: the closest phrase by character similarity, if at least 0.6 alike -> 0.8 x
   the similarity, so a near miss is confirmed rather than taken.

The score times the recognizer's confidence decides: at least `accept` -> take it; at least
`confirm` -> ask "您要咨询的是…吗"; below -> no-match. Out-of-grammar speech that a closed grammar
forces onto several phrases is therefore rejected, not taken as a confident choice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from enum import StrEnum

from ivr.menu.phrases import normalize


class ActionKind(StrEnum):
    SELECT = "select"
    """Choose an option of the current menu; value is its key."""
    SHORTCUT = "shortcut"
    """Go straight to a node below the current menu; value is its id."""
    GLOBAL = "global"
    """A global command; value is a GlobalAction."""
    STEP = "step"
    """Move through a procedure; value is next, repeat or previous."""
    CONFIRM = "confirm"
    """Answer a confirmation; value is yes or no."""


@dataclass(frozen=True, slots=True)
class Action:
    kind: ActionKind
    value: str
    parent: bool = False
    """Taken in the parent menu: a choice made while an answer is being said."""


@dataclass(frozen=True, slots=True)
class Choice:
    """A phrase the caller may say, and what it does."""

    phrase: str
    action: Action


class MatchKind(StrEnum):
    EXACT = "exact"
    CONTAINED = "contained"
    SIMILAR = "similar"


@dataclass(frozen=True, slots=True)
class Match:
    choice: Choice
    score: float
    kind: MatchKind


class Verdict(StrEnum):
    ACCEPT = "accept"
    CONFIRM = "confirm"
    REJECT = "reject"


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    score: float
    """Match score times recognition confidence."""
    match: Match | None = None


MIN_SIMILARITY = 0.6
SIMILAR_WEIGHT = 0.8


def match(text: str, choices: Sequence[Choice]) -> Match | None:
    """The best reading of ``text`` among ``choices``; None if there is none or it is ambiguous."""
    if any(token.startswith("<") and token.endswith(">") for token in text.split()):
        return None  # the recognizer heard something that is no menu word: a garbage path
    said = normalize(text)
    if not said:
        return None
    forms = [(normalize(choice.phrase), choice) for choice in choices]
    for form, choice in forms:
        if form == said:
            return Match(choice, 1.0, MatchKind.EXACT)
    contained = _outermost([(form, choice) for form, choice in forms if form and form in said])
    if contained:
        if len({choice.action for _, choice in contained}) > 1:
            return None  # two different things said at once
        form, choice = max(contained, key=lambda item: len(item[0]))
        covered = sum(len(f) for f, _ in contained)
        return Match(choice, 0.6 + 0.4 * min(covered / len(said), 1.0), MatchKind.CONTAINED)
    best: Match | None = None
    for form, choice in forms:
        similarity = SequenceMatcher(None, said, form).ratio()
        if similarity >= MIN_SIMILARITY and (
            best is None or similarity * SIMILAR_WEIGHT > best.score
        ):
            best = Match(choice, similarity * SIMILAR_WEIGHT, MatchKind.SIMILAR)
    return best


def _outermost(found: Iterable[tuple[str, Choice]]) -> list[tuple[str, Choice]]:
    """Drop phrases that only occur inside a longer phrase also found ("密码" in "找回密码")."""
    items = list(found)
    return [
        (form, choice)
        for form, choice in items
        if not any(form != other and form in other for other, _ in items)
    ]


def decide(found: Match | None, confidence: float, accept: float, confirm: float) -> Decision:
    """Apply the rejection rule to a match and the recognizer's confidence in the words."""
    if found is None:
        return Decision(Verdict.REJECT, 0.0)
    score = round(found.score * confidence, 3)
    if score >= accept:
        return Decision(Verdict.ACCEPT, score, found)
    if score >= confirm and found.choice.action.kind is not ActionKind.CONFIRM:
        return Decision(Verdict.CONFIRM, score, found)
    return Decision(Verdict.REJECT, score, found)
