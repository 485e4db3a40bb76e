"""A PIN never appears in anything a call leaves behind, whatever the caller does.

For random PINs and random call paths through the self-service menu (the PIN keyed, keyed
wrong, cleared with *, cut short, spoken as 幺二三…, silence, hang-ups anywhere), the PIN's
digits (and the words it was said in) are no substring of the call log, the transcript,
the console, the scenario's artifacts, its JUnit report or its coverage markdown.
"""

from __future__ import annotations

import io
import re
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from rich.console import Console

from ivr.callers.plan import Plan, PlannedCaller
from ivr.clock import VirtualClock
from ivr.drivers.memory import Account, MemoryBackOffice
from ivr.drivers.session import Session
from ivr.drivers.testing import RecordingPlayer
from ivr.engine.events import CallEvent, EventType
from ivr.engine.flow import CallFlow
from ivr.engine.inputs import CallerAction, HangUp, KeyPress, Utterance
from ivr.menu.model import load
from ivr.outputs.artifacts import Transcript
from ivr.outputs.call_log import CallLog
from ivr.outputs.console import ConsoleView
from ivr.scenarios import coverage_by_menu, run_scenarios, write_junit
from tests.conftest import ROOT
from tests.test_selfservice import Steps

MENU = ROOT / "tests" / "menus" / "selfservice.zh-CN.yaml"
PHONE = "13800138000"
WORDS = {"0": "零", "1": "幺", "2": "两", "3": "三", "4": "四", "5": "五"}
WORDS |= {"6": "六", "7": "七", "8": "八", "9": "九"}

PINS = st.text("0123456789", min_size=6, max_size=6)
MOVES = st.sampled_from(["pin#", "pin", "wrong#", "star", "half", "spoken", "silence", "1", "0"])


class PinCaller(Steps):
    """A caller who keys or says their PIN only when it is asked for (what a caller says
    elsewhere is not an entry the hotline can know to hide): in any other node a PIN move
    waits, and the caller presses 1 (to the PIN prompt, from the menus) instead."""

    def __init__(self, actions: list[list[CallerAction | None]]) -> None:
        super().__init__([])
        self.moves = actions
        self.state = "main"

    def follow(self, event: CallEvent, moment: float) -> None:
        if event.type is EventType.STATE:
            self.state = event.state

    def next_input(self, now: float, until: float, listening: bool) -> Plan | None:
        if not listening:
            return None
        if not self.actions:
            if not self.moves:
                return now + self.think, HangUp()
            move = self.moves[0]
            pin_move = any(
                isinstance(a, Utterance) or (isinstance(a, KeyPress) and a.key not in "01")
                for a in move
            )
            if pin_move and self.state != "ask_pin":
                return now + self.think, KeyPress("1")
            self.actions = self.moves.pop(0)
        return super().next_input(now, until, listening)


def steps(pin: str, moves: list[str], hang_up_at: int | None) -> list[list[CallerAction | None]]:
    """The caller's moves, each a list of actions."""
    wrong = "".join(str((int(d) + 1) % 10) for d in pin)
    keyed = {
        "pin#": pin + "#",
        "pin": pin,
        "wrong#": wrong + "#",
        "star": pin[:3] + "*",
        "half": pin[:3],
        "1": "1",
        "0": "0",
    }
    actions: list[list[CallerAction | None]] = []
    for move in moves:
        if move == "spoken":
            actions.append([Utterance(" ".join(WORDS[d] for d in pin))])
        elif move == "silence":
            actions.append([None])
        else:
            actions.append([KeyPress(k) for k in keyed[move]])
    if hang_up_at is not None:
        at = min(hang_up_at, len(actions))
        if at < len(actions) and actions[at]:
            cut = hang_up_at % (len(actions[at]) + 1)
            actions[at] = [*actions[at][:cut], HangUp()]
        else:
            actions.append([HangUp()])
    return actions


def spoken(pin: str) -> str:
    return "".join(WORDS[d] for d in pin)


def assert_hidden(pin: str, text: str, what: str) -> None:
    assert pin not in text, f"the PIN {pin} in the {what}"
    assert spoken(pin) not in text.replace(" ", ""), f"the spoken PIN in the {what}"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pin=PINS,
    moves=st.lists(MOVES, min_size=1, max_size=6),
    hang_up_at=st.one_of(st.none(), st.integers(0, 8)),
)
def test_a_pin_never_appears_in_the_log_transcript_or_console(
    pin: str, moves: list[str], hang_up_at: int | None
) -> None:
    assume(pin not in PHONE)
    flow = CallFlow(load(MENU))
    office = MemoryBackOffice([Account("A001", PHONE, pin, "张伟")])
    with tempfile.TemporaryDirectory() as folder:
        log, transcript = CallLog(Path(folder) / "log"), Transcript(Path(folder) / "t")
        out = io.StringIO()
        view = ConsoleView(flow.menu, Console(file=out, width=120, highlight=False))
        clock = VirtualClock()
        plan = PinCaller(steps(pin, moves, hang_up_at))
        caller = PlannedCaller(plan, clock)
        Session(
            flow,
            caller,
            RecordingPlayer(clock),
            clock,
            [plan.follow, log, transcript, view],
            watchers=[view],
            backoffice=office,
            caller_id=PHONE,
        ).run()
        log.close()
        transcript.close()
        assert_hidden(pin, (Path(folder) / "log").read_text("utf-8"), "call log")
        assert_hidden(pin, (Path(folder) / "t").read_text("utf-8"), "transcript")
    assert_hidden(pin, out.getvalue(), "console")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pin=PINS, presses=st.lists(MOVES.filter(lambda m: m != "spoken"), min_size=1, max_size=5))
