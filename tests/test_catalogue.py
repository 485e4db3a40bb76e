"""The one message catalogue: every language says everything, with the same placeholders."""

from __future__ import annotations

import ast
import re
import string
from dataclasses import fields
from pathlib import Path

import pytest

from ivr.engine.events import RECORD_REASONS, CallEvent, EventType, Outcome
from ivr.menu.model import GlobalAction
from ivr.outputs.catalogue import EN, KO_KR, TABLES, ZH_CN, Words, outcome, words_for
from tests.conftest import ROOT


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("words", TABLES.values(), ids=list(TABLES))
def test_every_table_says_everything_with_the_same_placeholders(words: Words) -> None:
    for field in fields(Words):
        value = getattr(words, field.name)
        if isinstance(value, str):
            assert value, field.name
            assert placeholders(value) == placeholders(getattr(ZH_CN, field.name)), field.name
    assert set(words.outcomes) == set(Outcome)
    assert set(words.globals) == set(GlobalAction)
    assert set(words.decisions) == {"accept", "confirm", "reject"}


def test_a_menu_language_picks_its_table_and_anything_else_english() -> None:
    assert words_for("zh-CN") is ZH_CN
    assert words_for("zh-TW") is ZH_CN  # the primary language
    assert words_for("ko") is KO_KR and words_for("ko_KR") is KO_KR
    assert words_for("en-GB") is EN
    assert words_for("fr-FR") is EN and words_for("") is EN


def test_outcomes_are_words_not_log_values() -> None:
    assert outcome(ZH_CN, Outcome.TRANSFERRED) == "已转人工"
    assert outcome(KO_KR, "abandoned") == "고객이 끊음"


def test_the_console_and_transcript_hold_no_words_of_their_own() -> None:
    """Their strings with CJK characters or Hangul are the catalogue's, nowhere else."""

    def worded(path: Path) -> list[str]:
        tree = ast.parse(path.read_text("utf-8"))
        found = []
        for node in ast.walk(tree):
            text = node.value if isinstance(node, ast.Constant) else None
            if isinstance(text, str) and any(
                "\u3400" <= c <= "\u9fff" or "\uac00" <= c <= "\ud7af" for c in text
            ):
                found.append(text)
        return found

    for module in ("ivr/outputs/console.py", "ivr/outputs/artifacts.py", "ivr/cli/call.py"):
        assert worded(ROOT / module) == [], module


@pytest.mark.parametrize("words", TABLES.values(), ids=list(TABLES))
def test_every_table_names_every_record_reason(words: Words) -> None:
    assert set(words.record_reasons) == set(RECORD_REASONS)
    assert all(words.record_reasons.values())


def test_the_record_reasons_are_the_call_logs() -> None:
    """The codes the catalogue words are the ones docs/call-log.md lists for ``record``."""
    table = (ROOT / "docs" / "call-log.md").read_text("utf-8")
    listed = re.search(r"`record`: ((?:`[a-z-]+`(?:, )?)+)", table)
    assert listed is not None
    assert re.findall(r"`([a-z-]+)`", listed.group(1)) == list(RECORD_REASONS)


@pytest.mark.parametrize("words", [ZH_CN, KO_KR], ids=["zh-CN", "ko-KR"])
@pytest.mark.parametrize("reason", RECORD_REASONS)
def test_a_record_reason_is_said_in_the_menus_language_and_logged_as_its_code(
    words: Words, reason: str
) -> None:
    """Transcript and console say the reason in words; the call log keeps the code."""
    import io

    from rich.console import Console

    from ivr.menu.model import load
    from ivr.outputs.artifacts import describe
    from ivr.outputs.console import ConsoleView

    seconds = None if reason in ("start", "skipped") else 4.0
    event = CallEvent(EventType.RECORD, "message", reason=reason, seconds=seconds)
    said = words.record_reasons[reason]
    line = describe(event, words)
    assert said in line and reason not in line
    out = io.StringIO()
    view = ConsoleView(load(ROOT / "menus" / "wallet.zh-CN.yaml"), Console(file=out, width=200))
    view.words = words
    view(event, 1.0)
    shown = out.getvalue()
    assert said in shown and reason not in shown
    assert event.to_record()["reason"] == reason
