"""Self-service menus: collect nodes (keyed and spoken digits), sensitive entries, back-office
actions, templates read aloud, switches; each rule of docs/design.md "Self-service nodes"."""

from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
import sys
import wave
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console

from ivr import cli
from ivr.callers.plan import Plan, PlannedCaller
from ivr.clock import VirtualClock
from ivr.drivers.memory import MAX_ATTEMPTS, Account, MemoryBackOffice, demo, from_data
from ivr.drivers.pool import CallPool
from ivr.drivers.session import Session
from ivr.drivers.testing import RecordingPlayer
from ivr.engine.backoffice import BackOfficeUnavailable, Reply, Request
from ivr.engine.digits import spoken_digits
from ivr.engine.events import CallEvent, EventType, Outcome
from ivr.engine.flow import CallFlow, Phase
from ivr.engine.inputs import CallerAction, HangUp, KeyPress, NoInput, Utterance
from ivr.engine.readings import date, digits, fill, money, number, read, time
from ivr.menu.model import MASK, NodeKind, load
from ivr.menu.problems import MenuInvalid
from ivr.menu.templates import TemplateError, parse
from ivr.outputs.artifacts import CallAudio, Transcript
from ivr.outputs.call_log import CallLog
from ivr.outputs.console import ConsoleView
from ivr.prompts.player import estimated_duration
from tests.conftest import ROOT

MENU = ROOT / "tests" / "menus" / "selfservice.zh-CN.yaml"
CALLS = ROOT / "tests" / "calls" / "selfservice"
PHONE = "13800138000"
PIN = "123456"


@pytest.fixture(scope="module")
def flow() -> CallFlow:
    return CallFlow(load(MENU, cached=False))


class Steps:
    """A caller plan: each action ``think`` seconds after the hotline starts listening
    (``None``: stay silent through that wait); hangs up when the list runs out."""

    def __init__(self, actions: Sequence[CallerAction | None], think: float = 0.5) -> None:
        self.actions = list(actions)
        self.think = think

    def next_input(self, now: float, until: float, listening: bool) -> Plan | None:
        if not listening:
            return None
        if not self.actions:
            return now + self.think, HangUp()
        action = self.actions.pop(0)
        return None if action is None else (now + self.think, action)


def keys(text: str) -> list[CallerAction | None]:
    return [None if k == "_" else KeyPress(k) for k in text]


def call(
    flow: CallFlow,
    actions: Sequence[CallerAction | None],
    *,
    office: MemoryBackOffice | None = None,
    caller_id: str | None = PHONE,
    listeners: Sequence[Any] = (),
) -> tuple[list[tuple[float, CallEvent]], Outcome | None]:
    clock = VirtualClock()
    events: list[tuple[float, CallEvent]] = []
    caller = PlannedCaller(Steps(actions), clock)
    session = Session(
        flow,
        caller,
        RecordingPlayer(clock),
        clock,
        [lambda e, t: events.append((t, e)), *listeners],
        backoffice=office if office is not None else demo(),
        caller_id=caller_id,
    )
    return events, session.run().outcome


def states(events: list[tuple[float, CallEvent]]) -> list[str]:
    return [e.state for _, e in events if e.type is EventType.STATE]


def prompts(events: list[tuple[float, CallEvent]]) -> list[str]:
    return [e.text or "" for _, e in events if e.type is EventType.PROMPT]


def of(events: list[tuple[float, CallEvent]], kind: EventType) -> list[tuple[float, CallEvent]]:
    return [(t, e) for t, e in events if e.type is kind]


# --- collect nodes: keys ----------------------------------------------------------------


def test_the_terminator_ends_the_entry_and_stores_it(flow: CallFlow) -> None:
    events, _ = call(flow, keys("1") + keys(PIN + "#"))
    assert states(events)[:3] == ["by_caller", "ask_pin", "verify"]
    (done,) = [e for _, e in of(events, EventType.DIGITS)]
    assert done.reason == "terminator"