def test_a_pin_never_appears_in_scenario_artifacts_or_reports(pin: str, presses: list[str]) -> None:
    assume(pin not in PHONE)
    wrong = "".join(str((int(d) + 1) % 10) for d in pin)
    # a PIN move starts with 1: from a menu it leads to the PIN prompt, and in the PIN
    # prompt it is a digit; either way the PIN's keys land in the entry
    keyed = {
        "pin#": "1" + pin + "#",
        "pin": "1" + pin + "_",
        "wrong#": "1" + wrong + "#",
        "star": "1" + pin[:3] + "*",
        "half": "1" + pin[:3] + "_",
        "silence": "_",
        "1": "1",
        "0": "0",
    }
    turns: list[object] = []
    turns += [{"press": keyed[move], "expect": {"prompt": "这句不会听到"}} for move in presses]
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        scenario = {
            "menu": str(MENU),
            "name": "PIN 不外泄",
            "caller_id": PHONE,
            "backoffice": {"accounts": [{"phone": PHONE, "pin": pin}]},
            "turns": turns,
            "expect": {"outcome": "transferred"},
        }
        path = root / "pin.call.yaml"
        path.write_text(yaml.safe_dump(scenario, allow_unicode=True), "utf-8")
        results = run_scenarios([path], artifacts=root / "artifacts")
        write_junit(results, root / "junit.xml")
        (coverage,) = coverage_by_menu(results).values()
        texts = {
            "JUnit report": re.sub(r'time="[^"]*"', "", (root / "junit.xml").read_text("utf-8")),
            "coverage report": coverage.markdown(),
            "failure report": "\n".join(r.explain() for r in results),
        }
        for artifact in (root / "artifacts").rglob("*"):
            if artifact.is_file() and artifact.suffix != ".wav":
                texts[artifact.name] = artifact.read_text("utf-8")
        assert {"call.jsonl", "transcript.txt"} <= set(texts) or len(texts) >= 4, texts.keys()
        for what, text in texts.items():
            assert_hidden(pin, text, what)


WALLET = ROOT / "menus" / "wallet.zh-CN.yaml"
DEMO_CALLER, DEMO_PIN = "13818034063", "596853"  # seed 1's first caller (a failed payment)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pin=PINS,
    entries=st.lists(st.sampled_from(["pin#", "wrong#", "star", "half"]), max_size=2),
    verified=st.booleans(),
    after=st.lists(st.sampled_from(["1", "2", "3", "4", "5", "#", "*"]), max_size=3),
)
def test_no_pin_in_the_wallets_database_flows_artifacts_or_reports(
    pin: str, entries: list[str], verified: bool, after: list[str]
) -> None:
    """The wallet's own flows on the real back office (a SQLite demo database): the caller
    reaches the PIN prompt by caller ID, keys random PINs (wrong ones, cleared or cut
    short; at most two wrong: not locked), perhaps the right one, then menu keys (a
    verified caller's lookups) and an agent. Neither the PIN keyed nor the account's real
    PIN is in the log, the transcript, the JUnit report, the coverage report or the failure
    report. The caller keys a PIN only at the PIN prompt (``1`` from 密码错误 leads back to
    it): digits keyed in a menu are choices the hotline cannot know to hide."""
    assume(pin not in DEMO_CALLER and pin != DEMO_PIN and pin not in DEMO_PIN)
    wrong = "".join(str((int(d) + 1) % 10) for d in pin)
    assume(wrong != DEMO_PIN)
    keyed = {"pin#": pin + "#", "wrong#": wrong + "#", "star": pin[:3] + "*", "half": pin[:3] + "_"}
    turns: list[object] = [{"press": "24"}]
    at_prompt = True
    for entry in entries:
        prefix = "" if at_prompt else "1"
        turns.append({"press": prefix + keyed[entry], "expect": {"prompt": "这句不会听到"}})
        at_prompt = entry in ("star", "half")
    if verified:
        turns.append({"press": ("" if at_prompt else "1") + DEMO_PIN + "#"})
        turns += [{"press": key} for key in after]
    turns.append({"press": "0"})
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        scenario = {
            "menu": str(WALLET),
            "name": "钱包 PIN 不外泄",
            "caller_id": DEMO_CALLER,
            "backoffice": {"database": "demo", "seed": 1, "accounts": 5},
            "turns": turns,
            "expect": {"outcome": "abandoned"},
        }
        path = root / "pin.call.yaml"
        path.write_text(yaml.safe_dump(scenario, allow_unicode=True), "utf-8")
        results = run_scenarios([path], artifacts=root / "artifacts")
        assert results[0].status.value in ("passed", "failed"), results[0].reason
        write_junit(results, root / "junit.xml")
        (coverage,) = coverage_by_menu(results).values()
        texts = {
            "JUnit report": re.sub(r'time="[^"]*"', "", (root / "junit.xml").read_text("utf-8")),
            "coverage report": coverage.markdown(),
            "failure report": "\n".join(r.explain() for r in results),
        }
        for artifact in (root / "artifacts").rglob("*"):
            if artifact.is_file() and artifact.suffix != ".wav":
                texts[artifact.name] = artifact.read_text("utf-8")
        assert {"call.jsonl", "transcript.txt"} <= set(texts)
        if verified:
            assert "本人账户查询" in texts["call.jsonl"]  # the lookups were reached
        for what, text in texts.items():
            for secret in (pin, DEMO_PIN):
                assert secret not in text, f"a PIN ({secret}) in the {what}"
