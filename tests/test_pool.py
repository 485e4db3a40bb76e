"""The call pool drives many calls with exactly the session's rules.

Every comparison is event for event, with its call time: a call in the pool against the
same caller alone in a `Session` (`run_script` for key scripts). Calls that overlap are
compared on the wallet menu without its contact centre: in the pool they share one queue
(the point of a pool), alone each has the agents to itself.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable

import pytest

from ivr.callers.plan import CallerPlan, Plan, PlannedCaller
from ivr.callers.scripted import ScriptPlan
from ivr.clock import RealClock, VirtualClock
from ivr.drivers.centre import SimulatedCentre
from ivr.drivers.pool import DEFAULT_START, CallerHabits, CallPool, RandomCaller
from ivr.drivers.session import Session
from ivr.drivers.testing import RecordingPlayer, run_script
from ivr.engine.events import CallEvent, EventType, Outcome
from ivr.engine.flow import Call, CallFlow
from ivr.engine.inputs import CallerAction, HangUp, KeyPress, SpeechStarted, Utterance
from ivr.menu.model import Menu
from ivr.prompts.player import estimated_duration

MakeMenu = Callable[..., Menu]
Timed = list[tuple[float, CallEvent]]

WALLET_SCRIPTS = [
    "",  # hangs up as soon as the main menu has been said
    "12_1*#0",  # a procedure, a timeout, repeat, back, the agent
    "_",
    "___",  # three no-inputs: transferred
    "999",  # three no-matches: transferred
    "!1!2",  # barge-in through the greeting and the menu
    "1!1",  # barge-in into an answer's parent choice
    "21111111",  # a procedure to its closing advice and back
    "11",  # an answer, then the parent menu after it
    "11_",  # an answer, then silence in the parent
    "4*#",  # repeat in a menu, back
    "!0",  # the agent during the greeting
    "2!1!1!1_#",  # step keys during steps, silence, back
    "3_9__",  # failures counted per node
    "5!2!*!#!9!9!9",  # barge-in with global keys and no-matches until transferred
    "1 3 1 _ 3 3 1 1 1",
    "!1_!#_",  # barge-in, silence, barge-in with back
]


def timed_listener(into: dict[int, Timed]) -> Callable[[int, CallEvent, float], None]:
    def listen(call_id: int, event: CallEvent, moment: float) -> None:
        into[call_id].append((moment, event))

    return listen


def pool_run(
    flow: CallFlow,
    callers: list[tuple[float, CallerPlan]],
    duration: Callable[[str], float] = estimated_duration,
) -> tuple[CallPool, dict[int, Timed]]:
    events: dict[int, Timed] = defaultdict(list)
    pool = CallPool(flow, VirtualClock(), duration=duration, listeners=[timed_listener(events)])
    for at, caller in callers:
        pool.start(caller, at=at)
    pool.run()
    return pool, events


def solo(flow: CallFlow, caller: CallerPlan, duration: Callable[[str], float]) -> Timed:
    """The same caller alone in a Session on a virtual clock (with the contact centre a
    pool makes: Monday 10:00, no other callers)."""
    clock = VirtualClock()
    events: Timed = []
    spec = flow.menu.contact_centre
    Session(
        flow,
        PlannedCaller(caller, clock),
        RecordingPlayer(clock, duration),
        clock,
        [lambda event, moment: events.append((moment, event))],
        centre=SimulatedCentre(spec, DEFAULT_START) if spec is not None else None,
    ).run()
    return events


def shifted(events: Timed, start: float) -> Timed:
    return [(round(moment - start, 9), event) for moment, event in events]


def rounded(events: Timed) -> Timed:
    return [(round(moment, 9), event) for moment, event in events]


def fields(events: Timed) -> list[tuple[object, ...]]:
    """What the comparison is about, readable in a failure: type, state, text, key, time."""
    return [(e.type.value, e.state, e.text, e.key, t) for t, e in events]


@pytest.fixture(scope="module")
def wallet_flow(wallet: Menu) -> CallFlow:
    return CallFlow(wallet)


@pytest.fixture(scope="module")
def menu_only_flow(wallet: Menu) -> CallFlow:
    """The wallet menu without its contact centre: a transfer ends the call at once."""
    assert wallet.contact_centre is not None
    return CallFlow(dataclasses.replace(wallet, contact_centre=None))


@pytest.mark.parametrize("script", WALLET_SCRIPTS)
def test_a_call_in_the_pool_is_the_scripted_call(wallet_flow: CallFlow, script: str) -> None:
    expected = run_script(wallet_flow, script).events
    _, events = pool_run(wallet_flow, [(0.0, ScriptPlan(script))])
    assert fields(events[0]) == fields(expected)
    assert events[0] == expected  # every field of every event


FAILURE_ACTIONS = {
    "transfer": "{action: transfer}",
    "hangup": "{action: hangup}",
    "goto": "{action: goto, target: help, prompt: 请听帮助。}",
}


@pytest.mark.parametrize("failure", sorted(FAILURE_ACTIONS))
@pytest.mark.parametrize(
    "script", ["___", "777", "1_7_7", "!7!7!7", "1!1!1!1!1", "11_", "12!1", "2!*!#", "1_!9_!9"]
)
def test_max_failures_and_zero_length_prompts(
    make_menu: MakeMenu, failure: str, script: str
) -> None:
    """Goto after failures reports its move after the notice; a key due exactly at the end
    of a prompt that takes no time is still a barge-in, as in the session."""
    menu = make_menu(
        {
            "  no_input_timeout: 5\n": f"  no_input_timeout: 5\n  on_max_failures: {FAILURE_ACTIONS[failure]}\n"
        }
    )
    flow = CallFlow(menu)

    def duration(text: str) -> float:
        return float(len(text) % 4)  # some prompts take no time at all

    for seconds in (estimated_duration, duration):
        expected = run_script(flow, script, duration=seconds).events
        _, events = pool_run(flow, [(0.0, ScriptPlan(script))], duration=seconds)
        assert fields(events[0]) == fields(expected)
        assert events[0] == expected


def random_script(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(0, 12)):
        key = rng.choice("1111222333445*#09_")
        barge = key != "_" and rng.random() < 0.3
        parts.append(("!" if barge else "") + key)
    return "".join(parts)


def test_a_thousand_interleaved_calls_each_equal_its_solo_run(menu_only_flow: CallFlow) -> None:
    wallet_flow = menu_only_flow
    rng = random.Random(1)
    scripts = [random_script(rng) for _ in range(1000)]
    starts = [round(rng.uniform(0, 120), 3) for _ in scripts]
    pool, events = pool_run(
        wallet_flow, [(s, ScriptPlan(k)) for s, k in zip(starts, scripts, strict=True)]
    )
    assert pool.answered == pool.finished == 1000 and pool.active == 0
    spans = []
    for call_id, (script, start) in enumerate(zip(scripts, starts, strict=True)):
        expected = rounded(run_script(wallet_flow, script).events)
        assert shifted(events[call_id], start) == expected, (call_id, script)
        spans.append((events[call_id][0][0], events[call_id][-1][0]))
    overlapping = max(sum(1 for a, b in spans if a <= moment <= b) for moment, _ in spans)
    assert overlapping > 500  # most of them were in the call at the same time


def test_random_callers_equal_their_solo_runs(menu_only_flow: CallFlow) -> None:
    """Random paths, barge-in, hang-ups in the middle of a prompt and silences."""
    wallet_flow = menu_only_flow
    habits = CallerHabits(barge_in=0.5, silence=0.1, turns=(0, 15))
    seeds = range(300)
    starts = [seed * 0.37 for seed in seeds]
    callers: list[tuple[float, CallerPlan]] = [
        (start, RandomCaller(random.Random(seed), habits))
        for seed, start in zip(seeds, starts, strict=True)
    ]
    _, events = pool_run(wallet_flow, callers)
    hang_ups_during_prompts = 0
    for seed, start in zip(seeds, starts, strict=True):
        expected = rounded(
            solo(wallet_flow, RandomCaller(random.Random(seed), habits), estimated_duration)
        )
        assert shifted(events[seed], start) == expected, seed
        kinds = [e.type for _, e in expected]
        if (
            EventType.HANGUP in kinds
            and kinds[kinds.index(EventType.HANGUP) - 1] is EventType.PROMPT
        ):
            hang_ups_during_prompts += 1
    assert hang_ups_during_prompts > 10


class AtTheEnd:
    """Presses each key at the very end of a wait: as a prompt ends, or at the deadline."""

    def __init__(self, keys: str, listening_only: bool = False) -> None:
        self.keys = list(keys)
        self.listening_only = listening_only

    def next_input(self, now: float, until: float, listening: bool) -> Plan | None:
        if not self.keys:
            return (now, HangUp()) if listening else None
        if self.listening_only and not listening:
            return None
        return until, KeyPress(self.keys.pop(0))


@pytest.mark.parametrize("listening_only", [False, True])
def test_a_key_at_the_very_end_of_a_wait_is_heard_as_in_a_session(
    wallet_flow: CallFlow, listening_only: bool
) -> None:
    """A key due exactly at the end of a prompt is a barge-in, and one exactly at the
    no-input deadline is a key, not a silence: in the pool as in a session."""
    keys = "12#3#1"
    expected = solo(wallet_flow, AtTheEnd(keys, listening_only), estimated_duration)
    _, events = pool_run(wallet_flow, [(0.0, AtTheEnd(keys, listening_only))])
    assert fields(events[0]) == fields(expected)
    assert events[0] == expected
    kinds = [e.type for _, e in expected]
    assert kinds.count(EventType.KEY) == len(keys) and EventType.NO_INPUT not in kinds
    assert (EventType.BARGE_IN in kinds) is not listening_only


def test_a_script_whose_think_time_is_the_timeout_presses_at_the_deadline(
    wallet_flow: CallFlow,
) -> None:
    timeout = wallet_flow.menu.nodes[wallet_flow.menu.start].settings.no_input_timeout
    script = "1_2"
    recording = run_script(wallet_flow, script, think_time=timeout)
    _, events = pool_run(wallet_flow, [(0.0, ScriptPlan(script, think_time=timeout))])
    assert events[0] == recording.events
    assert [e.key for e in recording.of_type(EventType.KEY)] == ["1", "2"]
    assert len(recording.of_type(EventType.NO_INPUT)) == 1  # the script's own silence


class ActionPlan:
    """Does each action in turn: ``(True, a)`` 0.5 s into the next prompt, ``(False, a)``
    0.5 s after the prompts end; then hangs up."""

    def __init__(self, actions: list[tuple[bool, CallerAction]]) -> None:
        self.actions = list(actions)

    def next_input(self, now: float, until: float, listening: bool) -> Plan | None:
        if not self.actions:
            return (now, HangUp()) if listening else None
        during, action = self.actions[0]
        if during == listening:
            return None
        self.actions.pop(0)
        return now + 0.5, action


SPEECH_CASES: dict[str, list[tuple[bool, CallerAction]]] = {
    "typed choice": [(False, Utterance("账户问题"))],
    "speech stops the greeting": [(True, SpeechStarted()), (False, Utterance("交易咨询"))],
    "speech then nothing": [(True, SpeechStarted()), (True, SpeechStarted())],
    "speech in an answer": [
        (False, KeyPress("1")),
        (False, KeyPress("1")),
        (True, SpeechStarted()),
    ],
    "doubtful choice": [(False, Utterance("账户", 0.5)), (False, KeyPress("1"))],
    "started while listening": [(False, SpeechStarted()), (False, Utterance("重听"))],
}


@pytest.mark.parametrize("case", sorted(SPEECH_CASES))
def test_speech_inputs_as_in_a_session(wallet_flow: CallFlow, case: str) -> None:
    expected = solo(wallet_flow, ActionPlan(SPEECH_CASES[case]), estimated_duration)
    _, events = pool_run(wallet_flow, [(0.0, ActionPlan(SPEECH_CASES[case]))])
    assert events[0] == expected


def test_inputs_scheduled_from_outside(wallet_flow: CallFlow) -> None:
    events: dict[int, Timed] = defaultdict(list)
    ended: list[tuple[int, Outcome | None, float]] = []
    pool = CallPool(
        wallet_flow,
        listeners=[timed_listener(events)],
        on_end=lambda call_id, call, moment: ended.append((call_id, call.outcome, moment)),
    )
    first = pool.start()
    second = pool.start(at=10.0)
    pool.press(second, "1", at=5.0)  # before it is answered: nobody hears it
    pool.press(first, "2", at=3.0)  # during the greeting: barge-in
    pool.hang_up(first, at=20.0)  # during the transactions menu: no barge-in event
    pool.press(first, "1", at=30.0)  # after the end: ignored
    pool.run(until=12.0)
    assert pool.active == 2 and pool.call(first) is not None
    pool.hang_up(second, at=12.5)
    pool.run()
    kinds = [(t, e.type, e.key) for t, e in events[first]]
    assert kinds[:5] == [
        (0.0, EventType.CALL_START, None),
        (0.0, EventType.PROMPT, None),
        (3.0, EventType.BARGE_IN, "2"),
        (3.0, EventType.KEY, "2"),
        (3.0, EventType.STATE, None),
    ]
    assert kinds[-2:] == [(20.0, EventType.HANGUP, None), (20.0, EventType.CALL_END, None)]
    assert EventType.BARGE_IN not in [e.type for t, e in events[first] if t == 20.0]
    assert [e.type for _, e in events[second]][:2] == [EventType.CALL_START, EventType.PROMPT]
    assert EventType.KEY not in [e.type for _, e in events[second]]
    assert ended == [(second, Outcome.ABANDONED, 12.5), (first, Outcome.ABANDONED, 20.0)]
    assert pool.active == 0 and pool.call(first) is None
    pool.press(first, "1")  # a call that is over: nothing happens
    pool.run()
    assert pool.next_due() is None


def test_no_thread_per_call_and_a_broken_listener_stops_nothing(
    menu_only_flow: CallFlow,
) -> None:
    wallet_flow = menu_only_flow  # 50 transfers in 5 s would fill the centre's queue
    threads: list[int] = []

    def broken(call_id: int, event: CallEvent, moment: float) -> None:
        threads.append(threading.active_count())
        raise RuntimeError("a broken view")

    before = threading.active_count()
    events: dict[int, Timed] = defaultdict(list)
    pool = CallPool(wallet_flow, listeners=[broken, timed_listener(events)])
    # 50 calls, all in the call at once (each lasts longer than the 5 s they start in):
    # every event of each raises, and each raise is logged with its traceback (pytest
    # formats each record three times: 200 calls spent 1.5 CPU-s there)
    for n in range(50):
        pool.start(ScriptPlan("12_1*#0"), at=n * 0.1)
    pool.run()
    assert max(threads) == before
    assert pool.finished == 50
    ends = [e[-1][0] for e in events.values()]
    assert min(ends) > 49 * 0.1  # the first call ended after the last one started
    assert all(e[-1][1].outcome is Outcome.TRANSFERRED for e in events.values())


def test_a_real_clock_run_keeps_call_time(wallet_flow: CallFlow) -> None:
    """On a real clock events carry their due time, so they equal a virtual run's."""

    def quick(text: str) -> float:
        return len(text) * 0.001

    habits = CallerHabits(
        think=(0.01, 0.05), barge_in_after=(0.005, 0.02), turns=(1, 6), silence=0.0
    )

    def callers() -> list[tuple[float, CallerPlan]]:
        return [(n * 0.005, RandomCaller(random.Random(n), habits)) for n in range(50)]

    _, virtual = pool_run(wallet_flow, callers(), duration=quick)
    lags: list[float] = []
    events: dict[int, Timed] = defaultdict(list)
    pool = CallPool(
        wallet_flow,
        RealClock(),
        duration=quick,
        listeners=[timed_listener(events)],
        on_turn=lambda call_id, action, due, done: lags.append(done - due),
    )
    for at, caller in callers():
        pool.start(caller, at=at)
    began = time.monotonic()
    pool.run()
    took = time.monotonic() - began
    assert events == virtual
    last = max(e[-1][0] for e in virtual.values())
    assert last - 0.05 <= took < last + 2.0
    assert lags and min(lags) >= 0 and max(lags) < 0.5


