"""The DTMF receiver against ITU-T Q.24 as SpanDSP and Asterisk code it, and against talk-off.

Each Q.24 condition runs over all 16 keys: tones of 40 ms with 40 ms gaps (10 digits/s),
+/-1.5 % frequency error accepted and +/-3.5 % rejected, 8 dB normal and 4 dB reverse twist
accepted and more rejected, 15 dB S/N, 26 dB of dynamic range (-10 and -36 dBFS). Talk-off
uses espeak-ng speech (Mandarin and English, several voices and pitches) and music-like
signals. Tones start at several offsets inside a 102-sample block so that no result
depends on a lucky alignment.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ivr.audio.dtmf import (
    BLOCK,
    FREQUENCIES,
    KEYS,
    DigitEvent,
    DtmfDetector,
    ReceiverSettings,
    active_power,
    add_noise,
    detect,
    digits,
    generate,
)
from ivr.audio.wav import AudioClip, read_wav, to_rate

ALL_KEYS = list(KEYS)
OFFSETS = (0, 37, 77)
"""Leading silence in samples at 8 kHz: tones start early, mid and late in a block."""


def delayed(clip: AudioClip, samples: int) -> AudioClip:
    """``clip`` after ``samples`` of silence."""
    return AudioClip(np.concatenate([np.zeros(samples, np.int16), clip.samples]), clip.rate)


def tone_pair(
    low: float, high: float, ms: float = 70, low_dbfs: float = -10, high_dbfs: float = -10
) -> AudioClip:
    """One tone pair at 8 kHz with 70 ms of silence after it (any frequencies, any levels)."""
    t = np.arange(round(ms * 8)) / 8000
    x = 32767 * (
        10 ** (low_dbfs / 20) * np.sin(2 * np.pi * low * t)
        + 10 ** (high_dbfs / 20) * np.sin(2 * np.pi * high * t)
    )
    return AudioClip(np.concatenate([np.round(x), np.zeros(560)]).astype(np.int16), 8000)


def heard_each(key: str, **kwargs: Any) -> list[str]:
    """What the receiver makes of ``key`` (generated with ``kwargs``) at each offset."""
    return [digits(delayed(generate(key, **kwargs), k)) for k in OFFSETS]


# ---------------------------------------------------------------------------------------
# The generator


def test_generator_levels_frequencies_and_twist() -> None:
    clip = generate("5", tone_ms=1000, gap_ms=0, level_dbfs=-10, twist_db=4)
    x = clip.samples.astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x)) * 2 / len(x)
    freqs = np.fft.rfftfreq(len(x), 1 / clip.rate)
    low, high = FREQUENCIES["5"]
    low_db = 20 * np.log10(spectrum[np.argmin(abs(freqs - low))] / 32767)
    high_db = 20 * np.log10(spectrum[np.argmin(abs(freqs - high))] / 32767)
    assert low_db == pytest.approx(-12, abs=0.05)  # reverse twist: high group 4 dB louder
    assert high_db == pytest.approx(-8, abs=0.05)
    shifted = generate("5", tone_ms=1000, gap_ms=0, freq_error=0.02).samples.astype(float)
    peak = freqs[np.argmax(np.abs(np.fft.rfft(shifted)) * (freqs < 1000))]
    assert peak == pytest.approx(770 * 1.02, abs=1)


def test_generator_timing_and_bad_keys() -> None:
    clip = generate("12", rate=16000, tone_ms=40, gap_ms=60)
    assert clip.rate == 16000 and len(clip.samples) == 2 * 1600
    assert not clip.samples[640:1600].any() and clip.samples[:640].any()
    assert digits(generate("abcd")) == "ABCD"
    with pytest.raises(ValueError, match="not DTMF keys: 'EX'"):
        generate("1x2e")


def test_noise_is_set_against_the_active_part() -> None:
    """Gaps between tones do not lower the reference of the S/N."""
    clip = generate(KEYS, tone_ms=50, gap_ms=150)
    noisy = add_noise(clip, 15, seed=3)
    noise = noisy.samples.astype(np.float64) - clip.samples
    tone_power = np.mean(generate("1", tone_ms=1000, gap_ms=0).samples.astype(float) ** 2)
    assert active_power(clip) == pytest.approx(tone_power, rel=0.03)
    assert 10 * np.log10(tone_power / np.mean(noise**2)) == pytest.approx(15, abs=0.1)
    assert add_noise(AudioClip(np.zeros(800, np.int16), 8000), 10).samples.tolist() == [0] * 800


# ---------------------------------------------------------------------------------------
# Q.24 conditions, every key


@pytest.mark.parametrize("key", ALL_KEYS)
def test_every_key_nominal(key: str) -> None:
    assert heard_each(key) == [key] * len(OFFSETS)


@pytest.mark.parametrize("key", ALL_KEYS)
def test_40ms_tones_40ms_gaps_each_key_repeated(key: str) -> None:
    """10 digits/s: the same key three times is three digits (the 40 ms gap ends each)."""
    assert heard_each(key * 3, tone_ms=40, gap_ms=40) == [key * 3] * len(OFFSETS)


@pytest.mark.parametrize("offset", range(0, BLOCK, 6))
def test_40ms_tones_at_10_digits_per_second_any_alignment(offset: int) -> None:
    sequence = KEYS + KEYS[::-1] + "159D" * 2
    assert digits(delayed(generate(sequence, tone_ms=40, gap_ms=40), offset)) == sequence


def test_very_short_tones_are_not_digits() -> None:
    """10 ms blips never register, at any alignment (Q.24 only requires >= 40 ms to)."""
    for offset in range(0, BLOCK, 3):
        assert digits(delayed(generate(KEYS, tone_ms=10, gap_ms=60), offset)) == ""


@pytest.mark.parametrize("error", [0.015, -0.015])
@pytest.mark.parametrize("key", ALL_KEYS)
def test_frequency_error_of_1_5_percent_accepted(key: str, error: float) -> None:
    assert heard_each(key, freq_error=error) == [key] * len(OFFSETS)


@pytest.mark.parametrize("error", [0.035, -0.035])
@pytest.mark.parametrize("key", ALL_KEYS)
def test_frequency_error_of_3_5_percent_rejected(key: str, error: float) -> None:
    assert heard_each(key, freq_error=error) == [""] * len(OFFSETS)


@pytest.mark.parametrize("error", [0.035, -0.035])
@pytest.mark.parametrize("key", ALL_KEYS)
def test_one_group_3_5_percent_off_rejected(key: str, error: float) -> None:
    """The inner tones (770, 852, 1336, 1477 Hz) are where 102-sample bins cannot tell."""
    low, high = FREQUENCIES[key]
    assert digits(tone_pair(low * (1 + error), high)) == ""
    assert digits(tone_pair(low, high * (1 + error))) == ""
    assert digits(tone_pair(low * (1 - error / 2.5), high * (1 + error / 2.5))) == key


@pytest.mark.parametrize("key", ALL_KEYS)
def test_twist_8db_normal_and_4db_reverse_accepted(key: str) -> None:
    assert heard_each(key, twist_db=-8) == [key] * len(OFFSETS)
    assert heard_each(key, twist_db=4) == [key] * len(OFFSETS)


@pytest.mark.parametrize("key", ALL_KEYS)
def test_twist_beyond_limits_rejected(key: str) -> None:
    assert heard_each(key, twist_db=-10) == [""] * len(OFFSETS)
    assert heard_each(key, twist_db=6) == [""] * len(OFFSETS)


@pytest.mark.parametrize("seed", range(4))
def test_signal_to_noise_15db(seed: int) -> None:
    """White noise 15 dB under the tones, 70 ms and 40 ms tones, every key three times."""
    sequence = KEYS * 3
    for clip in (generate(sequence), generate(sequence, tone_ms=40, gap_ms=40)):
        noisy = add_noise(delayed(clip, 29 * seed), 15, seed=seed)
        assert digits(noisy) == sequence


@pytest.mark.parametrize("seed", range(2))
def test_limits_combined_with_15db_noise(seed: int) -> None:
    """Worst cases together: 40 ms tones, 8 dB twist, 1.5 % off, -36 dBFS, 15 dB S/N."""
    sequence = KEYS * 2
    for kwargs in (
        {"twist_db": -8, "freq_error": 0.015},
        {"twist_db": 4, "freq_error": -0.015},
        {"twist_db": -8, "level_dbfs": -36},
    ):
        clip = generate(sequence, tone_ms=40, gap_ms=40, **kwargs)
        assert digits(add_noise(delayed(clip, 41 * seed), 15, seed=seed)) == sequence


@pytest.mark.parametrize("level", [-10, -36])
@pytest.mark.parametrize("key", ALL_KEYS)
def test_dynamic_range_26db(key: str, level: float) -> None:
    assert heard_each(key, level_dbfs=level) == [key] * len(OFFSETS)


def test_below_the_minimum_level_nothing() -> None:
    assert digits(generate(KEYS, level_dbfs=-50)) == ""
    assert digits(generate(KEYS, level_dbfs=-40)) == KEYS


def test_dial_tone_10db_under_the_digits_tolerated() -> None:
    """SpanDSP's dial tone test: 350 + 440 Hz 10 dB under each DTMF tone."""
    clip = generate(KEYS, level_dbfs=-15)
    t = np.arange(len(clip.samples)) / 8000
    dial = 32767 * 10 ** (-25 / 20) * (np.sin(2 * np.pi * 350 * t) + np.sin(2 * np.pi * 440 * t))
    assert digits(AudioClip((clip.samples + dial).astype(np.int16), 8000)) == KEYS


