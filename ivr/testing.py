"""Fakes and helpers for testing menus and the engine; users' own test suites can use them.

`run_script` plays a key script against a menu on a virtual clock and returns every event
with its call time, which is what most behaviour tests need.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ivr.clock import Clock, VirtualClock
from ivr.engine import Call, CallFlow
from ivr.events import CallEvent, EventType, Outcome
from ivr.menu import Menu
from ivr.player import estimated_duration
from ivr.scripted import ScriptedCaller
from ivr.session import Listener, Session


@dataclass
class RecordingPlayer:
    """A player that says nothing and remembers what it was asked to say and when."""

    clock: Clock
    duration: Callable[[str], float] = estimated_duration
    started: list[tuple[float, str]] = field(default_factory=list)
    stopped: list[float] = field(default_factory=list)

    def start(self, text: str) -> float:
        self.started.append((self.clock.now(), text))
        return self.duration(text)

    def stop(self) -> None:
        self.stopped.append(self.clock.now())


@dataclass
class CallRecording:
    """Everything a scripted call did."""

    call: Call
    events: list[tuple[float, CallEvent]]
    player: RecordingPlayer

    @property
    def outcome(self) -> Outcome | None:
        return self.call.outcome

    def of_type(self, kind: EventType) -> list[CallEvent]:
        return [event for _, event in self.events if event.type is kind]

    def times(self, kind: EventType) -> list[float]:
        return [moment for moment, event in self.events if event.type is kind]

    @property
    def prompts(self) -> list[str]:
        """Texts of the prompts that started, in order."""
        return [event.text or "" for event in self.of_type(EventType.PROMPT)]

    @property
    def states(self) -> list[str]:
        """Nodes entered after the start, in order."""
        return [event.state for event in self.of_type(EventType.STATE)]

    @property
    def end(self) -> CallEvent:
        return self.of_type(EventType.CALL_END)[-1]


def run_script(
    menu: Menu | CallFlow,
    script: str,
    *,
    think_time: float = 0.5,
    duration: Callable[[str], float] = estimated_duration,
    listeners: tuple[Listener, ...] = (),
) -> CallRecording:
    """Play a key script (see ivr.scripted) against a menu, on a virtual clock."""
    flow = menu if isinstance(menu, CallFlow) else CallFlow(menu)
    clock = VirtualClock()
    player = RecordingPlayer(clock, duration)
    events: list[tuple[float, CallEvent]] = []

    def record(event: CallEvent, moment: float) -> None:
        events.append((moment, event))

    caller = ScriptedCaller(script, clock, think_time=think_time)
    call = Session(flow, caller, player, clock, [record, *listeners]).run()
    return CallRecording(call, events, player)
