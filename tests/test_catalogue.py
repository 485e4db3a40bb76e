"""The one message catalogue: every language says everything, with the same placeholders."""

from __future__ import annotations

import ast
import string
from dataclasses import fields
from pathlib import Path

import pytest

from ivr.engine.events import Outcome
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
