"""A caller who follows a key script, on a virtual clock: ``ivr call --keys "12_1*#0"``.

Each character is a key pressed once the hotline has finished speaking (after a short
think time); ``_`` is a caller who stays silent until the no-input timer fires; ``!`` before
a key presses it while the prompt is still being said (barge-in); spaces are ignored. When
the script runs out the caller hangs up, as soon as the hotline waits for them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ivr.callers.plan import Plan, PlannedCaller
from ivr.clock import VirtualClock
from ivr.engine.inputs import TELEPHONE_KEYS, HangUp, KeyPress
from ivr.errors import IvrError
from ivr.limits import KEY_SCRIPT_CHARS

SILENCE = "_"
BARGE_IN = "!"


class ScriptError(IvrError, ValueError):
    """A key script that is too long, or has a character that is not a key, ``_`` or ``!``."""


@dataclass(frozen=True)
class ScriptedAction:
    key: str | None
    """None for silence."""
    barge_in: bool = False


def parse_script(script: str) -> list[ScriptedAction]:
    """The actions of ``script``; a ScriptError (one line) says what is wrong with it."""
    if len(script) > KEY_SCRIPT_CHARS:
        raise ScriptError(
            f"key script: {len(script)} characters, more than the {KEY_SCRIPT_CHARS} allowed"
        )
    actions = []
    barge_in = False
    for position, char in enumerate(script, start=1):
        if char.isspace():
            continue
        if char == BARGE_IN:
            barge_in = True
            continue
        if char == SILENCE and not barge_in:
            actions.append(ScriptedAction(None))
        elif char in TELEPHONE_KEYS:
            actions.append(ScriptedAction(char, barge_in))
        else:
            raise ScriptError(
                f"key script: {char!r} at position {position} is not a key (0-9 * #), "
                f"'{SILENCE}' (silence) or '{BARGE_IN}' before a key (barge-in)"
            )
        barge_in = False
    if barge_in:
        raise ScriptError(f"key script: '{BARGE_IN}' at the end must be followed by a key")
    return actions


class ScriptPlan:
    """A caller following a key script: the plan of ``ivr call --keys``, of a scenario's
    ``press`` turns and of scripted callers in a pool.

    Each key is pressed ``think_time`` after the hotline starts listening: one that would
    come after the no-input deadline is a silence, one exactly at it is still a key. ``!``
    presses the key ``barge_in_delay`` into the next prompt (at most half way through it,
    however short the prompt); ``_`` stays silent until the deadline. When the script runs
    out the caller hangs up as soon as the hotline waits for them.
    """

    __slots__ = ("actions", "barge_in_delay", "think_time")

    def __init__(self, script: str, think_time: float = 0.5, barge_in_delay: float = 1.0) -> None:
        self.actions: deque[ScriptedAction] = deque(parse_script(script))
        self.think_time = think_time
        self.barge_in_delay = barge_in_delay

    def next_input(self, now: float, until: float, listening: bool) -> Plan | None:
        if not self.actions:
            return (now, HangUp()) if listening else None
        action = self.actions[0]
        if action.key is not None and action.barge_in and not listening:
            self.actions.popleft()
            return min(now + self.barge_in_delay, (now + until) / 2), KeyPress(action.key)
        if not listening:
            return None
        self.actions.popleft()
        if action.key is None or now + self.think_time > until:
            return None
        return now + self.think_time, KeyPress(action.key)


class ScriptedCaller(PlannedCaller):
    """A key script as a session's caller, on a virtual clock."""

    def __init__(
        self,
        script: str,
        clock: VirtualClock,
        think_time: float = 0.5,
        barge_in_delay: float = 1.0,
    ) -> None:
        super().__init__(ScriptPlan(script, think_time, barge_in_delay), clock)
