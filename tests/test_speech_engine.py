"""Spoken choices reach the same options as keys, through the same engine."""

from __future__ import annotations

import pytest

from ivr.engine.events import CallEvent, EventType, PromptKind
from ivr.engine.flow import Call, CallFlow, Phase
from ivr.engine.inputs import KeyPress, NoInput, PromptsFinished, Utterance
from ivr.engine.matching import Action, ActionKind, Choice, MatchKind, Verdict, decide, match
from ivr.menu.model import Menu


@pytest.fixture
def flow(wallet: Menu) -> CallFlow:
    return CallFlow(wallet)


def say(flow: CallFlow, call: Call, text: str, confidence: float = 1.0) -> list[CallEvent]:
    return flow.handle(call, Utterance(text, confidence))


def heard(events: list[CallEvent]) -> CallEvent:
    return next(e for e in events if e.type is EventType.UTTERANCE)


def test_a_spoken_option_and_its_key_give_the_same_events(flow: CallFlow) -> None:
    by_key, _ = flow.start()
    by_voice, _ = flow.start()
    keyed = flow.handle(by_key, KeyPress("1"))
    spoken = say(flow, by_voice, "账户问题")
    assert spoken[0].type is EventType.UTTERANCE
    assert spoken[1:] == keyed
    assert by_voice.state == by_key.state == "account"


def test_synonyms_choose_the_option(flow: CallFlow) -> None:
    call, _ = flow.start()
    say(flow, call, "账户")
    say(flow, call, "忘记密码")
    assert call.state == "password_recovery"


def test_recognizer_spacing_and_punctuation_do_not_matter(flow: CallFlow) -> None:
    call, _ = flow.start()
    say(flow, call, "交易 咨询。")
    assert call.state == "transactions"


def test_main_menu_shortcut_goes_straight_to_an_answer(flow: CallFlow) -> None:
    call, _ = flow.start()
    events = say(flow, call, "电子发票")
    assert call.state == "e_invoice"
    assert heard(events).decision == Verdict.ACCEPT
    assert [e.state for e in events if e.type is EventType.STATE] == ["e_invoice"]
    # back from a shortcut leads up the tree, to the answer's own menu
    flow.handle(call, KeyPress("#"))
    assert call.state == "usage"


def test_shortcuts_only_in_menus_that_offer_them(flow: CallFlow) -> None:
    call, _ = flow.start()
    say(flow, call, "技术支持")
    events = say(flow, call, "电子发票")  # not below 技术支持
    assert call.state == "tech_support"
    assert heard(events).decision == Verdict.REJECT
    assert any(e.type is EventType.NO_MATCH for e in events)


def test_a_sentence_around_a_phrase_is_accepted(flow: CallFlow) -> None:
    call, _ = flow.start()
    events = say(flow, call, "我想找回密码")
    assert call.state == "password_recovery"
    assert heard(events).phrase == "找回密码"


def test_low_confidence_asks_to_confirm_and_yes_by_voice_goes_on(flow: CallFlow) -> None:
    call, _ = flow.start()
    events = say(flow, call, "找回密码", confidence=0.5)
    assert heard(events).decision == Verdict.CONFIRM
    assert call.phase is Phase.CONFIRMING and call.state == "main"
    question = [e for e in events if e.type is EventType.PROMPT][-1]
    assert question.kind is PromptKind.CONFIRM
    assert question.text == "您要咨询的是找回密码吗？是请按1或说“是”，不是请按2或说“不是”。"
    say(flow, call, "是的")
    assert call.state == "password_recovery"


def test_confirmation_by_key(flow: CallFlow) -> None:
    call, _ = flow.start()
    say(flow, call, "退款", confidence=0.5)
    flow.handle(call, KeyPress("1"))
    assert call.state == "refund"


def test_no_to_a_confirmation_reprompts_the_menu(flow: CallFlow, wallet: Menu) -> None:
    call, _ = flow.start()
    say(flow, call, "退款", confidence=0.5)
    events = say(flow, call, "不是")
    assert call.state == "main" and call.phase is Phase.LISTENING
    texts = [e.text for e in events if e.type is EventType.PROMPT]
    assert texts == [wallet.messages.declined, wallet.nodes["main"].short_prompt]


def test_no_input_while_confirming_asks_again_and_counts(flow: CallFlow) -> None:
    call, _ = flow.start()
    say(flow, call, "退款", confidence=0.5)
    events = flow.handle(call, NoInput())
    assert call.phase is Phase.CONFIRMING and call.no_input_count == 1
    assert [e.kind for e in events if e.type is EventType.PROMPT][-1] is PromptKind.CONFIRM


def test_very_low_confidence_is_a_no_match(flow: CallFlow) -> None:
    call, _ = flow.start()
    events = say(flow, call, "找回密码", confidence=0.3)
    assert heard(events).decision == Verdict.REJECT
    assert call.state == "main" and call.no_match_count == 1


