"""The phone-line model: G.711 against its published values and sox, the band, the noise,
and DTMF still heard after all of it; the line as a stream, which gives a whole clip what
it always gave and a file read in blocks what the whole file would get."""

from __future__ import annotations

import dataclasses
import itertools
import math
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ivr.audio.wav
from ivr.audio.dtmf import (
    KEYS,
    ActivePower,
    Noise,
    active_power,
    detect,
    detect_blocks,
    digits,
    generate,
)
from ivr.audio.phone_line import (
    RATE,
    BandPass,
    Codec,
    Line,
    alaw_decode,
    alaw_encode,
    band_pass,
    companded,
    degrade,
    through_line,
    ulaw_decode,
    ulaw_encode,
)
from ivr.audio.wav import AudioClip, open_wav, to_rate, write_wav

ALL_INT16 = np.arange(-32768, 32768)
CODECS = {"ulaw": (ulaw_encode, ulaw_decode), "alaw": (alaw_encode, alaw_decode)}


def sine(freq: float, rate: int = 8000, seconds: float = 1.0, dbfs: float = -10) -> AudioClip:
    t = np.arange(round(rate * seconds)) / rate
    x = 32767 * 10 ** (dbfs / 20) * np.sin(2 * np.pi * freq * t)
    return AudioClip(np.round(x).astype(np.int16), rate)