def test_a_phone_number_is_keyed_digit_by_digit_and_checked_against_its_pattern(
    flow: CallFlow,
) -> None:
    events, _ = call(flow, keys("1") + keys("23456789012#") + keys("13911112222#"), caller_id=None)
    no_match = of(events, EventType.NO_MATCH)[0][1]
    assert no_match.reason == "invalid-entry" and no_match.text == "23456789012"
    assert states(events)[:4] == ["by_caller", "ask_phone", "find", "ask_pin"]


def test_digits_are_digits_in_a_collect_node_even_a_global_keys(flow: CallFlow) -> None:
    """0 is the agent key of the menu, but in an entry it is a digit (VoiceXML's field
    grammar wins over document grammars; FreeSWITCH play_and_get_digits)."""
    events, _outcome = call(flow, keys("1") + keys("000000#"), office=demo())
    assert not of(events, EventType.TRANSFER)
    assert "verify" in states(events)


def test_star_clears_the_entry_and_asks_again(flow: CallFlow) -> None:
    events, _ = call(flow, keys("1") + keys("999*") + keys(PIN + "#"))
    asked = [p for p in prompts(events) if p.startswith("请输入六位支付密码")]
    assert len(asked) == 2  # the prompt, and again after *
    assert not of(events, EventType.NO_MATCH)
    assert states(events)[:3] == ["by_caller", "ask_pin", "verify"]


def test_a_digit_beyond_the_maximum_is_a_no_match_at_once(flow: CallFlow) -> None:
    events, _ = call(flow, keys("1") + keys("1234567"))
    (no_match,) = [e for _, e in of(events, EventType.NO_MATCH)]
    assert no_match.reason == "invalid-entry" and no_match.text == MASK  # sensitive


def test_the_terminator_without_digits_is_a_no_match(flow: CallFlow) -> None:
    events, _ = call(flow, keys("1#"))
    (no_match,) = [e for _, e in of(events, EventType.NO_MATCH)]
    assert no_match.key == MASK and no_match.count == 1


def test_max_failures_in_a_collect_node_run_its_action(flow: CallFlow) -> None:
    events, outcome = call(flow, keys("1###"))
    assert outcome is Outcome.TRANSFERRED
    assert of(events, EventType.TRANSFER)[0][1].state == "ask_pin"


# --- collect nodes: the timeline's deadlines --------------------------------------------


def test_first_digit_timeout_then_inter_digit_timeout(flow: CallFlow) -> None:
    """No digit: the no-input comes at the first-digit timeout (the node's no-input
    timeout, 5 s) after the prompt; a digit then silence: the entry ends 3 s after it."""
    events, _ = call(flow, [*keys("1"), None, *keys("123456"), None], caller_id=PHONE)
    prompt_end = {}
    for t, e in of(events, EventType.PROMPT):
        if e.text and e.text.startswith("请输入六位支付密码"):
            prompt_end.setdefault("first", t + estimated_duration(e.text))
    (no_input,) = [t for t, _ in of(events, EventType.NO_INPUT)]
    assert no_input == pytest.approx(prompt_end["first"] + 5.0)
    last_key = of(events, EventType.KEY)[-1][0]
    (done,) = of(events, EventType.DIGITS)
    assert done[1].reason == "timeout"
    assert done[0] == pytest.approx(last_key + 3.0)


def test_the_deadlines_come_from_the_node(tmp_path: Path) -> None:
    text = MENU.read_text("utf-8").replace(
        "      sensitive: true\n",
        "      sensitive: true\n      first_digit_timeout: 8\n      inter_digit_timeout: 1.5\n",
    )
    menu = tmp_path / "m.zh-CN.yaml"
    menu.write_text(text, "utf-8")
    flow = CallFlow(load(menu, cached=False))
    events, _ = call(flow, [*keys("1"), None, *keys("12"), None])
    prompt = next(
        (t, e) for t, e in of(events, EventType.PROMPT) if (e.text or "").startswith("请输入六位")
    )
    assert of(events, EventType.NO_INPUT)[0][0] == pytest.approx(
        prompt[0] + estimated_duration(prompt[1].text or "") + 8.0
    )
    # two digits, then 1.5 s of silence: the entry is over (and too short: a no-match)
    last_key = of(events, EventType.KEY)[-1][0]
    assert of(events, EventType.NO_MATCH)[0][0] == pytest.approx(last_key + 1.5)


