"""The verdict: each expectation of a scenario checked against the events of its call.

check returns the Failures, each with what was expected and what was heard instead.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence

import regex

from ivr.engine.events import CallEvent, EventType
from ivr.limits import PATTERN_SECONDS
from ivr.scenarios.model import Failure, Scenario, Turn


def check(
    scenario: Scenario,
    events: Sequence[tuple[float, CallEvent]],
    starts: Sequence[tuple[int, float]],
) -> list[Failure]:
    """Every expectation of the scenario that the call's events do not meet.

    ``starts``: for each turn begun, the index of its first event and its call time (see
    ``ScenarioCaller``). The first turn's window starts with the call.
    """
    failures: list[Failure] = []
    bounds = [0] + [index for index, _ in starts[1:]] + [len(events)]
    state = scenario.menu.start
    budget = _Budget(PATTERN_SECONDS)
    sensitive = any(
        node.collect is not None and node.collect.sensitive for node in scenario.menu.nodes.values()
    )  # a turn never played could have been a PIN: not quoted in such a menu
    for position, turn in enumerate(scenario.turns):
        if position >= len(starts):
            failures.append(_not_reached(turn, events, sensitive))
            continue
        window = [event for _, event in events[bounds[position] : bounds[position + 1]]]
        failures += _check_turn(turn, window, state, budget)
        state = window[-1].state if window else state
    failures += _check_call(scenario, events)
    return failures


def _not_reached(
    turn: Turn, events: Sequence[tuple[float, CallEvent]], masked: bool = False
) -> Failure:
    ended = [(t, e) for t, e in events if e.type is EventType.CALL_END]
    if ended:
        moment, end = ended[-1]
        heard = f"nothing: the call had ended ({end.outcome} at {moment:.1f} s in {end.state})"
    else:
        heard = "nothing: the hotline never waited for this turn"
    action = turn.describe(masked=masked)
    return Failure(turn.number, action, turn.line, "the turn to be played", heard)


class _Budget:
    """The time left for a scenario's regular expressions (PATTERN_SECONDS in all)."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def search(self, pattern: regex.Pattern[str], texts: Sequence[str]) -> bool | None:
        """Whether the pattern is found in one of the texts; None when time ran out."""
        for text in texts:
            left = self.deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                if pattern.search(text, timeout=left) is not None:
                    return True
            except TimeoutError:
                self.deadline = 0.0
                return None
        return False


def _check_turn(
    turn: Turn, window: list[CallEvent], before: str, budget: _Budget | None = None
) -> list[Failure]:
    failures: list[Failure] = []
    expect = turn.expect

    # a turn that keyed or said a sensitive entry is never quoted (the PIN is in the file)
    action = turn.describe(masked=any(e.sensitive for e in window))

    def fail(expected: str, heard: str) -> None:
        failures.append(Failure(turn.number, action, turn.line, expected, heard))

    entered = [e.state for e in window if e.type is EventType.STATE]
    if expect.states and not _in_order(expect.states, entered):
        where = window[-1].state if window else before
        heard = f"entered {' → '.join(entered)}" if entered else f"stayed in {where}"
        wanted = " → ".join(expect.states)
        fail(f"state {wanted}" if len(expect.states) == 1 else f"states {wanted}", heard)
    prompts = [e.text or "" for e in window if e.type is EventType.PROMPT]
    for text in expect.prompts:
        if not any(text in prompt for prompt in prompts):
            fail(f"a prompt containing 「{text}」", _prompts_heard(prompts))
    budget = budget or _Budget(PATTERN_SECONDS)
    for pattern in expect.patterns:
        searched = budget.search(pattern, prompts)
        if searched is None:
            fail(
                f"a prompt matching /{pattern.pattern}/",
                f"no answer in time: the scenario's regular expressions may search for "
                f"{PATTERN_SECONDS:g} s in all (limit PATTERN_SECONDS)",
            )
        elif not searched:
            fail(f"a prompt matching /{pattern.pattern}/", _prompts_heard(prompts))
    kinds = [e.type for e in window]
    for kind in expect.events:
        if kind not in kinds:
            fail(f"a {kind} event", _events_heard(window))
    for kind in expect.not_events:
        found = [e for e in window if e.type is kind]
        if found:
            fail(f"no {kind} event", "; ".join(_describe_event(e) for e in found[:3]))
    utterances = [e for e in window if e.type is EventType.UTTERANCE]
    said = "; ".join(_describe_event(e) for e in utterances) or "no utterance recognized"
    if expect.decision is not None and expect.decision not in {e.decision for e in utterances}:
        fail(f"an utterance judged {expect.decision}", said)
    if expect.recognized is not None:
        wanted = " ".join(expect.recognized.split())
        if wanted not in {e.text for e in utterances}:
            fail(f"the words 「{wanted}」 recognized", said)
    return failures


def _check_call(scenario: Scenario, events: Sequence[tuple[float, CallEvent]]) -> list[Failure]:
    expect = scenario.expect
    failures: list[Failure] = []
    ends = [(t, e) for t, e in events if e.type is EventType.CALL_END]
    moment, end = ends[-1] if ends else (events[-1][0] if events else 0.0, None)
    summary = f"{end.outcome} at {moment:.1f} s in {end.state}" if end else "no end of call"

    def fail(expected: str, heard: str) -> None:
        failures.append(Failure(None, "call", expect.line, expected, heard))

    if expect.outcome is not None and (end is None or end.outcome is not expect.outcome):
        fail(f"outcome {expect.outcome}", summary)
    if expect.max_duration is not None and moment > expect.max_duration + 1e-9:
        fail(f"a call of at most {expect.max_duration:g} s", f"{moment:.1f} s ({summary})")
    if expect.state is not None and (end is None or end.state != expect.state):
        fail(f"the call to end in {expect.state}", summary)
    entered = [e.state for _, e in events if e.type is EventType.STATE]
    if expect.states is not None and list(expect.states) != entered:
        fail(f"the path {' → '.join(expect.states)}", " → ".join(entered) or "no node entered")
    return failures


def _in_order(wanted: Sequence[str], seen: Sequence[str]) -> bool:
    """True if ``wanted`` occurs in ``seen`` in this order (not necessarily adjacent)."""
    remaining = iter(seen)
    return all(any(state == item for item in remaining) for state in wanted)


def _short(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _prompts_heard(prompts: list[str]) -> str:
    if not prompts:
        return "no prompt"
    shown = ", ".join(f"「{_short(p)}」" for p in prompts[:6])
    more = f" and {len(prompts) - 6} more" if len(prompts) > 6 else ""
    return f"prompts {shown}{more}"


def _events_heard(window: list[CallEvent]) -> str:
    if not window:
        return "no event"
    counts = Counter(e.type for e in window)
    order = list(dict.fromkeys(e.type for e in window))
    return "events " + ", ".join(
        f"{kind}×{counts[kind]}" if counts[kind] > 1 else str(kind) for kind in order
    )


def _describe_event(event: CallEvent) -> str:
    if event.type is EventType.UTTERANCE:
        return (
            f"「{event.text}」 (confidence {event.confidence}) → {event.decision} in {event.state}"
        )
    detail = [f"{name} {value}" for name, value in event.to_record().items() if name in (
        "key", "count", "reason", "outcome")]  # fmt: skip
    return f"{event.type} in {event.state}" + (f" ({', '.join(detail)})" if detail else "")
