"""The `transitions` machine is built once per menu graph and shared by every `CallFlow` of
that graph, in any thread: these tests fail if sharing it lets one call's move wait on,
or leak into, another's."""

from __future__ import annotations

import dataclasses
import random
import sys
import threading

from ivr.engine.events import CallEvent
from ivr.engine.flow import Call, CallFlow
from ivr.engine.inputs import CallInput, KeyPress, NoInput, PromptsFinished
from ivr.menu.model import Menu, load
from tests.conftest import WALLET


def test_flows_of_one_graph_share_a_machine_and_other_graphs_get_their_own(
    wallet: Menu,
) -> None:
    again = load(WALLET)  # a menu object of its own, as every `ivr call` loads
    assert again is not wallet
    assert CallFlow(again).machine is CallFlow(wallet).machine
    alone = dataclasses.replace(wallet, contact_centre=None)
    machine = CallFlow(alone).machine
    assert machine is not CallFlow(wallet).machine
    assert "self-service" not in machine.events and "end:callback" not in machine.events
    assert "self-service" in CallFlow(wallet).machine.events


class _Meddler:
    """A model that, when the machine sets its state, first lets another call take a step:
    what a call in another thread does in the middle of this one's transition."""

    def __init__(self, state: str, meddle: list[object]) -> None:
        self._state = state
        self.meddle = meddle

    @property
    def state(self) -> str:
        return self._state

    @state.setter
    def state(self, value: str) -> None:
        self._state = value
        while self.meddle:
            step = self.meddle.pop()
            assert callable(step)
            step()


def test_a_call_moves_at_once_while_another_calls_move_is_under_way(wallet: Menu) -> None:
    target = wallet.nodes[wallet.start].options["1"]
    alone = CallFlow(wallet)
    expected_call, _ = alone.start()
    expected = alone.handle(expected_call, KeyPress("1"))

    other = CallFlow(load(WALLET))  # the other call's own flow, of the same graph
    call, _ = other.start()
    seen: list[list[CallEvent]] = []
    first = _Meddler(wallet.start, [lambda: seen.append(other.handle(call, KeyPress("1")))])
    CallFlow(wallet).machine.events["select:1"].trigger(first)

    assert first.state == target
    assert call.state == target == expected_call.state
    assert seen == [expected]  # moved during the first call's move, not after it


def _inputs(rng: random.Random) -> list[CallInput]:
    said: list[CallInput] = []
    for _ in range(rng.randint(3, 12)):
        pick = rng.random()
        if pick < 0.15:
            said.append(NoInput())
        elif pick < 0.3:
            said.append(PromptsFinished())
        else:
            said.append(KeyPress(rng.choice("0123456789*#")))
    return said


Played = list[tuple[list[CallEvent], Call]]


def _play(flow: CallFlow, calls: list[list[CallInput]]) -> Played:
    """Each call's events and where it ended (its state, phase and counts)."""
    played = []
    for inputs in calls:
        call, events = flow.start()
        for received in inputs:
            events += flow.handle(call, received)
        played.append((events, call))
    return played


def test_calls_in_threads_on_flows_of_one_menu_go_as_each_would_alone(wallet: Menu) -> None:
    rng = random.Random(7)
    work = [[_inputs(rng) for _ in range(150)] for _ in range(4)]
    expected = [_play(CallFlow(wallet), calls) for calls in work]
    results: list[Played | BaseException | None] = [None] * len(work)
    start = threading.Barrier(len(work))

    def run(index: int) -> None:
        try:
            flow = CallFlow(load(WALLET))  # each thread's call flow, as the web phone's
            start.wait()
            results[index] = _play(flow, work[index])
        except BaseException as error:
            results[index] = error

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns as often as they can
    try:
        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(work))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    assert results == expected