# --- collect nodes: spoken digits -------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "meant"),
    [
        ("幺三八零零幺三八零零零", "13800138000"),
        ("一 三 九 一 一 一 一 两 两 两 两", "13911112222"),
        ("幺二三，四五六。", "123456"),
        ("123456", "123456"),
        ("拐洞", "70"),
        ("人工", None),
        ("一百", None),
        ("", None),
    ],
)
def test_spoken_digits(said: str, meant: str | None) -> None:
    assert spoken_digits(said) == meant


def test_the_grammar_of_a_collect_node_is_the_digit_words_and_the_commands(flow: CallFlow) -> None:
    call_, _ = flow.start("ask_phone")
    grammar = flow.grammar(call_)
    assert {"幺", "两", "零", "九"} <= set(grammar)
    assert "人工" in grammar


def test_a_spoken_number_is_one_whole_entry(flow: CallFlow) -> None:
    events, _ = call(flow, [*keys("1"), Utterance("幺三九幺幺幺幺两两两两")], caller_id=None)
    heard = of(events, EventType.UTTERANCE)[0][1]
    assert heard.decision == "accept" and heard.phrase == "13911112222"
    assert states(events)[:4] == ["by_caller", "ask_phone", "find", "ask_pin"]


def test_unsure_spoken_digits_are_a_no_match_never_confirmed(flow: CallFlow) -> None:
    """Confirming would say the digits back (a PIN!): an unsure number is asked again."""
    events, _ = call(flow, [*keys("1"), Utterance("幺二三四五六", confidence=0.5)])
    assert of(events, EventType.NO_MATCH)
    assert not [p for p in prompts(events) if "吗" in p]


def test_a_spoken_command_still_works_in_a_collect_node(flow: CallFlow) -> None:
    _, outcome = call(flow, [*keys("1"), Utterance("转人工")])
    assert outcome is Outcome.TRANSFERRED


# --- sensitive entries ------------------------------------------------------------------


def test_a_sensitive_entry_is_masked_in_every_event_that_leaves_the_timeline(
    flow: CallFlow,
) -> None:
    events, _ = call(flow, keys("1") + keys("654321#") + keys("1") + [Utterance("幺二三四五六")])
    pin_events = [e for _, e in events if e.sensitive]
    assert {e.type for e in pin_events} >= {EventType.KEY, EventType.DIGITS, EventType.UTTERANCE}
    for event in pin_events:
        assert event.key in (None, MASK) and event.text in (None, MASK, event.text)
        if event.type in (EventType.KEY, EventType.DIGITS, EventType.UTTERANCE):
            assert MASK in (event.key, event.text)
    dumped = json.dumps([e.to_record() for _, e in events], ensure_ascii=False)
    assert "654321" not in dumped and "幺二三四五六" not in dumped and "123456" not in dumped


def test_masked_is_the_one_rule_and_to_record_applies_it() -> None:
    clear = CallEvent(EventType.KEY, "ask_pin", key="7", sensitive=True)
    assert clear.masked().key == MASK and clear.to_record()["key"] == MASK
    plain = CallEvent(EventType.KEY, "main", key="7")
    assert plain.masked() is plain and "sensitive" not in plain.to_record()
    request = CallEvent(
        EventType.REQUEST,
        "verify",
        operation="verify_pin",
        request=Request("verify_pin", {"pin": "123456"}, "c"),
    )
    assert request.masked().request is None and "request" not in request.to_record()


def test_the_engine_never_says_a_sensitive_variable(flow: CallFlow) -> None:
    flow.start("main", {"pin": "123456"})
    assert fill("密码{pin}", {"pin": "123456"}, flow.hidden) == "密码"
    assert "pin" in flow.hidden


