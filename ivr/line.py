"""The telephone line between a caller and the IVR: 8 kHz, 300-3400 Hz, G.711, noise.

Audio the simulator hears in a real deployment has crossed the PSTN: resampled to 8 kHz,
band-limited to the 300-3400 Hz voice channel (ITU-T G.712), companded by G.711 (mu-law in
North America and Japan, A-law in China and Europe) and mixed with line noise. ``degrade``
applies all of that so that tests of the DTMF receiver and of speech see what a hotline
sees. G.711 is implemented here because ``audioop`` is gone from Python 3.13; the code
follows the segment/mantissa arithmetic of the reference implementation (Sun's g711.c) and
rounds 16-bit input to the nearest 14-bit (mu-law) or 13-bit (A-law) value, as sox does:
the two agree on every one of the 65536 inputs.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from ivr.audio import AudioClip, to_rate
from ivr.dtmf import add_noise

RATE = 8000
"""G.711's sample rate."""

Codec = Literal["ulaw", "alaw"]

_ULAW_BIAS = 0x84
_ULAW_CLIP = 8159
"""Largest 14-bit magnitude mu-law codes (32635 in 16-bit terms)."""
_ULAW_SEGMENT_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_ALAW_SEGMENT_ENDS = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])

_Codes = npt.NDArray[np.uint8]
_Samples = npt.NDArray[np.int16]


def ulaw_encode(samples: npt.ArrayLike) -> _Codes:
    """16-bit PCM to G.711 mu-law codewords (as sent on the wire: bits inverted)."""
    x = np.minimum((np.asarray(samples, dtype=np.int32) + 2) >> 2, 8191)  # nearest 14-bit
    negative = x < 0
    magnitude = np.minimum(np.where(negative, -x, x), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    segment = np.searchsorted(_ULAW_SEGMENT_ENDS, magnitude, side="left")
    mantissa = (magnitude >> (np.minimum(segment, 7) + 1)) & 0xF
    code = np.where(segment >= 8, 0x7F, (np.minimum(segment, 7) << 4) | mantissa)
    mask = np.where(negative, 0x7F, 0xFF)
    out: _Codes = (code ^ mask).astype(np.uint8)
    return out


def ulaw_decode(codes: npt.ArrayLike) -> _Samples:
    """G.711 mu-law codewords to 16-bit PCM (the middle of each quantisation interval)."""
    u = ~np.asarray(codes, dtype=np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + _ULAW_BIAS) << ((u & 0x70) >> 4)
    out: _Samples = np.where(u & 0x80, _ULAW_BIAS - t, t - _ULAW_BIAS).astype(np.int16)
    return out


def alaw_encode(samples: npt.ArrayLike) -> _Codes:
    """16-bit PCM to G.711 A-law codewords (even bits inverted, as sent on the wire)."""
    x = np.minimum((np.asarray(samples, dtype=np.int32) + 4) >> 3, 4095)  # nearest 13-bit
    negative = x < 0
    magnitude = np.where(negative, -x - 1, x)
    segment = np.searchsorted(_ALAW_SEGMENT_ENDS, magnitude, side="left")
    shift = np.where(segment < 2, 1, np.minimum(segment, 7))
    code = np.where(
        segment >= 8, 0x7F, (np.minimum(segment, 7) << 4) | ((magnitude >> shift) & 0xF)
    )
    mask = np.where(negative, 0x55, 0xD5)
    out: _Codes = (code ^ mask).astype(np.uint8)
    return out


def alaw_decode(codes: npt.ArrayLike) -> _Samples:
    """G.711 A-law codewords to 16-bit PCM."""
    a = np.asarray(codes, dtype=np.int32) ^ 0x55
    segment = (a & 0x70) >> 4
    t = ((a & 0x0F) << 4) + np.where(segment == 0, 8, 0x108)
    t = np.where(segment > 1, t << np.maximum(segment - 1, 0), t)
    out: _Samples = np.where(a & 0x80, t, -t).astype(np.int16)
    return out


def companded(samples: npt.ArrayLike, codec: Codec) -> _Samples:
    """``samples`` after a G.711 encode and decode: what the far end of the line gets."""
    if codec == "ulaw":
        return ulaw_decode(ulaw_encode(samples))
    if codec == "alaw":
        return alaw_decode(alaw_encode(samples))
    raise ValueError(f"unknown codec {codec!r} (use 'ulaw' or 'alaw')")


def band_pass(clip: AudioClip, low: float = 300.0, high: float = 3400.0) -> AudioClip:
    """Keep ``low``-``high`` Hz: a linear-phase FIR (Kaiser-windowed sinc, 32 ms long).

    ``low`` and ``high`` are the -6 dB points; the response is flat within 0.1 dB from
    ~50 Hz inside them and at least 40 dB down ~50 Hz outside, so at 8 kHz 200 Hz and
    3800 Hz are gone while 1 kHz passes untouched. Linear phase keeps tones where they were
    in time, which the DTMF tests compare. numpy only: no filter-design dependency.
    """
    nyquist = clip.rate / 2
    if not 0 < low < high < nyquist:
        raise ValueError(f"band ({low}, {high}) Hz does not fit a {clip.rate} Hz clip")
    taps = 2 * round(127 * clip.rate / RATE) + 1
    t = np.arange(taps) - taps // 2
    ideal = 2 * high * np.sinc(2 * high * t / clip.rate) - 2 * low * np.sinc(
        2 * low * t / clip.rate
    )
    kernel = ideal / clip.rate * np.kaiser(taps, 5.0)
    x = clip.samples.astype(np.float64)
    size = len(x) + taps - 1
    n_fft = 1 << max(size - 1, 1).bit_length()
    y = np.fft.irfft(np.fft.rfft(x, n_fft) * np.fft.rfft(kernel, n_fft), n_fft)
    y = y[taps // 2 : taps // 2 + len(x)]
    return AudioClip(np.clip(np.round(y), -32768, 32767).astype(np.int16), clip.rate)


def degrade(
    clip: AudioClip,
    *,
    codec: Codec | None = "ulaw",
    band: tuple[float, float] | None = (300.0, 3400.0),
    snr_db: float | None = None,
    seed: int = 0,
) -> AudioClip:
    """``clip`` as heard across a telephone line, at 8 kHz.

    Resampled to 8 kHz, band-limited to ``band`` (None: not filtered), companded by
    ``codec`` (None: linear PCM, as a wideband-to-narrowband gateway with no G.711 leg),
    then white noise at ``snr_db`` below the active level (``ivr.dtmf.active_power``;
    None: no noise). ``seed`` makes the noise repeatable.
    """
    out = to_rate(clip, RATE)
    if band is not None:
        out = band_pass(out, *band)
    if codec is not None:
        out = AudioClip(companded(out.samples, codec), RATE)
    if snr_db is not None:
        out = add_noise(out, snr_db, seed)
    return out
