"""Real Chinese prompts through pyttsx3 + espeak-ng, and the prompt cache.

espeak-ng is not byte-for-byte repeatable inside one process (its pitch-flutter phase is a
static variable that runs on across utterances; lengths drift by up to ~1 %), so "same
prompt" is checked with an acoustic fingerprint stretched to a common length: over 25
renders of each prompt below the same text matched at >= 0.96, different ones at <= 0.85,
so the tests ask which reference a render sounds most like rather than for equal bytes.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import wave
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from ivr.prompts.tts import ESPEAK_RATE, PromptCache, Pyttsx3Synthesizer, TTSUnavailable

WELCOME = "您好，欢迎致电人民数字钱包客服热线。"
PROMPTS = [
    "请按一号键",
    "查询余额请按一",
    "挂失请按二",
    "人工服务请按零",
    "再见",
    WELCOME,
    "请输入您的手机号码，以井号键结束",
    "对不起，您的输入有误",
]


@pytest.fixture(scope="module")
def synth() -> Pyttsx3Synthesizer:
    return Pyttsx3Synthesizer()


def frames(path: Path) -> npt.NDArray[np.int16]:
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), "<i2")


def fingerprint(path: Path) -> npt.NDArray[np.float64]:
    """Log energies in 24 bands per 20 ms, smoothed over 60 ms: robust to pitch flutter."""
    x = frames(path).astype(np.float64)
    n, hop = 1024, ESPEAK_RATE // 50
    windows = np.lib.stride_tricks.sliding_window_view(x, n)[::hop] * np.hanning(n)
    power = np.abs(np.fft.rfft(windows, axis=1)) ** 2
    edges = np.geomspace(3, power.shape[1] - 1, 25).astype(int)
    bands = np.log(
        np.stack([power[:, a:b].sum(axis=1) for a, b in itertools.pairwise(edges)], 1) + 1e3
    )
    padded = np.pad(bands, ((1, 1), (0, 0)), mode="edge")
    smoothed: npt.NDArray[np.float64] = (padded[:-2] + padded[1:-1] + padded[2:]) / 3
    return smoothed


def stretch(fp: npt.NDArray[np.float64], n: int) -> npt.NDArray[np.float64]:
    """Resample a fingerprint to ``n`` frames (renders of one text drift by up to ~1 %)."""
    x = np.linspace(0, len(fp) - 1, n)
    i = np.floor(x).astype(int)
    j = np.minimum(i + 1, len(fp) - 1)
    w = (x - i)[:, None]
    out: npt.NDArray[np.float64] = fp[i] * (1 - w) + fp[j] * w
    return out


def similarity(a: Path, b: Path) -> float:
    fa, fb = fingerprint(a), fingerprint(b)
    n = min(len(fa), len(fb))
    va, vb = stretch(fa, n).ravel(), stretch(fb, n).ravel()
    va, vb = va - va.mean(), vb - vb.mean()
    return float(va @ vb / np.linalg.norm(va) / np.linalg.norm(vb))


def closest(path: Path, candidates: list[Path]) -> int:
    """Index of the candidate that sounds most like ``path``."""
    return int(np.argmax([similarity(path, c) for c in candidates]))


def same_length(a: Path, b: Path) -> bool:
    na, nb = len(frames(a)), len(frames(b))
    return abs(na - nb) <= 0.03 * max(na, nb)


def test_renders_valid_chinese_wav(synth: Pyttsx3Synthesizer, tmp_path: Path) -> None:
    target = tmp_path / "welcome.wav"
    synth.render(WELCOME, target)
    with wave.open(str(target)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (ESPEAK_RATE, 1, 2)
        duration = w.getnframes() / w.getframerate()
    assert 3.0 < duration < 12.0  # 18 syllables at 170 wpm
    assert np.abs(frames(target)).max() > 3000  # speech, not silence
    assert [p.name for p in tmp_path.iterdir()] == ["welcome.wav"]  # no temp file left


def test_longer_text_gives_longer_audio(synth: Pyttsx3Synthesizer, tmp_path: Path) -> None:
    synth.render("再见", tmp_path / "short.wav")
    synth.render(WELCOME, tmp_path / "long.wav")
    assert len(frames(tmp_path / "long.wav")) > 2 * len(frames(tmp_path / "short.wav"))


def test_sequential_renders_are_not_mixed_up(synth: Pyttsx3Synthesizer, tmp_path: Path) -> None:
    """A, B, A: the sticky save target / last-command bugs would give B's audio to A."""
    a1, b, a2 = tmp_path / "a1.wav", tmp_path / "b.wav", tmp_path / "a2.wav"
    synth.render(WELCOME, a1)
    synth.render("请按一号键", b)
    synth.render(WELCOME, a2)
    assert same_length(a1, a2)
    assert not same_length(a1, b)
    assert closest(a2, [b, a1]) == 1
    assert closest(b, [a1, a2, b]) == 2


def test_concurrent_renders_from_threads(synth: Pyttsx3Synthesizer, tmp_path: Path) -> None:
    """8 prompts from 4 threads: each file has its own prompt (none lost or swapped)."""
    alone = []
    for i, text in enumerate(PROMPTS):
        alone.append(tmp_path / f"alone{i}.wav")
        synth.render(text, alone[-1])
    threaded = [tmp_path / f"threaded{i}.wav" for i in range(len(PROMPTS))]
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(synth.render, PROMPTS, threaded))
    for i, path in enumerate(threaded):
        assert closest(path, alone) == i, f"{PROMPTS[i]!r} got another prompt's audio"
        assert same_length(path, alone[i])


