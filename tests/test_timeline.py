"""The call's timing rules, with no clock: each test gives the timeline its call times and
checks what it reported and what it waits for. The same rules through a session and a
pool are compared event for event in tests/test_pool.py."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from ivr.audio.wav import AudioClip
from ivr.callers.plan import PlannedCaller, Speech
from ivr.callers.scripted import ScriptPlan
from ivr.clock import VirtualClock
from ivr.drivers.pool import CallPool
from ivr.drivers.session import Session
from ivr.drivers.testing import FakeRecognizer, RecordingPlayer, run_script
from ivr.drivers.timeline import CallTimeline, Wait
from ivr.engine.events import CallEvent, EventType, Outcome
from ivr.engine.flow import CallFlow, Phase
from ivr.engine.inputs import CallerAction, HangUp, KeyPress, SpeechStarted, Utterance
from ivr.hearing.tracker import UtteranceTracker
from ivr.menu.model import Menu

MakeMenu = Callable[..., Menu]

GREETING = "欢迎致电。"
MAIN = "账户请按1，帮助请按2，人工服务请按0。"
ACCOUNT = "密码请按1，注册请按2。"
HELP = "帮助内容。"
TRANSFER = "正在为您转接人工客服，请稍候。"


class Driver:
    """Says every prompt in ``seconds`` (starting ``late`` after it is asked to) and
    remembers everything the timeline told it."""

    def __init__(self, flow: CallFlow, seconds: float = 2.0, late: float = 0.0) -> None:
        self.flow = flow
        self.seconds = seconds
        self.late = late
        self.events: list[tuple[float, CallEvent]] = []
        self.said: list[tuple[float, str]] = []
        self.hushed: list[int] = []
        self.changes = 0

    def say(self, line: CallTimeline, text: str, now: float) -> float:
        self.said.append((now, text))
        return now + self.late + self.seconds

    def hush(self, line: CallTimeline) -> None:
        self.hushed.append(len(self.events))

    def report(self, line: CallTimeline, event: CallEvent, now: float) -> None:
        self.events.append((now, event))

    def changed(self, line: CallTimeline) -> None:
        self.changes += 1

    def kinds(self) -> list[tuple[float, EventType, str | None]]:
        return [(t, e.type, e.text or e.key) for t, e in self.events]


@pytest.fixture
def flow(make_menu: MakeMenu) -> CallFlow:
    return CallFlow(make_menu())


def answered(flow: CallFlow, driver: Driver | None = None) -> tuple[CallTimeline, Driver]:
    driver = driver or Driver(flow)
    line = CallTimeline(driver)
    line.answer(0.0)
    return line, driver


def listening(flow: CallFlow) -> tuple[CallTimeline, Driver]:
    """A call whose greeting and main menu have been said (at 0-2 s and 2-4 s)."""
    line, driver = answered(flow)
    line.time_out(2.0)
    line.time_out(4.0)
    assert (line.wait, line.until) == (Wait.LISTENING, 9.0)
    return line, driver


def test_prompts_are_said_in_turn_and_the_timer_starts_after_the_last(flow: CallFlow) -> None:
    line, driver = answered(flow)
    assert driver.kinds() == [(0.0, EventType.CALL_START, None), (0.0, EventType.PROMPT, GREETING)]
    assert (line.wait, line.until) == (Wait.SAYING, 2.0)
    line.time_out(2.0)
    assert driver.kinds()[-1] == (2.0, EventType.PROMPT, MAIN)
    assert (line.wait, line.until) == (Wait.SAYING, 4.0)
    line.time_out(4.0)
    assert (line.wait, line.until) == (Wait.LISTENING, 9.0)  # 5 s from the end of the last
    line.time_out(9.0)
    assert [k for k in driver.kinds() if k[0] == 9.0][0][1] is EventType.NO_INPUT
    assert line.wait is Wait.SAYING  # the reprompt


def test_a_prompt_ends_when_the_driver_says_it_does(flow: CallFlow) -> None:
    """A player that renders first starts late; the timer counts from the real end."""
    line, _ = answered(flow, Driver(flow, seconds=2.0, late=0.25))
    assert line.until == 2.25


def test_a_key_during_a_prompt_stops_it_and_drops_the_queued_ones(flow: CallFlow) -> None:
    line, driver = answered(flow)
    assert line.receive(KeyPress("1"), 1.0)
    assert driver.hushed == [2]
    assert driver.kinds()[2:] == [
        (1.0, EventType.BARGE_IN, GREETING),
        (1.0, EventType.KEY, "1"),
        (1.0, EventType.STATE, "账户"),
        (1.0, EventType.PROMPT, ACCOUNT),  # the main menu is never said
    ]
    barge = driver.events[2][1]
    assert (barge.key, barge.reason) == ("1", "key")
    assert (line.wait, line.until) == (Wait.SAYING, 3.0)


def test_a_hang_up_during_a_prompt_stops_it_without_a_barge_in(flow: CallFlow) -> None:
    line, driver = answered(flow)
    assert line.receive(HangUp(), 1.0)
    assert driver.hushed == [2]
    assert [k[1] for k in driver.kinds()[2:]] == [EventType.HANGUP, EventType.CALL_END]
    assert line.wait is Wait.IDLE


def test_events_after_prompts_are_reported_when_they_end(flow: CallFlow) -> None:
    line, driver = listening(flow)
    assert line.receive(KeyPress("0"), 5.0)
    assert driver.kinds()[-1] == (5.0, EventType.PROMPT, TRANSFER)
    assert (line.wait, line.until) == (Wait.CLOSING, 7.0)
    assert not line.receive(KeyPress("1"), 6.0)  # nobody listens any more
    assert driver.kinds()[-1] == (5.0, EventType.PROMPT, TRANSFER)
    line.time_out(7.0)
    assert driver.kinds()[-2:] == [(7.0, EventType.TRANSFER, None), (7.0, EventType.CALL_END, None)]
    assert line.wait is Wait.IDLE


def test_an_answer_moves_on_once_its_prompts_are_said(flow: CallFlow) -> None:
    line, driver = listening(flow)
    line.receive(KeyPress("2"), 5.0)
    assert line.call is not None and (line.call.state, line.call.phase) == ("help", Phase.PLAYING)
    assert (line.wait, line.until) == (Wait.SAYING, 7.0)
    line.time_out(7.0)
    assert line.call.state == "main" and line.call.phase is Phase.LISTENING
    assert (7.0, EventType.STATE, "主菜单") in driver.kinds()


def test_speech_stops_a_prompt_and_the_timer_runs_until_words_come(flow: CallFlow) -> None:
    line, driver = answered(flow)
    assert line.receive(SpeechStarted(), 1.0)
    barge = driver.events[-1][1]
    assert (barge.type, barge.key, barge.reason) == (EventType.BARGE_IN, None, "speech")
    assert (line.wait, line.until) == (Wait.LISTENING, 6.0)  # from the moment speech began
    assert line.receive(SpeechStarted(), 3.0)
    assert (line.wait, line.until) == (Wait.LISTENING, 6.0)  # more speech moves nothing
    line.receive(Utterance("账户"), 3.5)
    assert line.call is not None and line.call.state == "account"


def test_without_speech_barge_in_words_over_a_prompt_are_not_heard(make_menu: MakeMenu) -> None:
    """``speech.barge_in: false``: speech does not stop a prompt and is not heard; keys still
    barge in."""
    flow = CallFlow(make_menu({"language: zh-CN": "language: zh-CN\nspeech: {barge_in: false}"}))
    line, driver = answered(flow)
    assert not line.receive(SpeechStarted(), 1.0)
    assert not line.receive(Utterance("账户"), 1.5)
    assert (line.wait, line.until) == (Wait.SAYING, 2.0)  # the greeting goes on
    assert EventType.BARGE_IN not in [e.type for _, e in driver.events]
    assert line.receive(KeyPress("1"), 1.8)  # a key still stops it
    assert EventType.BARGE_IN in [e.type for _, e in driver.events]
    assert line.call is not None and line.call.state == "account"


def test_speech_that_stops_an_answer_leaves_it_to_the_words(flow: CallFlow) -> None:
    line, _ = listening(flow)
    line.receive(KeyPress("2"), 5.0)
    line.receive(SpeechStarted(), 6.0)
    assert line.call is not None and line.call.phase is Phase.PLAYING
    assert (line.wait, line.until) == (Wait.LISTENING, 11.0)  # not the answer's end
    line.time_out(11.0)  # nothing said after all: the answer was just cut short
    assert line.call.state == "main" and line.call.no_input_count == 0


def test_nothing_is_heard_before_the_answer_or_after_the_end(flow: CallFlow) -> None:
    driver = Driver(flow)
    line = CallTimeline(driver)
    assert not line.receive(KeyPress("1"), 0.0)
    line.time_out(0.0)
    assert driver.events == [] and line.wait is Wait.IDLE
    line.answer(1.0)
    line.receive(HangUp(), 2.0)
    reported = len(driver.events)
    assert not line.receive(KeyPress("1"), 3.0)
    line.time_out(3.0)
    assert len(driver.events) == reported


def test_the_driver_hears_when_the_call_moves_on(flow: CallFlow) -> None:
    line, driver = answered(flow)
    assert driver.changes == 1  # answered: the caller needs the main menu's phrases
    line.receive(KeyPress("1"), 1.0)
    assert driver.changes == 2
    line.receive(HangUp(), 2.0)
    assert driver.changes == 2  # over: nothing more to listen for


def test_a_dropped_line_ends_as_a_hang_up_with_nothing_more_said(flow: CallFlow) -> None:
    line, driver = answered(flow)
    line.drop(1.0)
    assert driver.hushed == [2]
    assert [k[1] for k in driver.kinds()[2:]] == [EventType.HANGUP, EventType.CALL_END]
    assert line.call is not None and line.call.outcome is Outcome.ABANDONED
    assert line.wait is Wait.IDLE and len(driver.said) == 1


def test_a_call_in_the_pool_costs_no_dictionary(flow: CallFlow) -> None:
    """Ten thousand calls in a pool: every field of a call is a slot."""
    pool = CallPool(flow)
    call_id = pool.start(ScriptPlan("1"))
    line = pool._lines[call_id]
    assert not hasattr(line, "__dict__")
    assert not hasattr(CallTimeline(Driver(flow)), "__dict__")


# -- the deadline: a key exactly at it is a key ---------------------------------------


def test_a_key_exactly_at_the_deadline_is_a_key(flow: CallFlow) -> None:
    line, driver = listening(flow)
    assert line.receive(KeyPress("1"), 9.0)
    assert EventType.NO_INPUT not in [e.type for _, e in driver.events]
    assert line.call is not None and line.call.state == "account"


@pytest.mark.parametrize(("think", "taken"), [(4.99, True), (5.0, True), (5.01, False)])
def test_a_scripted_key_is_silence_only_after_the_deadline(
    flow: CallFlow, think: float, taken: bool
) -> None:
    plan = ScriptPlan("1", think_time=think)
    assert (plan.next_input(4.0, 9.0, True) is not None) is taken
    calls = run_script(flow, "1", think_time=think, duration=lambda text: 2.0)
    keys, silences = calls.times(EventType.KEY), calls.times(EventType.NO_INPUT)
    assert (keys, silences) == (([4.0 + think], []) if taken else ([], [9.0]))


# -- a plan run on a virtual clock ----------------------------------------------------


class Steps:
    """Each step in turn, ``delay`` after the hotline starts listening; then hangs up."""

    def __init__(self, steps: list[tuple[float, CallerAction | Speech]]) -> None:
        self.steps = list(steps)

    def next_input(
        self, now: float, until: float, listening: bool
    ) -> tuple[float, CallerAction | Speech] | None:
        if not listening:
            return None
        if not self.steps:
            return now, HangUp()
        delay, step = self.steps.pop(0)
        return now + delay, step


def unheard(seconds: float, waits: bool) -> Speech:
    """Silence the recognizer hears nothing in."""
    return Speech(AudioClip(np.zeros(int(16000 * seconds), np.int16), 16000), waits)


@pytest.mark.parametrize("waits", [True, False])
def test_speech_nobody_hears_waits_out_the_wait_or_goes_on(flow: CallFlow, waits: bool) -> None:
    """A recorded caller who is not heard waits to be answered; a scenario goes on."""
    clock = VirtualClock()
    plan = Steps([(0.5, unheard(2.0, waits)), (0.5, KeyPress("1"))])
    caller = PlannedCaller(plan, clock, UtteranceTracker(FakeRecognizer([])))
    events: list[tuple[float, CallEvent]] = []
    player = RecordingPlayer(clock, lambda text: 2.0)
    Session(flow, caller, player, clock, [lambda e, t: events.append((t, e))]).run()
    kinds = [
        (round(t, 6), e.type) for t, e in events if e.type in (EventType.KEY, EventType.NO_INPUT)
    ]
    # listening from 4 s; the clip is said from 4.5 s to 6.5 s, then nothing is heard
    if waits:
        assert kinds[:1] == [(9.0, EventType.NO_INPUT)]  # the key comes after the reprompt
    else:
        assert kinds[:1] == [(7.0, EventType.KEY)]  # at once, after the think time


def test_the_caller_speaks_at_the_planned_time_and_is_heard_by_its_recognizer(
    flow: CallFlow,
) -> None:
    clock = VirtualClock()
    loud = np.concatenate([np.zeros(3200, np.int16), np.full(8000, 8000, np.int16)])
    plan = Steps(
        [(0.5, Speech(AudioClip(np.concatenate([loud, np.zeros(16000, np.int16)]), 16000)))]
    )
    fake = FakeRecognizer([("账户", 0.9)])
    heard: list[tuple[float, np.ndarray]] = []
    caller = PlannedCaller(plan, clock, UtteranceTracker(fake))
    caller.audio_sink = lambda moment, chunk: heard.append((moment, chunk))
    events: list[tuple[float, CallEvent]] = []
    player = RecordingPlayer(clock, lambda text: 2.0)
    Session(flow, caller, player, clock, [lambda e, t: events.append((t, e))]).run()
    ((moment, said),) = [(t, e) for t, e in events if e.type is EventType.UTTERANCE]
    assert said.text == "账户" and said.state == "main"
    assert moment == pytest.approx(4.5 + 0.2 + 0.5 + 0.5, abs=0.021)  # lead, speech, silence
    assert heard[0][0] == 4.5 and all(len(chunk) == 320 for _, chunk in heard)
    assert fake.grammars[0] is not None and "账户" in fake.grammars[0]
