"""The IVR rules, each pinned by a scripted call on a virtual clock."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ivr.drivers.testing import run_script
from ivr.engine.events import EventType, Outcome, PromptKind
from ivr.engine.flow import CallFlow, Phase
from ivr.engine.inputs import HangUp, KeyPress, NoInput, PromptsFinished
from ivr.menu.model import Menu

MakeMenu = Callable[..., Menu]


def one_second(text: str) -> float:
    return 1.0


def test_call_starts_with_greeting_then_the_long_main_prompt(make_menu: MakeMenu) -> None:
    rec = run_script(make_menu(), "", duration=one_second)
    assert rec.prompts == ["欢迎致电。", "账户请按1，帮助请按2，人工服务请按0。"]
    assert rec.times(EventType.PROMPT) == [0.0, 1.0]
    assert rec.of_type(EventType.CALL_START)[0].state == "main"


def test_a_key_selects_its_option(make_menu: MakeMenu) -> None:
    rec = run_script(make_menu(), "1", duration=one_second)
    assert rec.states == ["account"]
    assert rec.prompts[-1] == "密码请按1，注册请按2。"


def test_no_input_fires_after_the_timeout_counted_from_the_end_of_the_prompts(
    make_menu: MakeMenu,
) -> None:
    rec = run_script(make_menu(), "_", duration=one_second)
    # greeting 0-1 s, main prompt 1-2 s, then 5 s of silence
    assert rec.times(EventType.NO_INPUT) == [7.0]
    assert rec.prompts[2:4] == ["抱歉，没有收到您的按键。", "请按1或2。"]


def test_no_input_timeout_is_configurable_per_node(make_menu: MakeMenu) -> None:
    menu = make_menu(
        replace={
            '    options: {"1": password': (
                '    settings: {no_input_timeout: 2}\n    options: {"1": password'
            )
        }
    )
    rec = run_script(menu, "1_", duration=one_second)
    entered = rec.times(EventType.STATE)[0]
    assert rec.times(EventType.NO_INPUT) == [entered + 1.0 + 2.0]


def test_no_match_says_so_and_reprompts_with_the_short_prompt(make_menu: MakeMenu) -> None:
    rec = run_script(make_menu(), "7", duration=one_second)
    no_match = rec.of_type(EventType.NO_MATCH)
    assert [(e.key, e.count) for e in no_match] == [("7", 1)]
    assert rec.prompts[2:4] == ["抱歉，您的输入有误。", "请按1或2。"]
    assert rec.states == []


def test_no_input_and_no_match_are_separate_counters(make_menu: MakeMenu) -> None:
    rec = run_script(make_menu(), "_7_7", duration=one_second)
    assert [e.count for e in rec.of_type(EventType.NO_INPUT)] == [1, 2]
    assert [e.count for e in rec.of_type(EventType.NO_MATCH)] == [1, 2]
    assert rec.of_type(EventType.TRANSFER) == []
    assert rec.outcome is Outcome.ABANDONED


@pytest.mark.parametrize("script", ["___", "777"])
def test_third_failure_of_either_kind_transfers_with_an_announcement(
    make_menu: MakeMenu, script: str
) -> None:
    rec = run_script(make_menu(), script, duration=one_second)
    assert rec.outcome is Outcome.TRANSFERRED
    assert rec.of_type(EventType.TRANSFER)[0].reason == "max-failures"
    assert rec.prompts[-2:] == ["抱歉，多次未能收到有效的选择。", "正在为您转接人工客服，请稍候。"]
    # the transfer happens once the announcement has been said
    transfer_at = rec.times(EventType.TRANSFER)[0]
    assert transfer_at == rec.times(EventType.PROMPT)[-1] + 1.0


def test_max_failures_hangup_action_says_goodbye(make_menu: MakeMenu) -> None:
    menu = make_menu(
        replace={
            "no_input_timeout: 5": (
                "no_input_timeout: 5\n  on_max_failures: {action: hangup, prompt: 再见前的话。}"
            )
        }
    )
    rec = run_script(menu, "___", duration=one_second)
    assert rec.outcome is Outcome.DISCONNECTED
    assert rec.prompts[-2:] == ["再见前的话。", "感谢您的来电，再见。"]
    assert rec.of_type(EventType.HANGUP)[0].reason == "max-failures"


def test_max_failures_goto_action_moves_to_the_target(make_menu: MakeMenu) -> None:
    menu = make_menu(
        replace={
            "    short_prompt: 密码1，注册2。": (
                "    short_prompt: 密码1，注册2。\n"
                "    settings: {on_max_failures: {action: goto, target: main}}"
            )
        }
    )
    rec = run_script(menu, "1999", duration=one_second)
    assert rec.states == ["account", "main"]
    assert rec.outcome is Outcome.ABANDONED
    assert rec.prompts[-2:] == [
        "抱歉，多次未能收到有效的选择。",
        "账户请按1，帮助请按2，人工服务请按0。",
    ]


def test_entering_a_node_resets_both_counters(make_menu: MakeMenu) -> None:
    rec = run_script(make_menu(), "_771__77", duration=one_second)
    assert rec.states == ["account"]
    assert [e.count for e in rec.of_type(EventType.NO_MATCH)] == [1, 2, 1, 2]
    assert [e.count for e in rec.of_type(EventType.NO_INPUT)] == [1, 1, 2]
    assert rec.of_type(EventType.TRANSFER) == []


def test_a_recognized_input_resets_no_match_but_not_no_input(make_menu: MakeMenu) -> None:
    # * is recognized: the no-match count restarts, the no-input count goes on.
    rec = run_script(make_menu(), "77*7_", duration=one_second)
    assert [e.count for e in rec.of_type(EventType.NO_MATCH)] == [1, 2, 1]
    assert rec.of_type(EventType.TRANSFER) == []
    rec = run_script(make_menu(), "__*_", duration=one_second)
    assert [e.count for e in rec.of_type(EventType.NO_INPUT)] == [1, 2, 3]
    assert rec.outcome is Outcome.TRANSFERRED


def test_zero_transfers_to_an_agent_from_any_node(make_menu: MakeMenu) -> None:
    for script, state in [("0", "main"), ("10", "account"), ("110", "password")]:
        rec = run_script(make_menu(), script, duration=one_second)
        assert rec.outcome is Outcome.TRANSFERRED
        assert rec.end.state == state
        assert rec.of_type(EventType.TRANSFER)[0].reason == "caller"
        assert rec.prompts[-1] == "正在为您转接人工客服，请稍候。"


def test_star_repeats_the_long_prompt(make_menu: MakeMenu) -> None:
    rec = run_script(make_menu(), "17*", duration=one_second)
    assert rec.prompts[-1] == "密码请按1，注册请按2。"
    assert rec.prompts[-2] == "密码1，注册2。"  # the reprompt after 7 was the short one


def test_hash_goes_back_one_level_and_repeats_in_the_main_menu(make_menu: MakeMenu) -> None:
    rec = run_script(make_menu(), "11#", duration=one_second)
    assert rec.states == ["account", "password", "account"]
    rec = run_script(make_menu(), "#", duration=one_second)
    assert rec.states == []
    assert rec.prompts[-1] == rec.prompts[-2] == "账户请按1，帮助请按2，人工服务请按0。"


def test_an_answer_plays_then_the_caller_is_back_in_the_parent_menu(make_menu: MakeMenu) -> None:
    rec = run_script(make_menu(), "12", duration=one_second)
    assert rec.states == ["account", "register", "account"]
    assert rec.prompts[-2:] == ["下载应用后用手机号注册。", "密码请按1，注册请按2。"]
    answer_at, back_at = rec.times(EventType.STATE)[1:]
    assert back_at == answer_at + 1.0


def test_procedure_steps_are_read_in_order_with_navigation(make_menu: MakeMenu) -> None:
    rec = run_script(make_menu(), "111233111", duration=one_second)
    said = [p for p in rec.prompts if p.startswith("第") or p in ("共三步。", "这已经是第一步。")]
    assert said == [
        "共三步。",
        "第一步：打开应用。",
        "第二步：点击忘记密码。",  # 1: next
        "第二步：点击忘记密码。",  # 2: repeat
        "第一步：打开应用。",  # 3: previous
        "这已经是第一步。",  # 3 on the first step
        "第一步：打开应用。",
        "第二步：点击忘记密码。",
        "第三步：设置新密码。",
    ]
    # after the last step: the closing advice, then back in the parent menu
    assert rec.prompts[-2:] == ["请保管好密码。", "密码请按1，注册请按2。"]
    assert rec.states == ["account", "password", "account"]


def test_each_step_ends_with_the_key_hint(make_menu: MakeMenu) -> None:
    rec = run_script(make_menu(), "11", duration=one_second)
    assert rec.prompts[-2:] == ["第一步：打开应用。", "下一步请按1，重听本步请按2，上一步请按3。"]
    kinds = [e.kind for e in rec.of_type(EventType.PROMPT)][-2:]
    assert kinds == [PromptKind.STEP, PromptKind.HINT]


def test_no_input_in_a_procedure_repeats_the_hint(make_menu: MakeMenu) -> None:
    rec = run_script(make_menu(), "11_", duration=one_second)
    assert rec.prompts[-2:] == [
        "抱歉，没有收到您的按键。",
        "下一步请按1，重听本步请按2，上一步请按3。",
    ]


def test_step_keys_take_precedence_only_inside_procedures(make_menu: MakeMenu) -> None:
    rec = run_script(make_menu(), "3", duration=one_second)  # 3 is no option of main
    assert rec.of_type(EventType.NO_MATCH)[0].key == "3"


def test_barge_in_stops_the_prompt_and_drops_the_queued_ones(make_menu: MakeMenu) -> None:
    rec = run_script(make_menu(), "!1", duration=lambda text: 4.0)
    # pressed 1 s into the greeting: the main prompt queued after it is never said
    assert rec.player.stopped == [1.0]
    barge = rec.of_type(EventType.BARGE_IN)[0]
    assert barge.text == "欢迎致电。" and barge.key == "1"
    assert "账户请按1，帮助请按2，人工服务请按0。" not in rec.prompts
    assert rec.states == ["account"]
    assert rec.times(EventType.STATE) == [1.0]


def test_barge_in_on_an_answer_with_a_menu_key_chooses_in_the_parent(make_menu: MakeMenu) -> None:
    rec = run_script(make_menu(), "12!1", duration=lambda text: 4.0)
    assert rec.states == ["account", "register", "account", "password"]
    assert rec.player.stopped  # the answer was cut short


def test_star_during_an_answer_repeats_the_answer(make_menu: MakeMenu) -> None:
    rec = run_script(make_menu(), "2!*", duration=lambda text: 4.0)
    assert rec.prompts[-3:-1] == ["帮助内容。", "帮助内容。"]


def test_hash_during_an_answer_goes_back_without_waiting(make_menu: MakeMenu) -> None:
    rec = run_script(make_menu(), "2!#", duration=lambda text: 4.0)
    assert rec.states == ["help", "main"]
    assert rec.times(EventType.STATE)[1] - rec.times(EventType.STATE)[0] == 1.0


def test_caller_hang_up_ends_the_call_abandoned_where_they_were(make_menu: MakeMenu) -> None:
    rec = run_script(make_menu(), "11", duration=one_second)
    assert rec.outcome is Outcome.ABANDONED
    assert rec.end.state == "password"
    assert rec.of_type(EventType.HANGUP)[0].reason == "caller"


def test_engine_ignores_inputs_after_the_end(make_menu: MakeMenu) -> None:
    flow = CallFlow(make_menu())
    call, _ = flow.start()
    flow.handle(call, HangUp())
    assert call.ended
    assert flow.handle(call, KeyPress("1")) == []
    assert flow.handle(call, NoInput()) == []


def test_prompts_finished_only_moves_on_from_answers(make_menu: MakeMenu) -> None:
    flow = CallFlow(make_menu())
    call, _ = flow.start()
    assert flow.handle(call, PromptsFinished()) == []  # a menu waits for the caller
    flow.handle(call, KeyPress("2"))
    assert call.phase is Phase.PLAYING
    events = flow.handle(call, PromptsFinished())
    assert call.state == "main" and events[0].type is EventType.STATE


def test_calls_share_one_flow_without_sharing_state(make_menu: MakeMenu) -> None:
    flow = CallFlow(make_menu())
    first, _ = flow.start()
    second, _ = flow.start()
    flow.handle(first, KeyPress("1"))
    flow.handle(second, KeyPress("7"))
    assert (first.state, first.no_match_count) == ("account", 0)
    assert (second.state, second.no_match_count) == ("main", 1)


def test_machine_declares_every_menu_edge(wallet: Menu) -> None:
    flow = CallFlow(wallet)
    for node in wallet.nodes.values():
        for key, target in node.options.items():
            transitions = flow.machine.events[f"select:{key}"].transitions[node.id]
            assert [t.dest for t in transitions] == [target]


def test_a_step_key_during_the_closing_advice_skips_it_to_the_parent_menu(
    make_menu: MakeMenu,
) -> None:
    rec = run_script(make_menu(), "11111!1", duration=lambda text: 4.0)
    assert rec.states == ["account", "password", "account"]  # not on to option 1 (password)
    assert rec.of_type(EventType.BARGE_IN)[0].text == "请保管好密码。"
    assert rec.prompts[-1] == "密码请按1，注册请按2。"