def test_short_dropouts_do_not_split_a_digit() -> None:
    """A held key with 8 ms cut out of it stays one digit (two missed blocks end a digit)."""
    for offset in range(0, BLOCK, 10):
        x = generate(KEYS, tone_ms=150, gap_ms=60).samples.copy()
        for i in range(16):
            start = i * 1680 + 600 + offset
            x[start : start + 64] = 0
        assert digits(AudioClip(x, 8000)) == KEYS


# ---------------------------------------------------------------------------------------
# Talk-off


SENTENCES = {
    "cmn": [
        "您好，欢迎致电人民数字钱包客服热线。",
        "查询余额请按一，挂失请按二，人工服务请按零。",
        "我的钱包密码忘记了，能不能帮我重新设置一下？",
        "好的，请稍等，正在为您转接人工客服。",
    ],
    "en-us": [
        "Thank you for calling. Please listen carefully, as our menu options have changed.",
        "For billing, press one. To speak with an agent, press zero.",
        "I would like to check the balance of my wallet, please.",
        "one two three four five six seven eight nine zero star pound",
    ],
}
VOICES = {"cmn": ["cmn", "cmn+f2"], "en-us": ["en-us", "en-us+f3"]}
PITCHES = (50, 99)
"""espeak-ng's pitch 99 female voices hold harmonics steady: the hardest case found."""