def gain_db(before: AudioClip, after: AudioClip) -> float:
    """Level change, measured away from the edges (filter start-up)."""
    a = before.samples.astype(np.float64)[before.rate // 4 : -before.rate // 4]
    b = after.samples.astype(np.float64)[after.rate // 4 : -after.rate // 4]
    return float(10 * np.log10(np.mean(b**2) / np.mean(a**2)))


# ---------------------------------------------------------------------------------------
# G.711


def test_digital_milliwatt_codewords() -> None:
    """G.711 Tables 5 and 6: a 1 kHz sine at 0 dBm0, phase pi/8, is this 8-byte sequence."""
    phases = np.pi / 8 + np.arange(8) * np.pi / 4
    ulaw_peak = 32767 * 10 ** (-3.17 / 20)  # 0 dBm0 is 3.17 dB under a full-scale mu-law sine
    alaw_peak = 32767 * 10 ** (-3.14 / 20)
    ulaw = ulaw_encode(np.round(-ulaw_peak * np.sin(phases)))
    alaw = alaw_encode(np.round(-alaw_peak * np.sin(phases)))
    assert ulaw.tolist() == [0x1E, 0x0B, 0x0B, 0x1E, 0x9E, 0x8B, 0x8B, 0x9E]
    assert alaw.tolist() == [0x34, 0x21, 0x21, 0x34, 0xB4, 0xA1, 0xA1, 0xB4]


def test_known_codewords() -> None:
    assert ulaw_encode([0, 32767, -32768]).tolist() == [0xFF, 0x80, 0x00]
    assert ulaw_decode([0x00, 0x80, 0xFF, 0x7F, 0xFE, 0x7E]).tolist() == [
        -32124,
        32124,
        0,
        0,
        8,
        -8,
    ]
    assert alaw_encode([0, 32767, -32768, -8]).tolist() == [0xD5, 0xAA, 0x2A, 0x55]
    assert alaw_decode([0xD5, 0x55, 0xAA, 0x2A]).tolist() == [8, -8, 32256, -32256]


@pytest.mark.parametrize("codec", CODECS)
def test_codes_decode_and_encode_back(codec: str) -> None:
    """Every codeword survives decode+encode (mu-law's negative zero becomes +0)."""
    encode, decode = CODECS[codec]
    codes = np.arange(256, dtype=np.uint8)
    back = encode(decode(codes))
    if codec == "ulaw":
        assert back[0x7F] == 0xFF
        back[0x7F] = 0x7F
    assert back.tolist() == codes.tolist()
    levels = np.unique(decode(codes))
    assert len(levels) == (255 if codec == "ulaw" else 256)


@pytest.mark.parametrize("codec", CODECS)
def test_round_trip_error_bounds(codec: str) -> None:
    """Monotonic, and within half a step: <= 4.8 % of the value, <= 12 near zero."""
    encode, decode = CODECS[codec]
    out = decode(encode(ALL_INT16)).astype(np.int64)
    assert np.all(np.diff(out) >= 0)
    top = 32124 if codec == "ulaw" else 32256
    inside = np.abs(ALL_INT16) <= top
    error = np.abs(out - ALL_INT16)
    assert np.all(error[inside] <= np.maximum(12, 0.048 * np.abs(ALL_INT16[inside])))
    assert np.all(np.abs(out[~inside]) == top)  # saturates at the largest level


@pytest.mark.parametrize("codec", CODECS)
def test_quantisation_snr_of_a_sine(codec: Codec) -> None:
    """G.711 keeps a sine 34-38 dB above its quantisation noise from -3 to -30 dBFS."""
    for dbfs in (-3, -10, -20, -30):
        clip = sine(1004, dbfs=dbfs)
        error = companded(clip.samples, codec).astype(np.float64) - clip.samples
        snr = 10 * np.log10(np.mean(clip.samples.astype(float) ** 2) / np.mean(error**2))
        assert 34 < snr < 40


@pytest.mark.parametrize("codec", ["u-law", "a-law"])
def test_bit_exact_with_sox(codec: str, tmp_path: Path) -> None:
    """sox (libsox's g711) encodes and decodes every 16-bit value the same way."""
    sox = shutil.which("sox")
    assert sox, "sox is not installed: apt-get install sox"
    encode, decode = CODECS["ulaw" if codec == "u-law" else "alaw"]
    pcm, coded, codes, decoded = (tmp_path / n for n in ("a.raw", "b.raw", "c.raw", "d.raw"))
    ALL_INT16.astype("<i2").tofile(pcm)
    raw16 = ["-t", "raw", "-r", "8000", "-c", "1", "-e", "signed", "-b", "16"]
    raw8 = ["-t", "raw", "-r", "8000", "-c", "1", "-e", codec, "-b", "8"]
    subprocess.run([sox, "-D", *raw16, str(pcm), *raw8, str(coded)], check=True)
    assert np.fromfile(coded, np.uint8).tolist() == encode(ALL_INT16).tolist()
    np.arange(256, dtype=np.uint8).tofile(codes)
    subprocess.run([sox, "-D", *raw8, str(codes), *raw16, str(decoded)], check=True)
    expected = decode(np.arange(256, dtype=np.uint8)).tolist()
    assert np.fromfile(decoded, "<i2").tolist() == expected
    # the line's lookup table of round trips: sox's encode then decode, for every value,
    # in any order and from a strided view
    round_trip = np.array(expected, np.int16)[np.fromfile(coded, np.uint8)]
    line = "ulaw" if codec == "u-law" else "alaw"
    pcm16 = ALL_INT16.astype(np.int16)
    assert companded(pcm16, line).tolist() == round_trip.tolist()
    assert companded(pcm16[::-7], line).tolist() == round_trip[::-7].tolist()
    assert companded(ALL_INT16, line).tolist() == round_trip.tolist()  # wider: the arithmetic


def test_unknown_codec() -> None:
    with pytest.raises(ValueError, match="unknown codec"):
        companded([0], "gsm")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------
# Band


@pytest.mark.parametrize("rate", [8000, 16000, 44100])
def test_band_limits(rate: int) -> None:
    """200 Hz and 3800 Hz are gone, 1 kHz and the DTMF tones pass untouched."""
    for freq, low, high in ((200, -99, -40), (3800, -99, -40), (1000, -0.1, 0.1)):
        clip = sine(freq, rate)
        assert low < gain_db(clip, degrade(clip, codec=None)) < high
    for freq in (697, 941, 1209, 1633):
        clip = sine(freq, rate)
        assert abs(gain_db(clip, degrade(clip, codec=None))) < 0.05
    for edge in (300, 3400):
        clip = sine(edge, rate)
        assert gain_db(clip, degrade(clip, codec=None)) == pytest.approx(-6, abs=0.5)


def test_band_pass_keeps_time_and_checks_its_band() -> None:
    """Linear phase, no delay: a 1 kHz sine comes out where it went in."""
    clip = sine(1000)
    out = band_pass(clip)
    assert np.max(np.abs(out.samples[500:-500].astype(int) - clip.samples[500:-500])) <= 3
    with pytest.raises(ValueError, match="does not fit"):
        band_pass(clip, 300, 4500)
    unfiltered = degrade(clip, band=None, codec=None)
    assert unfiltered.samples.tolist() == clip.samples.tolist()


# ---------------------------------------------------------------------------------------
# Noise and the whole line


@pytest.mark.parametrize("snr", [10.0, 15.0, 30.0])
def test_measured_snr_is_the_requested_one(snr: float) -> None:
    clip = generate(KEYS, rate=16000, tone_ms=60, gap_ms=120)
    clean = degrade(clip)
    noisy = degrade(clip, snr_db=snr, seed=7)
    noise = noisy.samples.astype(np.float64) - clean.samples
    measured = 10 * np.log10(active_power(clean) / np.mean(noise**2))
    assert measured == pytest.approx(snr, abs=0.2)


def test_degrade_output_and_seed() -> None:
    clip = sine(1000, rate=44100, seconds=0.5)
    a = degrade(clip, snr_db=20, seed=1)
    b = degrade(clip, snr_db=20, seed=1)
    c = degrade(clip, snr_db=20, seed=2)
    assert a.rate == 8000 and a.samples.dtype == np.int16 and len(a.samples) == 4000
    assert a.samples.tolist() == b.samples.tolist() != c.samples.tolist()
    silent = degrade(AudioClip(np.zeros(800, np.int16), 8000), snr_db=10)
    assert not silent.samples.any()


@pytest.mark.parametrize("codec", ["ulaw", "alaw"])
@pytest.mark.parametrize("key", list(KEYS))
def test_dtmf_heard_through_the_line(key: str, codec: Codec) -> None:
    """Every key, from a 16 kHz and a 44.1 kHz caller, companded, with 20 dB S/N."""
    for rate in (16000, 44100):
        clip = generate(key * 3, rate=rate, tone_ms=40, gap_ms=40)
        assert digits(degrade(clip, codec=codec, snr_db=20, seed=ord(key))) == key * 3
        quiet = generate(key, rate=rate, level_dbfs=-36, twist_db=-8)
        assert digits(degrade(quiet, codec=codec)) == key


@pytest.mark.parametrize("codec", ["ulaw", "alaw"])
def test_dtmf_limits_through_the_line_with_15db_noise(codec: Codec) -> None:
    sequence = KEYS * 2
    for error, twist in ((0.015, -8.0), (-0.015, 4.0)):
        clip = generate(
            sequence, rate=16000, tone_ms=40, gap_ms=40, freq_error=error, twist_db=twist
        )
        assert digits(degrade(clip, codec=codec, snr_db=15, seed=5)) == sequence


# ---------------------------------------------------------------------------------------
# The line as a stream: one implementation for whole clips and files read in blocks


def degrade_before_streams(
    clip: AudioClip,
    *,
    codec: Codec | None = "ulaw",
    band: tuple[float, float] | None = (300.0, 3400.0),
    snr_db: float | None = None,
    seed: int = 0,
) -> AudioClip:
    """``degrade`` as it was when it worked on whole clips only (one FFT over the clip),
    kept as the oracle that the streaming filter must still give for a whole clip."""
    out = to_rate(clip, RATE)
    if band is not None:
        low, high = band
        taps = 2 * round(127 * out.rate / RATE) + 1
        t = np.arange(taps) - taps // 2
        ideal = 2 * high * np.sinc(2 * high * t / out.rate) - 2 * low * np.sinc(
            2 * low * t / out.rate
        )
        kernel = ideal / out.rate * np.kaiser(taps, 5.0)
        x = out.samples.astype(np.float64)
        n_fft = 1 << max(len(x) + taps - 2, 1).bit_length()
        y = np.fft.irfft(np.fft.rfft(x, n_fft) * np.fft.rfft(kernel, n_fft), n_fft)
        y = y[taps // 2 : taps // 2 + len(x)]
        out = AudioClip(np.clip(np.round(y), -32768, 32767).astype(np.int16), out.rate)
    if codec is not None:
        out = AudioClip(companded(out.samples, codec), RATE)
    if snr_db is not None:
        power = active_power(out)
        noise = np.random.default_rng(seed).standard_normal(len(out.samples))
        noisy = out.samples + noise * math.sqrt(power / 10 ** (snr_db / 10))
        out = AudioClip(np.clip(np.round(noisy), -32768, 32767).astype(np.int16), RATE)
    return out


OPTIONS: list[dict[str, Any]] = [
    {},
    {"codec": "alaw"},
    {"codec": None},
    {"band": None},
    {"codec": None, "band": None},
    {"snr_db": 15.0, "seed": 3},
    {"codec": "alaw", "snr_db": 0.0, "seed": 9},
    {"codec": None, "band": (200.0, 3000.0), "snr_db": 30.0},
]


def random_clip(rate: int, samples: int, seed: int = 0, scale: float = 6000) -> AudioClip:
    x = np.random.default_rng(seed).standard_normal(samples) * scale
    return AudioClip(np.clip(np.round(x), -32768, 32767).astype(np.int16), rate)


def test_a_whole_clip_is_degraded_exactly_as_before() -> None:
    """``degrade`` now runs the streaming filter; on a whole clip it gives every sample the
    one-FFT implementation gave. (At rates other than 8 kHz only clips of a second or more
    are compared: soxr's one-shot int16 resampler, ``to_rate``, dithers short clips
    differently from one call to the next, before as now.)"""
    clips = [
        generate(KEYS, rate=8000),
        random_clip(8000, 24000),
        random_clip(8000, 300, seed=1, scale=20000),
        random_clip(8000, 5, seed=2),
        AudioClip(np.zeros(0, np.int16), 8000),
        AudioClip(np.zeros(1000, np.int16), 8000),
    ]
    for rate in (16000, 22050, 44100, 48000):
        clips += [generate(KEYS, rate=rate), random_clip(rate, rate * 2, seed=rate)]
    for clip in clips:
        for options in OPTIONS:
            expected = degrade_before_streams(clip, **options)
            got = degrade(clip, **options)
            assert got.rate == RATE
            assert got.samples.tolist() == expected.samples.tolist(), (clip.rate, options)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(cuts=st.lists(st.integers(0, 5000), max_size=12), which=st.integers(0, len(OPTIONS) - 1))
def test_an_8khz_stream_cut_anywhere_is_the_whole_clip_degraded(
    cuts: list[int], which: int
) -> None:
    """Every stage carries its state across blocks (band-pass segments on a fixed grid, the
    noise drawn in pieces), so the blocks of a stream join up to ``degrade`` of its whole."""
    clip = generate("159#", rate=8000, tone_ms=60, gap_ms=300)
    line = Line(**OPTIONS[which])
    whole = line(clip)
    noise = (
        None
        if line.snr_db is None
        else Noise(active_power(whole_clean(line, clip)), line.snr_db, line.seed)
    )
    stream = line.filter(8000, noise)
    bounds = sorted({0, len(clip.samples), *(c % (len(clip.samples) + 1) for c in cuts)})
    parts = [
        stream.process(AudioClip(clip.samples[a:b], 8000)).samples
        for a, b in itertools.pairwise(bounds)
    ]
    parts.append(stream.flush().samples)
    assert np.concatenate(parts).tolist() == whole.samples.tolist()


def whole_clean(line: Line, clip: AudioClip) -> AudioClip:
    """``clip`` through ``line`` without its noise."""
    return dataclasses.replace(line, snr_db=None)(clip)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    cuts=st.lists(st.integers(0, 40000), max_size=8),
    rate=st.sampled_from([11025, 16000, 44100, 48000]),
)
def test_a_stream_at_another_rate_does_not_depend_on_its_cuts(cuts: list[int], rate: int) -> None:
    """soxr's streaming resampler runs in float32, where it does not depend on the cuts
    either; it differs from ``to_rate`` (dithered int16) by at most 1 LSB, so the stream
    is within 2 LSB of the whole clip after the band-pass (before G.711 makes a step of
    it)."""
    clip = random_clip(rate, rate, seed=rate)
    line = Line(codec=None)

    def streamed(bounds: list[int]) -> list[int]:
        stream = line.filter(rate)
        parts = [
            stream.process(AudioClip(clip.samples[a:b], rate)).samples
            for a, b in itertools.pairwise(bounds)
        ]
        return np.concatenate([*parts, stream.flush().samples]).tolist()

    in_one = streamed([0, len(clip.samples)])
    bounds = sorted({0, len(clip.samples), *(c % (len(clip.samples) + 1) for c in cuts)})
    assert streamed(bounds) == in_one
    whole = line(clip).samples
    assert len(in_one) == len(whole)
    assert np.abs(np.array(in_one) - whole).max() <= 2


@settings(max_examples=60, deadline=None, derandomize=True)
@given(cuts=st.lists(st.integers(0, 3000), max_size=10), rate=st.sampled_from([8000, 16000]))
def test_band_pass_streamed_is_band_pass_whole(cuts: list[int], rate: int) -> None:
    clip = random_clip(rate, 2500, seed=7)
    bounds = sorted({0, 2500, *(c % 2501 for c in cuts)})
    stream = BandPass(rate)
    parts = [stream(clip.samples[a:b]) for a, b in itertools.pairwise(bounds)]
    parts.append(stream(np.zeros(0, np.int16), last=True))
    assert np.concatenate(parts).tolist() == band_pass(clip).samples.tolist()
    with pytest.raises(ValueError, match="ended"):
        stream(clip.samples)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(cuts=st.lists(st.integers(0, 2000), max_size=10), length=st.integers(0, 2000))
def test_active_power_and_noise_of_a_stream_cut_anywhere(cuts: list[int], length: int) -> None:
    """The level meter keeps every 10 ms frame's power, so its value is ``active_power``'s,
    bit for bit; the noise drawn block by block is the noise drawn at once."""
    clip = AudioClip(generate("5", rate=8000, tone_ms=100, gap_ms=150).samples[:length], 8000)
    bounds = sorted({0, length, *(c % (length + 1) for c in cuts)})
    meter = ActivePower(8000)
    noise = Noise(1e6, 10.0, seed=4)
    noisy = []
    for a, b in itertools.pairwise(bounds):
        meter.add(clip.samples[a:b])
        noisy.append(noise.add(AudioClip(clip.samples[a:b], 8000)).samples)
    assert meter.value == active_power(clip)
    expected = Noise(1e6, 10.0, seed=4).add(clip).samples
    assert np.concatenate([np.zeros(0, np.int16), *noisy]).tolist() == expected.tolist()


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_a_file_through_the_line_in_blocks_is_the_whole_file_degraded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: dict[str, Any]
) -> None:
    """An 8 kHz file read in blocks of 1000 frames: bit for bit ``degrade`` of the whole
    file, noise included (its level measured by a first pass over the file)."""
    monkeypatch.setattr(ivr.audio.wav, "_BLOCK_BYTES", 2000)
    clip = generate("1A#", rate=8000, tone_ms=200, gap_ms=900)
    write_wav(tmp_path / "keys.wav", clip)
    blocks = list(Line(**options).blocks(open_wav(tmp_path / "keys.wav")))
    assert len(blocks) > 3 and all(b.rate == RATE for b in blocks)
    streamed = np.concatenate([b.samples for b in blocks])
    assert streamed.tolist() == degrade(clip, **options).samples.tolist()


def test_noise_on_a_streamed_file_is_set_against_the_whole_files_level(tmp_path: Path) -> None:
    """The loud part comes last, so a level taken from the start (silence) would add no
    noise at all; the first pass finds the level of the whole file."""
    quiet_then_keys = np.concatenate([np.zeros(40000, np.int16), generate("9", rate=16000).samples])
    write_wav(tmp_path / "late.wav", AudioClip(quiet_then_keys, 16000))
    wav = open_wav(tmp_path / "late.wav")
    clean = np.concatenate([b.samples for b in Line().blocks(wav)])
    noisy = np.concatenate([b.samples for b in Line(snr_db=20.0, seed=1).blocks(wav)])
    noise = noisy.astype(np.float64) - clean
    measured = 10 * np.log10(active_power(AudioClip(clean, RATE)) / np.mean(noise**2))
    assert measured == pytest.approx(20.0, abs=0.2)


def test_dtmf_of_a_file_through_the_line_is_that_of_the_whole_clip(tmp_path: Path) -> None:
    clip = generate("73#*", rate=44100, tone_ms=50, gap_ms=60)
    write_wav(tmp_path / "keys.wav", clip)
    line = Line(codec="alaw", snr_db=18.0, seed=2)
    events = detect_blocks(line.blocks(open_wav(tmp_path / "keys.wav")), RATE)
    assert [e.digit for e in events] == list("73#*")
    assert events == detect(line(clip))
    with pytest.raises(ValueError, match="a 44100 Hz block in a 8000 Hz stream"):
        detect_blocks([clip], RATE)


def test_the_line_refuses_what_it_cannot_do() -> None:
    with pytest.raises(ValueError, match="unknown codec 'gsm'"):
        Line(codec="gsm").filter(8000)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="does not fit a 8000 Hz clip"):
        Line(band=(300.0, 4200.0)).filter(16000)
    with pytest.raises(ValueError, match="a 16000 Hz clip for a 8000 Hz line filter"):
        Line().filter(8000).process(sine(1000, rate=16000))


def test_through_line_streams_a_file_and_gives_clips_whole(tmp_path: Path) -> None:
    """What a caller hears at 16 kHz: a clip crosses the line whole and comes back by
    ``to_rate``, as before streams; a file through a Line is streamed both ways; any other
    line model works on whole clips, so it gets the file read whole."""
    clip = generate("42", rate=22050)
    write_wav(tmp_path / "keys.wav", clip)
    wav = open_wav(tmp_path / "keys.wav")
    line = Line(snr_db=25.0)
    [whole] = through_line(clip, line, 16000)
    assert whole.samples.tolist() == to_rate(line(clip), 16000).samples.tolist()
    streamed = np.concatenate([b.samples for b in through_line(wav, line, 16000)])
    assert len(streamed) == len(whole.samples)
    assert digits(AudioClip(streamed, 16000)) == "42"
    seen: list[int] = []

    def model(given: AudioClip) -> AudioClip:
        seen.append(len(given.samples))
        return given

    [given] = through_line(wav, model, 22050)
    assert seen == [len(clip.samples)] and given.samples.tolist() == clip.samples.tolist()
    assert [c.samples.tolist() for c in through_line(wav, None, 22050)] == [clip.samples.tolist()]