def test_the_call_wav_silences_the_caller_while_a_pin_is_collected(tmp_path: Path) -> None:
    flow = CallFlow(load(MENU, cached=False))
    audio = CallAudio(None)
    events, _ = call(flow, keys("1") + keys("99_") + keys(PIN + "#"), listeners=[audio])
    # speech from the caller throughout the call: only the PIN entry is silenced
    end = events[-1][0]
    audio.caller_audio(0.0, np.full(int(end * 16000), 3000, np.int16))
    audio.write(tmp_path / "call.wav")
    with wave.open(str(tmp_path / "call.wav")) as wav:
        frames = np.frombuffer(wav.readframes(wav.getnframes()), np.int16).reshape(-1, 2)
    caller = frames[:, 0]
    entered = next(t for t, e in events if e.type is EventType.STATE and e.state == "ask_pin")
    left = next(t for t, e in events if e.type is EventType.STATE and e.state == "verify")
    # (the tone of the key that led there may ring 60 ms into it: it is not the PIN's)
    inside = caller[int((entered + 0.1) * 16000) : int(left * 16000) - 10]
    assert inside.size and not inside.any()
    before = caller[: int(entered * 16000) - 10]
    assert (before != 0).mean() > 0.99  # the "1" pressed in the menu is heard too


# --- back-office actions ----------------------------------------------------------------


def test_a_slow_reply_gets_the_hold_prompt_after_hold_after(flow: CallFlow) -> None:
    office = demo()
    office.latency = 2.5
    events, _ = call(flow, keys("1") + keys(PHONE + "#"), office=office, caller_id=None)
    (request,) = [t for t, e in of(events, EventType.REQUEST) if e.state == "find"]
    hold = next(t for t, e in of(events, EventType.PROMPT) if e.text == "正在为您查询，请稍候。")
    assert hold == pytest.approx(request + 1.0)
    (reply,) = [(t, e) for t, e in of(events, EventType.REPLY) if e.state == "find"]
    hold_end = hold + estimated_duration("正在为您查询，请稍候。")
    assert reply[0] == pytest.approx(max(request + 2.5, hold_end))
    assert reply[1].result == "found"


def test_a_quick_reply_gets_no_hold_prompt(flow: CallFlow) -> None:
    office = demo()
    office.latency = 0.9
    events, _ = call(flow, keys("1") + keys(PHONE + "#"), office=office, caller_id=None)
    assert "正在为您查询，请稍候。" not in prompts(events)
    (request,) = [t for t, e in of(events, EventType.REQUEST) if e.state == "find"]
    (reply,) = [t for t, e in of(events, EventType.REPLY) if e.state == "find"]
    assert reply == pytest.approx(request + 0.9)


def test_no_reply_within_the_timeout_is_error(flow: CallFlow) -> None:
    office = demo()
    office.latency = 30
    events, _ = call(flow, keys("1"), office=office)
    (request,) = [t for t, _ in of(events, EventType.REQUEST)]
    (reply,) = [(t, e) for t, e in of(events, EventType.REPLY)]
    assert reply[0] == pytest.approx(request + 5.0)
    assert (reply[1].result, reply[1].reason) == ("error", "timeout")
    assert states(events)[:2] == ["by_caller", "sorry"]


def test_an_unavailable_back_office_is_error_logged_once(
    flow: CallFlow, caplog: pytest.LogCaptureFixture
) -> None:
    office = demo()
    office.down = True
    events, outcome = call(flow, keys("1") + keys("0"), office=office)
    (reply,) = [e for _, e in of(events, EventType.REPLY)]
    assert reply.result == "error" and (reply.reason or "").startswith("unavailable")
    assert states(events) == ["by_caller", "sorry"]
    assert outcome is Outcome.TRANSFERRED
    assert len([r for r in caplog.records if "unavailable" in r.getMessage()]) == 1


def test_a_broken_back_office_is_error_not_a_crash(flow: CallFlow) -> None:
    class Broken:
        def perform(self, request: Request) -> Reply:
            raise RuntimeError("bug")

    clock = VirtualClock()
    events: list[tuple[float, CallEvent]] = []
    Session(
        flow,
        PlannedCaller(Steps(keys("1")), clock),
        RecordingPlayer(clock),
        clock,
        [lambda e, t: events.append((t, e))],
        backoffice=Broken(),
    ).run()
    assert of(events, EventType.REPLY)[0][1].result == "error"