def espeak(text: str, voice: str, pitch: int, folder: Path) -> AudioClip:
    exe = shutil.which("espeak-ng")
    assert exe, "espeak-ng is not installed: apt-get install espeak-ng"
    path = folder / f"{voice}-{pitch}-{len(list(folder.iterdir()))}.wav"
    subprocess.run(
        [exe, "-v", voice, "-p", str(pitch), "-w", str(path), text],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return read_wav(path)


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> list[AudioClip]:
    """Several sentences in Mandarin and English, two voices and two pitches each (~3 min)."""
    folder = tmp_path_factory.mktemp("talkoff")
    return [
        espeak(text, voice, pitch, folder)
        for language, texts in SENTENCES.items()
        for voice in VOICES[language]
        for pitch in PITCHES
        for text in texts
    ]


def test_talk_off_speech_gives_no_digits(speech: list[AudioClip]) -> None:
    assert sum(clip.duration for clip in speech) > 120
    found = [(i, event) for i, clip in enumerate(speech) for event in detect(clip)]
    assert found == []


def test_talk_off_speech_over_a_phone_line(speech: list[AudioClip]) -> None:
    from ivr.audio.phone_line import degrade

    for i, clip in enumerate(speech):
        assert detect(degrade(clip, codec="ulaw", snr_db=30, seed=i)) == []
        assert detect(degrade(clip, codec="alaw", snr_db=30, seed=i)) == []


def test_speech_does_not_hide_a_key_after_it(speech: list[AudioClip]) -> None:
    """Talk-off checks must not make the receiver deaf: speech, then keys, all heard."""
    clip = to_rate(speech[0], 8000)
    keys = generate("#0*", level_dbfs=-20)
    joined = AudioClip(np.concatenate([clip.samples, keys.samples]), 8000)
    events = detect(joined)
    assert [e.digit for e in events] == ["#", "0", "*"]
    assert events[0].start == pytest.approx(clip.duration, abs=0.015)


def _note(freq: float, seconds: float, harmonics: int, decay: float) -> np.ndarray:
    t = np.arange(round(seconds * 8000)) / 8000
    return np.exp(-decay * t) * sum(
        np.sin(2 * np.pi * freq * k * t) / k for k in range(1, harmonics + 1) if freq * k < 4000
    )


def _scaled(x: np.ndarray) -> AudioClip:
    return AudioClip(np.round(x / np.abs(x).max() * 16000).astype(np.int16), 8000)


@pytest.mark.parametrize("seed", range(3))
def test_talk_off_chords(seed: int) -> None:
    """Triads and sevenths over three octaves, instrument-like harmonics and decays."""
    rng = np.random.default_rng(seed)
    shapes = [(0, 4, 7), (0, 3, 7), (0, 4, 7, 11), (0, 5, 9), (0, 4, 7, 12)]
    music = np.concatenate(
        [
            sum(
                _note(
                    110 * 2 ** ((root + step) / 12),
                    0.5,
                    int(rng.integers(3, 10)),
                    float(rng.uniform(0.5, 4)),
                )
                for step in shapes[i % len(shapes)]
            )
            for i, root in enumerate(rng.integers(0, 36, size=40))
        ]
    )
    assert detect(_scaled(music)) == []


def test_talk_off_sweeps() -> None:
    """Single sweeps across the band, a harmonic-rich glide, a warbling sweep."""
    t = np.arange(3 * 8000) / 8000

    def chirp(f0: float, f1: float) -> np.ndarray:
        return np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t**2 / 6))

    glide = sum(np.sin(2 * np.pi * k * (100 * t + 100 * t**2)) / k for k in range(1, 12))
    parts = [
        chirp(200, 3400),
        chirp(3400, 200),
        glide,
        chirp(500, 1800) * (1 + 0.5 * np.sin(2 * np.pi * 6 * t)),
    ]
    assert detect(_scaled(np.concatenate(parts))) == []


