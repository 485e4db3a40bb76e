"""The live console as a hotline engineer's instrument: the status line and its countdown,
the key lit, utterances with confidence and decision, the interface in the menu's language,
``ivr call --start`` and ``--speed``. No test waits on a real clock."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console
from rich.style import Style

from ivr.callers.scripted import ScriptedCaller
from ivr.callers.typed import LineEditor, TypedCaller
from ivr.cli import main
from ivr.clock import VirtualClock
from ivr.drivers.session import Session
from ivr.drivers.testing import run_script
from ivr.drivers.timeline import CallTimeline
from ivr.engine.events import CallEvent, EventType, Outcome
from ivr.engine.flow import Call, CallFlow
from ivr.engine.inputs import CallerAction, HangUp, KeyPress, Utterance
from ivr.menu.model import Menu, NodeKind, load
from ivr.outputs import console as console_module
from ivr.outputs.artifacts import Transcript
from ivr.outputs.console import LIT, TYPED, ConsoleView, _Bottom
from ivr.prompts.player import SilentPlayer, estimated_duration
from tests.conftest import ROOT

KOREAN_MENU = ROOT / "tests" / "menus" / "korean.ko-KR.yaml"
IVR = [sys.executable, "-m", "ivr.cli"]


def run_ivr(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*IVR, *args], capture_output=True, text=True, timeout=60, input=stdin
    )  # fmt: skip


def records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def recorded(terminal: bool = False) -> Console:
    return Console(record=True, force_terminal=terminal, width=120, highlight=False)


@pytest.fixture(scope="module")
def korean() -> Menu:
    return load(KOREAN_MENU)


class Statuses:
    """A session watcher that remembers every status it is told."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, float, float, str, int, int]] = []

    def status(self, activity: str, now: float, until: float, call: Call) -> None:
        seen = (activity, now, until, call.state, call.no_input_count, call.no_match_count)
        self.seen.append(seen)


def play(
    menu: Menu,
    script: str,
    *,
    speed: float = 1.0,
    start: str | None = None,
    watchers: tuple[Statuses, ...] = (),
) -> list[tuple[float, CallEvent]]:
    clock = VirtualClock()
    events: list[tuple[float, CallEvent]] = []
    Session(
        CallFlow(menu), ScriptedCaller(script, clock), SilentPlayer(), clock,
        [lambda event, moment: events.append((moment, event))],
        watchers=watchers, start=start, speed=speed,
    ).run()  # fmt: skip
    return events


# -- the status line ------------------------------------------------------------------


def test_the_session_tells_its_watchers_when_the_no_input_timer_starts_and_its_deadline(
    wallet: Menu,
) -> None:
    watcher = Statuses()
    events = play(wallet, "_1", watchers=(watcher,))
    prompts = [(t, e.text or "") for t, e in events if e.type is EventType.PROMPT]
    greeting_end = prompts[0][0] + estimated_duration(prompts[0][1])
    menu_end = prompts[1][0] + estimated_duration(prompts[1][1])
    assert watcher.seen[0] == ("speaking", 0.0, greeting_end, "main", 0, 0)
    listening = next(s for s in watcher.seen if s[0] == "listening")
    assert listening == ("listening", menu_end, menu_end + 5.0, "main", 0, 0)
    no_input = next(t for t, e in events if e.type is EventType.NO_INPUT)
    assert no_input == listening[2]  # the deadline the watcher was told is when it ran out
    after = [s for s in watcher.seen if s[0] == "listening"][1]
    assert after[4] == 1  # the count of the current node, after the no-input
    assert watcher.seen[-1][0] == "ended"


def test_watchers_leave_the_call_log_as_it_was(wallet: Menu) -> None:
    assert play(wallet, "_12_1*#0", watchers=(Statuses(),)) == play(wallet, "_12_1*#0")


def test_the_live_status_line_counts_the_no_input_timer_down(wallet: Menu) -> None:
    now = [1.0]
    view = ConsoleView(wallet, recorded(terminal=True), clock=lambda: now[0])
    call = Call(state="main", no_input_count=1, no_match_count=2)
    view.status("listening", 1.0, 6.0, call)
    bottom = _Bottom(view)
    console = recorded(terminal=True)
    console.print(bottom)
    now[0] = 3.5
    console.print(bottom)
    shown = console.export_text()
    assert "⏳ 等待输入 · 5.0 秒 · 未输入 1/3 · 无效 2/3" in shown
    assert "⏳ 等待输入 · 2.5 秒" in shown
    view.status("speaking", 3.5, 9.0, call)
    assert view.status_text(4.0).startswith("🔊 播报中 · 按键可打断")
    view.status("recognizing", 4.0, 9.0, call)
    assert view.status_text(4.0).startswith("🎙 识别中")


