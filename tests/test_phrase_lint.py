"""Phrase lint: ``ivr check --model`` flags phrases of one state that sound alike (issue 12)."""

from __future__ import annotations

import json
from pathlib import Path

from ivr.hearing.phrase_check import confusable_phrases, edit_distance, jamo
from ivr.menu.model import load
from tests.conftest import ROOT

KOREAN = (ROOT / "tests" / "menus" / "korean.ko-KR.yaml").read_text(encoding="utf-8")


def _menu(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "m.ko-KR.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_jamo_distance_counts_letters_not_syllables() -> None:
    assert jamo("셋") == "\u1109\u1166\u11ba"
    assert edit_distance(jamo("셋"), jamo("세")) == 1
    assert edit_distance(jamo("셋"), jamo("섯")) == 1
    assert edit_distance(jamo("셋"), jamo("다시")) == 4
    assert edit_distance("", "ab") == 2


def test_two_choices_one_letter_apart_are_flagged_at_the_phrase_line(tmp_path: Path) -> None:
    path = _menu(tmp_path, KOREAN.replace("phrases: [오]", "phrases: [세]"))
    problems = [str(p) for p in confusable_phrases(load(path))]
    assert len(problems) == 1, problems
    line = next(n for n, row in enumerate(path.read_text().splitlines(), 1) if "[세]" in row)
    assert problems[0].startswith(f"{path}:{line}: phrase '세' sounds like '셋' in main")


def test_the_shipped_korean_menu_has_no_phrases_alike_by_spelling(tmp_path: Path) -> None:
    assert confusable_phrases(load(_menu(tmp_path, KOREAN))) == []


def test_measured_confusions_from_the_calibration_evidence_are_flagged(tmp_path: Path) -> None:
    path = _menu(tmp_path, KOREAN)
    evidence = {
        "model": "model",
        "per_phrase": [{"state": "main", "phrase": "셋", "condition": "clean", "n_in": 24}],
        "confused_pairs": [
            {"state": "main", "said": "셋", "taken_for": "다시", "accepted": 5, "confirmed": 1},
            {"state": "main", "said": "오", "taken_for": "다시", "accepted": 1, "confirmed": 0},
        ],
    }
    (tmp_path / "m.ko-KR.calibration.json").write_text(json.dumps(evidence), encoding="utf-8")
    problems = [str(p) for p in confusable_phrases(load(path), "model")]
    assert len(problems) == 1 and "'셋' was heard as '다시' in main in 6 of 24" in problems[0]
    assert confusable_phrases(load(path), "another-model") == []  # measured for another model