def test_keys_during_the_wait_are_not_heard_a_hang_up_is(flow: CallFlow) -> None:
    office = demo()
    office.latency = 4
    pool = CallPool(flow, backoffice=office)
    seen: list[CallEvent] = []
    pool.listeners.append(lambda i, e, t: seen.append(e))
    call_id = pool.start(caller_id=PHONE)
    pool.press(call_id, "1", at=7.0)  # during the greeting: barge-in, then by_caller waits
    pool.press(call_id, "0", at=8.0)  # the back office is working: not heard
    pool.hang_up(call_id, at=9.0)
    pool.run()
    assert [e.key for e in seen if e.type is EventType.KEY] == ["1"]
    assert not [e for e in seen if e.type is EventType.REPLY]
    assert seen[-1].type is EventType.CALL_END and seen[-1].outcome is Outcome.ABANDONED


def test_the_pool_and_a_session_agree_on_a_self_service_call(flow: CallFlow) -> None:
    script = keys("1") + keys("111111#") + keys("1") + keys(PIN + "#") + keys("0")
    office = demo()
    office.latency = 1.7
    alone, _ = call(flow, script, office=office)
    office = demo()
    office.latency = 1.7
    pooled: list[tuple[float, CallEvent]] = []
    pool = CallPool(flow, backoffice=office, listeners=[lambda i, e, t: pooled.append((t, e))])
    pool.start(Steps(script), caller_id=PHONE)
    pool.run()
    assert [(round(t, 6), e) for t, e in pooled] == [(round(t, 6), e) for t, e in alone]


def test_reply_values_become_variables_read_aloud(flow: CallFlow) -> None:
    events, _ = call(flow, keys("1") + keys(PIN + "#"))
    assert (
        "您二零二六年三月十四日十四点零五分在城市超市支付的一百二十三元四角五分未能成功，"
        "原因是余额不足，请充值后再试。"
    ) in prompts(events)
    assert states(events)[-2:] == ["low_balance", "main"]


def test_a_switch_takes_its_default_for_other_values(flow: CallFlow) -> None:
    office = demo()
    office.accounts[0].transactions[0].cause = "网络不稳定"
    events, _ = call(flow, keys("1") + keys(PIN + "#"), office=office)
    assert "cause" in states(events) and "other_cause" in states(events)
    assert any(p.endswith("原因是网络不稳定。") for p in prompts(events))


def test_three_wrong_pins_lock_the_account(flow: CallFlow) -> None:
    office = demo()
    events, _ = call(flow, keys("1111111#1222222#1333333#"), office=office)
    assert states(events)[-2:] == ["locked", "main"]
    assert "密码错误，您还可以再试两次。重新输入请按1，人工服务请按0。" in prompts(events)
    assert office.accounts[0].locked
    again, _ = call(flow, keys("1") + keys(PIN + "#"), office=office)
    assert "locked" in states(again)  # the right PIN does not unlock it


def test_requests_carry_the_call_id_caller_id_and_sensitive_names(flow: CallFlow) -> None:
    office = demo()
    call(flow, keys("1") + keys(PIN + "#"), office=office)
    verify = next(r for r in office.requests if r.operation == "verify_pin")
    assert verify.values == {"account_id": "A001", "pin": PIN}
    assert verify.sensitive == frozenset({"pin"})
    assert verify.caller_id == PHONE
    assert len({r.call_id for r in office.requests}) == 1 and verify.call_id


def test_without_a_back_office_every_action_is_error(flow: CallFlow) -> None:
    clock = VirtualClock()
    events: list[tuple[float, CallEvent]] = []
    Session(
        flow,
        PlannedCaller(Steps(keys("1")), clock),
        RecordingPlayer(clock),
        clock,
        [lambda e, t: events.append((t, e))],
    ).run()
    assert of(events, EventType.REPLY)[0][1].reason == "no back office"


def test_the_engine_waits_in_its_own_phase(flow: CallFlow) -> None:
    call_, events = flow.start("by_caller", {"caller_id": PHONE})
    assert call_.phase is Phase.WAITING and events[-1].type is EventType.REQUEST
    assert flow.handle(call_, KeyPress("0")) == []
    assert flow.handle(call_, NoInput()) == []


# --- the in-memory back office ----------------------------------------------------------