def test_run_until_stops_at_that_time(wallet_flow: CallFlow) -> None:
    clock = VirtualClock()
    pool = CallPool(wallet_flow, clock)
    call_id = pool.start(ScriptPlan("1"))
    pool.run(until=7.5)
    assert clock.now() == pool.now == 7.5
    call = pool.call(call_id)
    assert isinstance(call, Call) and call.state == "main"
    pool.run()
    assert pool.call(call_id) is None and pool.finished == 1


@pytest.mark.parametrize(("timeout", "pressed"), [(0.5, True), (0.49, False)])
def test_a_key_due_exactly_at_the_no_input_deadline_is_pressed(
    make_menu: MakeMenu, timeout: float, pressed: bool
) -> None:
    """Only a key after the deadline is a silence: the scripted caller thinks 0.5 s, so with
    a 0.5 s timer its key is due at the deadline itself and is pressed, in both drivers."""
    menu = make_menu({"  no_input_timeout: 5\n": f"  no_input_timeout: {timeout}\n"})
    flow = CallFlow(menu)
    expected = run_script(flow, "1", think_time=0.5).events
    kinds = [e.type for _, e in expected]
    assert (EventType.KEY in kinds) is pressed
    assert (EventType.NO_INPUT in kinds) is not pressed
    if pressed:
        key = next(i for i, (_, e) in enumerate(expected) if e.type is EventType.KEY)
        start, last = next(
            (t, e) for t, e in reversed(expected[:key]) if e.type is EventType.PROMPT
        )
        prompts_end = start + estimated_duration(last.text or "")
        key_time = expected[key][0]
        assert key_time == pytest.approx(prompts_end + timeout)
    _, events = pool_run(flow, [(0.0, ScriptPlan("1"))])
    assert fields(events[0]) == fields(expected)
    assert events[0] == expected