def test_without_a_terminal_the_status_is_a_plain_line_when_the_callers_turn_starts(
    wallet: Menu,
) -> None:
    console = recorded(terminal=False)
    view = ConsoleView(wallet, console, clock=lambda: 0.0)
    assert not view.live  # not a terminal: no Live display, no cursor codes
    view.status("speaking", 0.0, 3.0, Call(state="main"))
    view.status("listening", 3.0, 8.0, Call(state="main"))
    assert console.export_text().splitlines() == [
        "   3.00s ⏳ 等待输入 · 5.0 秒 · 未输入 0/3 · 无效 0/3"
    ]


def test_a_scripted_call_shows_the_timer_and_quiet_shows_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["call", "--keys", "_0"]) == 0
    shown = capsys.readouterr().out
    assert "⏳ 等待输入 · 5.0 秒 · 未输入 0/3 · 无效 0/3" in shown
    assert "⏳ 等待输入 · 5.0 秒 · 未输入 1/3 · 无效 0/3" in shown  # after the no-input
    assert main(["call", "--keys", "_0", "--quiet", "--log", str(tmp_path / "f")]) == 0
    assert capsys.readouterr().out == ""


# -- keys, utterances, no-match ---------------------------------------------------------


def test_the_key_pressed_is_lit_on_the_keypad(wallet: Menu) -> None:
    view = ConsoleView(wallet, recorded(terminal=True))
    view(CallEvent(EventType.KEY, "main", key="5"), 1.0)
    console = recorded(terminal=True)
    lit = [s.text for s in console.render(view.keypad()) if s.style == Style.parse(LIT)]
    assert lit == [" 5 "]


def test_an_utterance_shows_its_text_confidence_and_decision(wallet: Menu) -> None:
    view = ConsoleView(wallet, recorded())

    def heard(text: str, confidence: float, decision: str, phrase: str | None) -> str:
        said = CallEvent(EventType.UTTERANCE, "main", text=text, confidence=confidence)
        return view.heard(replace(said, decision=decision, phrase=phrase))

    assert heard("我想找回密码", 0.92, "accept", "找回密码") == "🗣 「我想找回密码」 0.92 → 找回密码"
    assert heard("嗯", 0.41, "reject", None) == "🗣 「嗯」 0.41 未识别"
    assert (
        heard("找回密码", 0.5, "confirm", "找回密码") == "🗣 「找回密码」 0.50 ？ 找回密码（待确认）"
    )


def test_a_typed_call_shows_utterances_and_names_a_speech_no_match(wallet: Menu) -> None:
    class Typist:
        def __init__(self, clock: VirtualClock) -> None:
            self.clock = clock
            self.said: list[CallerAction] = [
                Utterance("我想找回密码", 0.92),
                Utterance("天气怎么样", 0.41),
                HangUp(),
            ]

        def expect(self, phrases: tuple[str, ...], end_of_speech: float | None) -> None:
            pass

        def next_input(self, until: float, listening: bool) -> CallerAction | None:
            return self.said.pop(0) if listening else None

    console = recorded()
    view = ConsoleView(wallet, console)
    clock = VirtualClock()
    Session(CallFlow(wallet), Typist(clock), SilentPlayer(), clock, [view]).run()
    shown = console.export_text()
    assert "🗣 「我想找回密码」 0.92 → 找回密码" in shown
    assert "🗣 「天气怎么样」 0.41 未识别" in shown
    assert "✗ 语音未识别（第1次）" in shown
    assert "None" not in shown and "无效按键" not in shown
    view(CallEvent(EventType.NO_MATCH, "main", key="7", count=2), 1.0)
    assert "✗ 无效按键 7（第2次）" in console.export_text()


# -- the menu's language ----------------------------------------------------------------


def test_the_end_line_is_in_the_menus_language(wallet: Menu, korean: Menu) -> None:
    end = CallEvent(EventType.CALL_END, "main", outcome=Outcome.TRANSFERRED)
    assert (
        ConsoleView(korean, recorded()).end_line(end) == "통화 종료: 상담원 연결됨 (「메뉴」에서)"
    )
    chinese = CallEvent(EventType.CALL_END, "account", outcome=Outcome.ABANDONED)
    assert (
        ConsoleView(wallet, recorded()).end_line(chinese)
        == "通话结束：来电者挂断（在「账户问题」）"
    )