def test_memory_back_office_locks_after_max_attempts_and_files_one_ticket_per_call() -> None:
    office = MemoryBackOffice([Account("A", "139", "1111")])
    for attempt in range(1, MAX_ATTEMPTS):
        reply = office.perform(Request("verify_pin", {"account_id": "A", "pin": "0"}, "c"))
        assert reply == Reply("wrong_pin", {"attempts_left": MAX_ATTEMPTS - attempt})
    assert office.perform(Request("verify_pin", {"account_id": "A", "pin": "0"}, "c")).result == (
        "locked"
    )
    ticket = Request("file_ticket", {"account_id": "A", "category": "complaint"}, "call-1")
    assert office.perform(ticket) == office.perform(ticket)
    other = office.perform(replace_call(ticket, "call-2"))
    assert other.values["ticket_number"] != office.perform(ticket).values["ticket_number"]
    office.down = True
    with pytest.raises(BackOfficeUnavailable):
        office.perform(ticket)


def replace_call(request: Request, call_id: str) -> Request:
    return Request(request.operation, request.values, call_id)


def test_from_data_builds_accounts_or_the_demo() -> None:
    assert from_data({}).accounts == demo().accounts
    office = from_data({"accounts": [{"phone": 139, "pin": 1}], "latency": 2, "down": True})
    assert office.accounts[0].phone == "139" and office.latency == 2.0 and office.down


# --- templates and readings -------------------------------------------------------------


def test_readings() -> None:
    assert money(Decimal("123.45")) == "一百二十三元四角五分"
    assert money(Decimal("100")) == "一百元"
    assert money("100.05") == "一百元零五分"
    assert money("0.5") == "五角"
    assert date(dt.date(2026, 12, 2)) == "二零二六年十二月二日"
    assert time(dt.time(14, 5)) == "十四点零五分" and time(dt.time(9, 0)) == "九点整"
    assert digits("13800138000") == "幺三八零零幺三八零零零"
    assert number(123) == "一百二十三" and number(2) == "两"
    assert read(Decimal("4.00")) == "四元" and read(dt.date(2026, 1, 5)) == "二零二六年一月五日"
    assert read("城市超市") == "城市超市" and read(None) == ""
    assert read("not money", "money") == "not money"  # never fails on a value


def test_template_syntax() -> None:
    assert [f for _, f in parse("{a}与{b:digits}，{{x}}") if f] == [("a", ""), ("b", "digits")]
    for bad in ("{a:euros}", "{a!r}", "{A}", "{a.b}", "{", "{0}"):
        with pytest.raises(TemplateError):
            parse(bad)
    assert fill("{{金额}}：{amount:money}", {"amount": Decimal("1.5")}) == "{金额}：一元五角"