def test_closed_grammar_garbage_of_several_phrases_is_rejected(flow: CallFlow) -> None:
    # A closed grammar forces out-of-grammar speech onto several in-grammar phrases.
    call, _ = flow.start()
    events = say(flow, call, "退款 转账 是")
    assert heard(events).decision == Verdict.REJECT
    assert call.state == "main"


def test_spoken_global_commands(flow: CallFlow) -> None:
    call, _ = flow.start()
    say(flow, call, "账户问题")
    say(flow, call, "返回")
    assert call.state == "main"
    say(flow, call, "转人工")
    assert call.phase is Phase.QUEUED  # the wallet's contact centre: the caller waits for an agent


def test_spoken_step_navigation(flow: CallFlow, wallet: Menu) -> None:
    call, _ = flow.start()
    say(flow, call, "找回密码")
    say(flow, call, "下一步")
    assert call.step == 1
    say(flow, call, "上一步")
    assert call.step == 0
    events = say(flow, call, "再说一遍")
    assert next(e.text for e in events if e.type is EventType.PROMPT) == wallet.step_text(
        wallet.nodes["password_recovery"], 0
    )


def test_speech_during_an_answer_chooses_in_the_parent(flow: CallFlow) -> None:
    call, _ = flow.start()
    say(flow, call, "账户问题")
    say(flow, call, "注册")
    assert call.phase is Phase.PLAYING
    say(flow, call, "实名认证")
    assert call.state == "real_name"


def test_grammar_follows_the_state(flow: CallFlow) -> None:
    call, _ = flow.start()
    main = flow.grammar(call)
    assert {"账户问题", "找回密码", "电子发票", "人工"} <= set(main)
    assert "下一步" not in main
    say(flow, call, "找回密码")
    steps = flow.grammar(call)
    assert {"下一步", "上一步", "人工"} <= set(steps)
    assert "电子发票" not in steps
    say(flow, call, "退款")  # not valid inside a procedure
    say(flow, call, "退款", confidence=0.5)
    assert call.phase is Phase.LISTENING


def test_confirming_grammar_is_yes_no_and_commands(flow: CallFlow) -> None:
    call, _ = flow.start()
    say(flow, call, "退款", confidence=0.5)
    grammar = set(flow.grammar(call))
    assert {"是", "不是", "人工"} <= grammar
    assert "转账" not in grammar


def test_utterance_event_records_what_the_log_needs(flow: CallFlow) -> None:
    call, _ = flow.start()
    event = heard(say(flow, call, "我要退款", confidence=0.9))
    record = event.to_record()
    assert record["type"] == "utterance" and record["state"] == "main"
    assert record["text"] == "我要退款" and record["confidence"] == 0.9
    assert record["decision"] == "accept" and record["phrase"] == "退款"
    assert 0.7 <= float(str(record["score"])) < 0.9


def test_playing_phase_ignores_prompts_finished_only_after_confirming(flow: CallFlow) -> None:
    call, _ = flow.start()
    say(flow, call, "退款", confidence=0.5)
    assert flow.handle(call, PromptsFinished()) == []


PASSWORD = Action(ActionKind.SELECT, "2")
CHOICES = [
    Choice("找回密码", PASSWORD),
    Choice("密码", PASSWORD),
    Choice("注册", Action(ActionKind.SELECT, "1")),
]


@pytest.mark.parametrize(
    ("text", "kind", "phrase"),
    [
        ("找回密码", MatchKind.EXACT, "找回密码"),
        ("我要找回密码啊", MatchKind.CONTAINED, "找回密码"),
        ("找回蜜码", MatchKind.SIMILAR, "找回密码"),
    ],
)
def test_match_kinds(text: str, kind: MatchKind, phrase: str) -> None:
    found = match(text, CHOICES)
    assert found is not None and found.kind is kind and found.choice.phrase == phrase


def test_two_different_choices_in_one_utterance_is_no_match() -> None:
    assert match("注册还是找回密码", CHOICES) is None


def test_unrelated_text_is_no_match() -> None:
    assert match("今天天气很好", CHOICES) is None
    assert match("", CHOICES) is None


def test_decide_thresholds() -> None:
    exact = match("注册", CHOICES)
    assert decide(exact, 0.7, accept=0.7, confirm=0.45).verdict is Verdict.ACCEPT
    assert decide(exact, 0.69, accept=0.7, confirm=0.45).verdict is Verdict.CONFIRM
    assert decide(exact, 0.44, accept=0.7, confirm=0.45).verdict is Verdict.REJECT
    similar = match("找回蜜码", CHOICES)
    assert decide(similar, 1.0, accept=0.7, confirm=0.45).verdict is Verdict.CONFIRM