def test_a_korean_call_shows_korean_labels_only() -> None:
    result = run_ivr("call", "--menu", str(KOREAN_MENU), "--keys", "9_0")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for korean in ("스크립트 모드", "상담원", "다시 듣기", "누른 키 9", "잘못된 키 9", "입력 대기"):
        assert korean in out
    assert "통화 종료: 상담원 연결됨 (「메뉴」에서)" in out
    for chinese in ("脚本模式", "人工客服", "重听", "按键", "通话结束", "未输入", "transferred"):
        assert chinese not in out


def test_the_transcript_speaks_the_menus_language(tmp_path: Path, korean: Menu) -> None:
    path = tmp_path / "transcript.txt"
    transcript = Transcript(path, language=korean.language)
    for moment, event in play(korean, "0"):
        transcript(event, moment)
    transcript.close()
    text = path.read_text("utf-8")
    assert "안내  안녕하세요." in text
    assert "고객  [키 0]" in text
    assert "(통화 종료: 상담원 연결됨, main에서)" in text
    assert "transferred" not in text and "热线" not in text and "来电" not in text


def test_a_chinese_transcript_has_no_english(tmp_path: Path, wallet: Menu) -> None:
    path = tmp_path / "transcript.txt"
    transcript = Transcript(path, language=wallet.language)
    for moment, event in play(wallet, "_9!1"):
        transcript(event, moment)
    transcript.close()
    text = path.read_text("utf-8")
    assert "（通话结束：来电者挂断，在 account）" in text
    assert "（无效输入，第1次）" in text and "（未输入，第1次）" in text
    assert "（按键插话：提示音停止）" in text
    assert not any(word in text for word in ("no input", "barge-in", "call ended", "abandoned"))


# -- the banner -------------------------------------------------------------------------


def test_typed_mode_says_enter_sends_and_the_keypad_says_no_enter(wallet: Menu) -> None:
    typed, keypad = recorded(), recorded()
    ConsoleView(wallet, typed).banner("打字说话", hint=TYPED)
    ConsoleView(wallet, keypad).banner("按键")
    assert "回车发送" in typed.export_text() and "无需回车" not in typed.export_text()
    assert "无需回车" in keypad.export_text()


def test_ivr_call_typed_says_enter_is_needed() -> None:
    result = run_ivr("call", "--typed", "--text", "--speed", "10", stdin="0\n")
    assert result.returncode == 0, result.stderr
    assert "回车发送" in result.stdout and "无需回车" not in result.stdout
    # the 0 was taken; the input then ends, which hangs up during the transfer notice
    # (the wallet's contact centre queues the call once the notice is said)
    assert "→ 转接人工客服" in result.stdout


def test_a_typing_caller_edits_its_own_line() -> None:
    editor = LineEditor()
    assert [editor.feed(c) for c in "我想找x"] == [None] * 4
    assert editor.draft == "我想找x"
    editor.feed("\x7f")
    assert editor.draft == "我想找"
    assert editor.feed("\n") == "我想找" and editor.draft == ""
    editor.feed("a")
    editor.feed("\x15")
    assert editor.draft == ""
    assert editor.feed("\x04") == "\x04"  # Ctrl-D on an empty line: hang up


def test_typed_lines_from_a_pipe_need_no_terminal() -> None:
    import io

    caller = TypedCaller(VirtualClock(), io.StringIO("找回密码\n1\nq\n"), edits_line=True)
    with caller:
        said = [caller.next_input(1.0, True) for _ in range(3)]
    assert said == [Utterance("找回密码", 1.0), KeyPress("1"), HangUp()]


# -- --start ----------------------------------------------------------------------------


def test_start_begins_the_call_at_a_node_without_the_greeting(tmp_path: Path) -> None:
    log = tmp_path / "call.jsonl"
    assert main(["call", "--keys", "1#", "--start", "password_recovery", "--log", str(log)]) == 0
    found = records(log)
    assert (found[0]["type"], found[0]["state"]) == ("call-start", "password_recovery")
    assert found[1]["type"] == "prompt" and found[1]["kind"] == "intro"
    assert "欢迎" not in str(found[1]["text"])
    states = [r["state"] for r in found if r["type"] == "state"]
    assert states == ["account"]  # "#" goes back to its parent, as if it came by the menu


def test_start_at_an_unknown_node_is_one_line_and_exit_2() -> None:
    result = run_ivr("call", "--keys", "1", "--start", "nowhere")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "--start: no node 'nowhere'" in result.stderr and "password_recovery" in result.stderr


def test_the_flow_refuses_an_unknown_start(wallet: Menu) -> None:
    with pytest.raises(KeyError):
        CallFlow(wallet).start("nowhere")