# ---------------------------------------------------------------------------------------
# Streaming, rates, timing


def chunked(detector: DtmfDetector, samples: np.ndarray, sizes: list[int]) -> list[DigitEvent]:
    events: list[DigitEvent] = []
    start = 0
    for size in sizes:
        events += detector.feed(samples[start : start + size])
        start += size
    events += detector.feed(samples[start:])
    return events + detector.flush()


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 44100, 48000, 8001])
def test_streaming_equals_whole_file(rate: int) -> None:
    clip = delayed(generate(KEYS * 2, rate=rate, tone_ms=40, gap_ms=40), 333)
    clip = add_noise(clip, 20, seed=rate)
    whole = detect(clip)
    assert "".join(e.digit for e in whole) == KEYS * 2
    twenty_ms = [rate // 50] * (len(clip.samples) // (rate // 50))
    assert chunked(DtmfDetector(rate), clip.samples, twenty_ms) == whole
    rng = np.random.default_rng(rate)
    ragged = [int(n) for n in rng.integers(1, 900, size=len(clip.samples) // 450)]
    assert chunked(DtmfDetector(rate), clip.samples, ragged) == whole


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 22050, 11025, 48000])
def test_input_rates_give_the_same_events(rate: int) -> None:
    reference = detect(generate(KEYS))
    events = detect(generate(KEYS, rate=rate))
    assert events == reference
    assert detect(to_rate(generate(KEYS), rate)) == reference


def test_event_times() -> None:
    """start within 10 ms of the tone's onset; confirmed 20-35 ms after it."""
    onsets = np.arange(16) * 0.14 + 0.05
    for offset in range(400, 400 + BLOCK, 7):
        events = detect(delayed(generate(KEYS), offset))
        starts = np.array([e.start for e in events])
        ends = np.array([e.end for e in events])
        true = onsets + (offset - 400) / 8000
        assert np.all(np.abs(starts - true) <= 0.010)
        assert np.all((ends - true >= 0.019) & (ends - true <= 0.035))


def test_live_latency_with_20ms_chunks() -> None:
    """A key is reported by the feed() of the 20 ms chunk ~30-60 ms after it starts."""
    lead = 5333
    clip = delayed(generate("5#", rate=16000, tone_ms=200, gap_ms=100), lead)
    detector = DtmfDetector(16000)
    reported = []
    for i in range(0, len(clip.samples), 320):
        for event in detector.feed(clip.samples[i : i + 320]):
            reported.append((event.digit, (i + 320) / 16000))
    onsets = [lead / 16000, lead / 16000 + 0.3]
    assert [d for d, _ in reported] == ["5", "#"]
    for (_, when), onset in zip(reported, onsets, strict=True):
        assert 0.025 <= when - onset <= 0.065


def test_active_key_is_held_until_released() -> None:
    clip = generate("7", rate=8000, tone_ms=300, gap_ms=100)
    detector = DtmfDetector(8000)
    states = []
    for i in range(0, len(clip.samples), 160):
        detector.feed(clip.samples[i : i + 160])
        states.append(detector.active)
    assert states[0] is None and states[2:14] == ["7"] * 12 and states[-1] is None


def test_feed_accepts_floats_and_column_arrays() -> None:
    clip = generate("19", rate=16000)
    as_float = clip.samples.astype(np.float32) / 32768
    detector = DtmfDetector(16000)
    events = detector.feed(as_float[:, None]) + detector.flush()
    assert [e.digit for e in events] == ["1", "9"]
    with pytest.raises(ValueError, match="mono"):
        DtmfDetector(16000).feed(np.zeros((10, 2), np.int16))


def test_flush_starts_a_new_stream() -> None:
    detector = DtmfDetector(8000)
    first = detector.feed(generate("3").samples) + detector.flush()
    second = detector.feed(generate("3").samples) + detector.flush()
    assert first == second and len(first) == 1


def test_settings_are_checked_and_used() -> None:
    with pytest.raises(ValueError):
        ReceiverSettings(hits_to_begin=1)
    with pytest.raises(ValueError):
        ReceiverSettings(max_deviation=0.1)
    with pytest.raises(ValueError):
        DtmfDetector(0)
    strict = ReceiverSettings(normal_twist_db=6)
    assert digits(generate(KEYS, twist_db=-8), strict) == ""
    slow = ReceiverSettings(hits_to_begin=4)
    assert digits(generate(KEYS, tone_ms=40, gap_ms=40), slow) == ""
    assert digits(generate(KEYS, tone_ms=70), slow) == KEYS


# ---------------------------------------------------------------------------------------
# The exact resampler and the pre-gate

RATES = [8000, 11025, 16000, 22050, 44100, 48000, 32000, 7999]


def holding(rate: int, samples: np.ndarray) -> DtmfDetector:
    """A detector that has analysed ``samples`` and still holds all of them."""
    detector = DtmfDetector(rate)
    detector._compact(len(samples))
    detector.feed(samples)
    return detector


def noisy_keys(rate: int, seconds: float = 1.2) -> np.ndarray:
    """Keys in noise at ``rate``, plus white noise over the whole band for the filter to cut."""
    keys = add_noise(delayed(generate("159#", tone_ms=60, gap_ms=40, level_dbfs=-20), 123), 15)
    samples = to_rate(keys, rate).samples
    rng = np.random.default_rng(rate)
    wide = samples + rng.normal(0, 300, len(samples))
    return np.resize(np.clip(np.round(wide), -32768, 32767).astype(np.int16), round(rate * seconds))


def reference_resample(samples: np.ndarray, rate: int, count: int) -> np.ndarray:
    """The 3 ms Kaiser-windowed sinc the receiver uses, in plain floats, one output at a time."""
    if rate == 8000:
        return samples[:count].astype(float)
    up, down = 8000 // np.gcd(rate, 8000), rate // np.gcd(rate, 8000)
    taps = int(np.ceil(24 * max(rate, 8000) / 8000))
    x = np.concatenate([np.zeros(taps), samples.astype(float), np.zeros(2 * taps)])
    out = np.empty(count)
    for k in range(count):
        fraction = (k * down % up) / up
        d = np.arange(-taps + 1, taps + 1) - fraction
        u = np.clip(d / taps, -1, 1)
        h = np.sinc(0.85 * min(rate, 8000) * d / rate) * np.i0(8 * np.sqrt(1 - u**2))
        base = k * down // up + taps
        out[k] = h @ x[base - taps + 1 : base + taps + 1] / h.sum()
    return out


@pytest.mark.parametrize("rate", RATES)
def test_resampler_paths_agree_bit_for_bit(rate: int) -> None:
    """Per block (live chunks) and per frame (files) give the same bits, the right values."""
    samples = noisy_keys(rate)
    detector = holding(rate, samples)
    n = detector._block
    every = detector._exact(np.arange(n))
    one_by_one = np.concatenate([detector._exact(np.array([b])) for b in range(n)])
    scattered = detector._exact(np.array([3, 4, 9, 40, 41, 42, n - 1]))
    assert np.array_equal(every, one_by_one)
    assert np.array_equal(scattered, every[[3, 4, 9, 40, 41, 42, n - 1]])
    assert np.array_equal(every, np.round(every))  # whole 1/16 LSB
    reference = reference_resample(samples, rate, 2 * BLOCK + 37)
    assert np.abs(every.ravel()[: len(reference)] / 16 - reference).max() < 0.04


@pytest.mark.parametrize("rate", [11025, 16000, 22050, 44100])
def test_resampler_survives_buffer_compaction(rate: int) -> None:
    """Streamed in ragged chunks through many buffer compactions: the same samples."""
    samples = np.resize(noisy_keys(rate), 4 * 65536)
    whole = holding(rate, samples)
    expected = whole._exact(np.arange(whole._block))
    streaming = DtmfDetector(rate)
    rng = np.random.default_rng(rate)
    start, checked = 0, 0
    while start < len(samples):
        size = int(rng.integers(1, 3000))
        streaming.feed(samples[start : start + size])
        start += size
        last = streaming._block - 1
        if last >= 0:
            assert np.array_equal(streaming._exact(np.array([last]))[0], expected[last])
            checked += 1
    assert checked > 100
    assert streaming._buf_start > 2 * 65536  # the buffer did drop old input


def pregate_sets(detector: DtmfDetector) -> tuple[np.ndarray, set[int], set[int], set[int]]:
    """Exact hits of every analysed block, and the blocks each pre-gate keeps."""
    geo, n = detector._geo, detector._block
    hits = detector._block_hits(detector._exact(np.arange(n)))
    lo = geo.span_start(0) - detector._buf_start
    hi = geo.span_start(n - 1) + geo.span - detector._buf_start
    many = set(detector._pregate_many(0, n, lo, hi).tolist())
    few = set(detector._pregate_few(0, n).tolist())
    loud = set()
    for b in range(n):
        seg = detector._buf[geo.span_start(b) - detector._buf_start :][: geo.span]
        if max(int(seg.max()), -int(seg.min())) >= detector._quiet:
            loud.add(b)
    return hits, many, few, loud


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100])
@pytest.mark.parametrize(
    "kwargs",
    [
        {"level_dbfs": -36},
        {"level_dbfs": -36, "twist_db": -8, "freq_error": 0.015},
        {"level_dbfs": -30, "twist_db": 4, "freq_error": -0.015},
    ],
)
def test_pregate_never_drops_a_hit_at_36_dbfs_and_15_db_noise(
    rate: int, kwargs: dict[str, float]
) -> None:
    for seed in range(2):
        clip = generate(KEYS, rate=8000, tone_ms=40, gap_ms=40, **kwargs)
        noisy = to_rate(add_noise(delayed(clip, 17 * seed), 15, seed=seed), rate)
        detector = holding(rate, noisy.samples)
        hits, many, few, loud = pregate_sets(detector)
        found = set(np.flatnonzero(hits).tolist())
        assert len(found) >= 16
        assert found <= many and found <= few and found <= loud
        assert digits(noisy) == KEYS