def test_synthesizers_with_different_rates_share_the_engine(tmp_path: Path) -> None:
    slow, fast = Pyttsx3Synthesizer(rate=110), Pyttsx3Synthesizer(rate=260)
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda s, p: s.render(WELCOME, p), [slow, fast, slow], [
            tmp_path / "slow.wav", tmp_path / "fast.wav", tmp_path / "slow2.wav"
        ]))  # fmt: skip
    assert len(frames(tmp_path / "slow.wav")) > 1.5 * len(frames(tmp_path / "fast.wav"))
    assert same_length(tmp_path / "slow.wav", tmp_path / "slow2.wav")


def test_unknown_voice_is_reported(tmp_path: Path) -> None:
    with pytest.raises(TTSUnavailable) as info:
        Pyttsx3Synthesizer(voice="xx/klingon")
    message = str(info.value)
    assert "\n" not in message
    assert "voice 'xx/klingon' is not installed" in message
    assert "espeak-ng" in message
    # A voice that breaks later fails the render and leaves nothing behind.
    synth = Pyttsx3Synthesizer()
    synth.voice = "xx/klingon"
    with pytest.raises(TTSUnavailable):
        synth.render(WELCOME, tmp_path / "x.wav")
    assert list(tmp_path.iterdir()) == []


def test_language_name_voice_is_accepted(tmp_path: Path) -> None:
    Pyttsx3Synthesizer(voice="cmn").render("再见", tmp_path / "cmn.wav")
    assert len(frames(tmp_path / "cmn.wav")) > 0


def test_nothing_printed_on_stdout(synth: Pyttsx3Synthesizer, tmp_path: Path,
                                   capfd: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    synth.render("再见", tmp_path / "quiet.wav")
    assert capfd.readouterr().out == ""


def test_blank_text_is_refused(synth: Pyttsx3Synthesizer, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty"):
        synth.render("  ", tmp_path / "blank.wav")


def test_missing_libespeak_is_one_clear_line() -> None:
    code = (
        "import ctypes\n"
        "def refuse(name): raise OSError(name + ': cannot open shared object file')\n"
        "ctypes.cdll.LoadLibrary = refuse\n"
        "from ivr.prompts.tts import Pyttsx3Synthesizer, TTSUnavailable\n"
        "try:\n    Pyttsx3Synthesizer()\n"
        "except TTSUnavailable as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("\n") == 1
    assert "apt-get install espeak-ng" in out.stdout


# --- PromptCache ----------------------------------------------------------------------


class CountingSynth:
    """Wraps a synthesizer and counts renders, to prove cache hits do not render."""

    def __init__(self, inner: Pyttsx3Synthesizer) -> None:
        self.inner = inner
        self.voice, self.rate, self.engine_name = inner.voice, inner.rate, inner.engine_name
        self.rendered: list[str] = []

    def render(self, text: str, target: Path) -> None:
        self.rendered.append(text)
        self.inner.render(text, target)


class FakeSynth:
    engine_name = "fake"

    def __init__(self, voice: str = "sit/cmn", rate: int = 170) -> None:
        self.voice, self.rate = voice, rate

    def render(self, text: str, target: Path) -> None:
        raise AssertionError("not expected to render")


def test_cache_hit_does_not_render_again(synth: Pyttsx3Synthesizer, tmp_path: Path) -> None:
    counting = CountingSynth(synth)
    cache = PromptCache(counting, tmp_path / "prompts")
    assert not cache.is_cached("再见")
    first = cache.get("再见")
    assert cache.is_cached("再见")
    assert cache.get("再见") == first
    assert PromptCache(counting, tmp_path / "prompts").get("再见") == first  # persists
    assert counting.rendered == ["再见"]
    with wave.open(str(first)) as w:
        assert w.getnframes() > 0


def test_cache_renders_a_prompt_once_for_concurrent_callers(
    synth: Pyttsx3Synthesizer, tmp_path: Path
) -> None:
    """The call's prefetch thread and the call itself asking at once: one render."""
    counting = CountingSynth(synth)
    cache = PromptCache(counting, tmp_path)
    with ThreadPoolExecutor(max_workers=4) as pool:
        paths = set(pool.map(cache.get, [WELCOME] * 4 + ["再见"] * 4))
    assert len(paths) == 2
    assert sorted(counting.rendered) == sorted([WELCOME, "再见"])


def test_prefetch_renders_only_missing(synth: Pyttsx3Synthesizer, tmp_path: Path) -> None:
    counting = CountingSynth(synth)
    cache = PromptCache(counting, tmp_path)
    cache.get(PROMPTS[0])
    seen: list[tuple[int, int]] = []
    texts: Iterable[str] = iter([PROMPTS[0], PROMPTS[1], PROMPTS[2], PROMPTS[1]])
    assert cache.prefetch(texts, lambda done, total: seen.append((done, total))) == 2
    assert counting.rendered == PROMPTS[:3]
    assert seen == [(1, 2), (2, 2)]
    assert cache.prefetch(PROMPTS[:3]) == 0
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".wav"] * 3


def test_cache_key_depends_on_voice_rate_engine_and_text(tmp_path: Path) -> None:
    base = PromptCache(FakeSynth(), tmp_path).path_for(WELCOME)
    assert base.parent == tmp_path and base.suffix == ".wav"
    assert PromptCache(FakeSynth(), tmp_path).path_for(WELCOME) == base
    assert PromptCache(FakeSynth(voice="sit/yue"), tmp_path).path_for(WELCOME) != base
    assert PromptCache(FakeSynth(rate=171), tmp_path).path_for(WELCOME) != base
    assert PromptCache(FakeSynth(), tmp_path).path_for(WELCOME + "。") != base
    other = FakeSynth()
    other.engine_name = "other"
    assert PromptCache(other, tmp_path).path_for(WELCOME) != base


def test_cache_default_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert PromptCache(FakeSynth()).directory == tmp_path / "ivr" / "prompts"
