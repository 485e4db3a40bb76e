"""The phone-line model: G.711 against its published values and sox, the band, the noise,
and DTMF still heard after all of it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ivr.audio import AudioClip
from ivr.dtmf import KEYS, active_power, digits, generate
from ivr.line import (
    Codec,
    alaw_decode,
    alaw_encode,
    band_pass,
    companded,
    degrade,
    ulaw_decode,
    ulaw_encode,
)

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