@pytest.mark.parametrize("rate", [8000, 22050])
def test_pregate_at_the_block_gates_edges(rate: int) -> None:
    """Tones right at the block tests' level and twist limits: whatever they pass, it keeps."""
    edge = {
        "level": [{"level_dbfs": level} for level in np.arange(-50.0, -52.6, -0.3)],
        "twist": [{"twist_db": t} for t in (-12.0, -12.5, -13.0, 6.5, 7.0, 7.5, 8.0)],
    }
    for cases in edge.values():
        for kwargs in cases:
            clip = to_rate(generate(KEYS, rate=8000, tone_ms=60, gap_ms=40, **kwargs), rate)
            hits, many, few, loud = pregate_sets(holding(rate, clip.samples))
            found = set(np.flatnonzero(hits).tolist())
            assert found <= many and found <= few and found <= loud


def test_pregate_on_speech_keeps_every_hit_and_drops_most(speech: list[AudioClip]) -> None:
    kept = total = 0
    for clip in speech[::3]:
        hits, many, few, loud = pregate_sets(holding(clip.rate, clip.samples[: clip.rate * 2]))
        found = set(np.flatnonzero(hits).tolist())
        assert found <= many and found <= few and found <= loud
        kept, total = kept + len(many), total + len(hits)
    assert kept < 0.3 * total