# -- --speed ----------------------------------------------------------------------------


def test_speed_divides_prompts_and_timeouts_in_the_timeline(wallet: Menu) -> None:
    normal = play(wallet, "__")
    fast = play(wallet, "__", speed=4.0)
    assert [e for _, e in fast] == [e for _, e in normal]  # the same call ...
    assert [t for t, _ in fast] == pytest.approx([t / 4 for t, _ in normal])  # ... 4× faster


def test_speed_scales_the_no_input_timeout_itself(wallet: Menu) -> None:
    class Driver:
        flow = CallFlow(wallet)

        def say(self, line: CallTimeline, text: str, now: float) -> float:
            return now + 2.0

        def hush(self, line: CallTimeline) -> None:
            pass

        def report(self, line: CallTimeline, event: CallEvent, now: float) -> None:
            pass

        def changed(self, line: CallTimeline) -> None:
            pass

    line = CallTimeline(Driver(), speed=2.0)
    line.answer(0.0)
    assert line.until == 1.0  # a 2 s greeting at twice the speed
    line.time_out(1.0)
    assert line.until == 2.0  # then the 2 s menu prompt
    line.time_out(2.0)
    assert line.until == 2.0 + 5.0 / 2  # the 5 s no-input timeout


def test_ivr_call_speed_in_a_virtual_clock_call(tmp_path: Path) -> None:
    slow, fast = tmp_path / "slow.jsonl", tmp_path / "fast.jsonl"
    assert main(["call", "--keys", "_", "--quiet", "--log", str(slow)]) == 0
    assert main(["call", "--keys", "_", "--quiet", "--log", str(fast), "--speed", "2.5"]) == 0
    no_input = [
        float(str(next(r["t"] for r in records(log) if r["type"] == "no-input")))
        for log in (slow, fast)
    ]
    assert no_input[1] == pytest.approx(no_input[0] / 2.5, abs=0.01)


@pytest.mark.parametrize(
    ("speed", "others"),
    [("0", []), ("-1", []), ("inf", []), ("nan", []), ("101", []), ("2", ["--out", "x"])],
)
def test_a_bad_speed_is_one_line_and_exit_2(speed: str, others: list[str]) -> None:
    result = run_ivr("call", "--keys", "1", "--speed", speed, *others)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "--speed" in result.stderr


def test_speed_one_leaves_the_call_as_it_was(wallet: Menu) -> None:
    assert play(wallet, "_12_1*#0", speed=1.0) == run_script(wallet, "_12_1*#0").events


def test_a_nodes_panel_is_drawn_as_richs_grid_draws_it(
    wallet: Menu, korean: Menu, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A panel whose rows fit is laid out as one text, not a grid table (5x cheaper):
    the same characters and styles as the grid gives, highlighting on or off, on a console
    as wide as the panel and one column narrower (where the grid wraps).
    Every node with keys of its own, and one answer and one record node of each menu
    (theirs differ only in the title)."""
    menus = [wallet, korean, load(ROOT / "tests" / "menus" / "selfservice.zh-CN.yaml")]
    tables = 0
    table = console_module._table

    def counted(rows: list[tuple[str, str]]) -> object:
        nonlocal tables
        tables += 1
        return table(rows)

    def draw(menu: Menu, node: str, width: int, highlight: bool) -> str:
        out = io.StringIO()
        console = Console(
            file=out, width=width, force_terminal=True, color_system="truecolor",
            highlight=highlight,
        )  # fmt: skip
        ConsoleView(menu, console)._show_node(node)
        return out.getvalue()

    cases = []
    for menu in menus:
        kinds: set[NodeKind] = set()
        for node in menu.nodes.values():
            if node.kind in (NodeKind.ACTION, NodeKind.SWITCH):
                continue  # no panel: they take no keys
            if node.kind in (NodeKind.ANSWER, NodeKind.RECORD) and node.kind in kinds:
                continue
            kinds.add(node.kind)
            wide = draw(menu, node.id, 120, False).splitlines()[0]
            width = cell_len(re.sub(r"\x1b\[[0-9;]*m", "", wide))  # the panel's own width
            cases += [(menu, node.id, w, False) for w in (width - 1, width)]
            cases.append((menu, node.id, 120, True))
    monkeypatch.setattr(console_module, "_table", counted)
    drawn = [draw(*case) for case in cases]
    assert 0 < tables < len(cases) / 2  # most drawn as text, the too narrow by the grid
    monkeypatch.setattr(ConsoleView, "_grid", lambda self, rows: table(rows))
    assert drawn == [draw(*case) for case in cases]