def test_a_keyed_wallet_call_does_not_import_cn2an() -> None:
    code = (
        "import sys; from ivr.cli import main; "
        "main(['call', '--keys', '12_1*#0', '--quiet']); "
        "print('cn2an' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert out.strip().splitlines()[-1] == "False"


# --- the checker ------------------------------------------------------------------------


def problems_of(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "m.zh-CN.yaml"
    path.write_text(text, "utf-8")
    try:
        load(path, cached=False)
    except MenuInvalid as invalid:
        return [str(p) for p in invalid.problems]
    return []


BASE = MENU.read_text("utf-8")


def line(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


@pytest.mark.parametrize(
    ("old", "new", "at", "message"),
    [
        (
            "operation: verify_pin",
            "operation: verify_password",
            "operation: verify_password",
            "unknown operation 'verify_password'",
        ),
        (
            "verified: failed_payment, wrong_pin: wrong_pin,",
            "verified: failed_payment,",
            "results: {verified: failed_payment, locked",
            "result 'wrong_pin' of verify_pin is not branched on",
        ),
        (
            "locked: locked, error: sorry}",
            "locked: locked, error: sorry, lost: sorry}",
            "lost: sorry",
            "verify_pin has no result 'lost'",
        ),
        (
            '{account_id: "{account_id}", pin: "{pin}"}',
            '{account_id: "{account_id}"}',
            'with: {account_id: "{account_id}"}',
            "verify_pin takes 'pin': give it in with",
        ),
        (
            '{account_id: "{account_id}", pin: "{pin}"}',
            '{account_id: "{account_id}", pin: "{pin}", name: x}',
            "name: x",
            "verify_pin does not take 'name'",
        ),
        (
            "results: {verified: failed_payment",
            "results: {verified: nowhere",
            "verified: nowhere",
            "unknown target 'nowhere'",
        ),
        ("next: verify", "next: nowhere", "next: nowhere", "unknown target 'nowhere'"),
        (
            "再试{attempts_left:number}次",
            "再试{attempts:number}次",
            "prompt: 密码错误",
            "unknown variable {attempts}: no node sets it",
        ),
        (
            "再试{attempts_left:number}次",
            "再试{attempts_left:times}次",
            "prompt: 密码错误",
            "unknown reading {attempts_left:times}",
        ),
        (
            "再试{attempts_left:number}次",
            "再试{attempts_left:number}次，密码{pin}",
            "prompt: 密码错误",
            "{pin} is sensitive",
        ),
        (
            "      max_length: 6\n",
            "      max_length: 33\n",
            "max_length: 33",
            "max_length 33 is more than 32 digits (limit COLLECT_DIGITS)",
        ),
        (
            "      min_length: 6\n",
            "      min_length: 7\n",
            "min_length: 7",
            "min_length 7 is above max_length 6",
        ),
        (
            'pattern: "1[3-9][0-9]{9}"',
            'pattern: "1[3-9"',
            "pattern:",
            "bad regular expression",
        ),
        (
            "    timeout: 5\n",
            "    timeout: 61\n",
            "timeout: 61",
            "61 s is longer than 60 s (limit BACKOFFICE_SECONDS)",
        ),
        (
            "      sensitive: true\n",
            "      sensitive: true\n      terminator: '5'\n",
            "terminator: '5'",
            "terminator '5' is a digit",
        ),
        ("switch: cause", "switch: causes", "switch: causes", "switch on 'causes', which no node"),
        (
            '      "9": main\n',
            '      "9": main\n      "2": unknown\n',
            "prompt: 抱歉，没有找到手机号",
            "{phone} is not set on every way to this node",
        ),
        (
            "default: other_cause",
            "default: cause",
            "  cause:\n    title: 失败原因",
            "switch 'cause' leads back to itself",
        ),
    ],
)
def test_check_finds_each_self_service_problem_at_its_line(
    tmp_path: Path, old: str, new: str, at: str, message: str
) -> None:
    assert old in BASE
    text = BASE.replace(old, new, 1)
    found = problems_of(tmp_path, text)
    expected_line = line(text, at)
    assert any(f":{expected_line}: " in p and message in p for p in found), (found, expected_line)


def test_the_self_service_menu_is_valid_and_cached_alike(tmp_path: Path) -> None:
    fresh = load(MENU, cached=False)
    assert {n.kind for n in fresh.nodes.values()} >= {
        NodeKind.COLLECT,
        NodeKind.ACTION,
        NodeKind.SWITCH,
    }
    assert load(MENU) == fresh and load(MENU) == fresh  # stored, then from the cache
    assert fresh.nodes["low_balance"].parent == "main"  # reached through flow nodes
    assert "find.hold" in {p.id for p in fresh.prompts()}


# --- scenarios and the CLI --------------------------------------------------------------


def test_the_self_service_scenarios_pass() -> None:
    from ivr.scenarios import Status, run_scenarios

    results = run_scenarios([CALLS])
    assert len(results) >= 9
    bad = [r.explain() for r in results if r.status not in (Status.PASSED, Status.SKIPPED)]
    assert not bad, bad


def test_ivr_call_takes_the_caller_id(tmp_path: Path) -> None:
    """``ivr call --caller`` asks the database back office (``--db``): a demo caller."""
    from ivr.backoffice.database import Database
    from ivr.backoffice.demo import callers
    from ivr.backoffice.settings import Rules, database_url

    db = tmp_path / "backoffice.sqlite3"
    assert cli.main(["db", "init", "--demo", "5", "--db", str(db)]) == 0
    known = Database(database_url(str(db)), Rules(), create=False)
    (caller,) = callers(known, "failed-payment")
    known.dispose()
    log = tmp_path / "call.jsonl"
    code = cli.main(
        [
            "call",
            "--menu",
            str(MENU),
            "--keys",
            "1" + caller.pin + "#",
            "--quiet",
            "--caller",
            caller.phone,
            "--db",
            str(db),
            "--log",
            str(log),
        ]
    )
    assert code == 0
    records = [json.loads(x) for x in log.read_text("utf-8").splitlines()]
    assert [r["result"] for r in records if r["type"] == "reply"][:3] == [
        "found",
        "verified",
        "found",
    ]
    assert caller.pin not in log.read_text("utf-8")


def test_console_shows_the_collect_node_and_masks_the_pin(flow: CallFlow) -> None:
    out = io.StringIO()
    view = ConsoleView(flow.menu, Console(file=out, width=100, highlight=False))
    call(flow, keys("1") + keys(PIN + "#"), listeners=[view])
    text = out.getvalue()
    assert "输入 6–6 位数字" in text and "清空重输" in text
    assert f"按键 {MASK}" in text and f"输入 {MASK}" in text
    assert PIN not in text


def test_transcript_lines_for_entries_and_the_back_office(tmp_path: Path, flow: CallFlow) -> None:
    transcript = Transcript(tmp_path / "t.txt")
    log = CallLog(tmp_path / "log.jsonl")
    call(flow, keys("1") + keys(PIN + "#"), listeners=[transcript, log])
    transcript.close()
    log.close()
    text = (tmp_path / "t.txt").read_text("utf-8")
    assert f"（输入完成：{MASK}）" in text and "（后台：verify_pin）" in text
    assert "（后台结果：verified）" in text and PIN not in text


def test_the_readme_self_service_example_checks_and_plays(tmp_path: Path) -> None:
    import re

    import yaml

    readme = (ROOT / "README.md").read_text("utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", readme, re.S)
    example = yaml.safe_load(next(b for b in blocks if "collect:" in b))["nodes"]
    stub = "{title: 说明, answer: 好的。}"
    text = (
        "language: zh-CN\nstart: main\nglobal_keys: {'0': agent}\nnodes:\n"
        "  main: {title: 总菜单, prompt: 查询请按1。, options: {'1': find}}\n"
        "  find: {title: 查找, operation: find_account, with: {phone: '{caller_id}'},"
        " results: {found: failed, not_found: sorry, error: sorry}}\n"
        "  failed: {title: 交易, operation: latest_failed_transaction,"
        " with: {account_id: '{account_id}'}, results: {found: ask_pin, none: sorry, error: sorry}}\n"
        + "".join(f"  {n}: {stub}\n" for n in ("wrong", "locked", "sorry", "other_cause"))
        + "  balance: {title: 余额, prompt: 原因请按1。, options: {'1': cause}}\n"
    )
    document = yaml.safe_load(text)
    document["nodes"].update(example)
    path = tmp_path / "example.zh-CN.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), "utf-8")
    assert cli.main(["check", str(path)]) == 0
    events, _ = call(CallFlow(load(path)), [*keys("1"), *keys(PIN + "#")])
    assert states(events)[:4] == ["find", "failed", "ask_pin", "verify"]


def test_a_recorded_callers_wav_has_no_pin_tones(tmp_path: Path) -> None:
    """``ivr call --record`` rebuilds the caller's side from the key events: a sensitive
    entry's keys are masked there, so no tone is made, and its time is silent."""
    audio = CallAudio(None)
    audio(CallEvent(EventType.KEY, "main", key="1"), 1.0)
    audio(CallEvent(EventType.STATE, "ask_pin", text="输入支付密码", sensitive=True), 1.0)
    for i in range(6):
        audio(CallEvent(EventType.KEY, "ask_pin", key="5", sensitive=True).masked(), 2.0 + i)
    audio(CallEvent(EventType.STATE, "verify", text="验证密码"), 9.0)
    audio.write_caller(tmp_path / "caller.wav", until=10.0)
    with wave.open(str(tmp_path / "caller.wav")) as wav:
        rate = wav.getframerate()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), np.int16)
    assert samples[int(1.0 * rate) : int(1.05 * rate)].any()  # the menu key: a tone
    assert not samples[int(1.2 * rate) :].any()  # the PIN: nothing