def reference_events(clip: AudioClip) -> list[DigitEvent]:
    """Every block through the exact tests and every pair checked, then Asterisk's loop."""
    from ivr.audio.dtmf import _pair_checks

    detector = holding(clip.rate, clip.samples)
    detector.flush()
    detector = holding(clip.rate, np.concatenate([clip.samples, np.zeros(clip.rate, np.int16)]))
    y = detector._exact(np.arange(detector._block))
    hits = detector._block_hits(y)
    pairs = np.flatnonzero((hits[1:] > 0) & (hits[1:] == hits[:-1])) + 1
    valid = np.zeros(len(hits), bool)
    windows = np.concatenate([y[pairs - 1], y[pairs]], axis=1) / 16
    valid[pairs] = _pair_checks(windows, hits[pairs], detector.settings)
    events, current, misses, run_key, run_length, run_start = [], 0, 0, 0, 0, 0
    for block, hit in enumerate(hits.tolist()):
        if current:
            misses = 0 if hit == current else misses + 1
            if misses >= 2:
                current = 0
        if hit != run_key:
            run_key, run_length, run_start = hit, 0, block
        if not hit:
            continue
        run_length += 1
        if hit != current and run_length >= 2 and valid[block]:
            current, misses = hit, 0
            events.append(DigitEvent(KEYS[hit - 1], run_start * 0.01275, (block + 1) * 0.01275))
    return events


def test_lazy_pair_checks_match_checking_every_pair(speech: list[AudioClip]) -> None:
    """Pair checks skipped while a key is held or after a run's first pass change nothing."""
    keys = add_noise(generate(KEYS * 2, tone_ms=150, gap_ms=45, twist_db=-8), 15, seed=5)
    talk = to_rate(speech[1], 8000)
    clip = AudioClip(np.concatenate([keys.samples, talk.samples, keys.samples]), 8000)
    expected = reference_events(clip)
    assert "".join(e.digit for e in expected) == KEYS * 4
    for got in (detect(clip), chunked(DtmfDetector(8000), clip.samples, [160] * 2000)):
        assert [(e.digit, round(e.start, 6), round(e.end, 6)) for e in got] == [
            (e.digit, round(e.start, 6), round(e.end, 6)) for e in expected
        ]


def test_input_types_are_rounded_and_clipped() -> None:
    clip = generate("15", rate=16000)
    reference = detect(clip)
    as_int32 = DtmfDetector(16000)
    assert as_int32.feed(clip.samples.astype(np.int32)) + as_int32.flush() == reference
    loud = DtmfDetector(16000)
    events = loud.feed(clip.samples / 32768 * 4) + loud.flush()  # beyond full scale: clipped
    assert [e.digit for e in events] == ["1", "5"]
    assert DtmfDetector(16000).feed(np.zeros(0)) == []
