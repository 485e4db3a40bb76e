"""The telephone line between a caller and the IVR: 8 kHz, 300-3400 Hz, G.711, noise.

Audio the simulator hears in a real deployment has crossed the PSTN: resampled to 8 kHz,
band-limited to the 300-3400 Hz voice channel (ITU-T G.712), companded by G.711 (mu-law in
North America and Japan, A-law in China and Europe) and mixed with line noise. ``Line``
applies all of that so that tests of the DTMF receiver and of speech see what a hotline
sees: to a whole clip (``degrade``), or to a WAV file block by block, so that hours of audio
cross the line in a few megabytes (``Line.blocks``). Both run the same stateful filter
(``LineFilter``). G.711 is implemented here because ``audioop`` is gone from Python 3.13;
the code follows the segment/mantissa arithmetic of the reference implementation (Sun's
g711.c) and rounds 16-bit input to the nearest 14-bit (mu-law) or 13-bit (A-law) value, as
sox does: the two agree on every one of the 65536 inputs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from ivr.audio.dtmf import ActivePower, Noise, active_power
from ivr.audio.wav import (
    Audio,
    AudioClip,
    Resampler,
    WavFile,
    audio_blocks,
    resample_blocks,
    to_rate,
)

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
    """``samples`` after a G.711 encode and decode: what the far end of the line gets.

    16-bit samples are looked up in the codec's round trip of every 16-bit value (80 times
    faster than the arithmetic: an hour of line audio in 0.1 s); other input goes through it.
    """
    if codec not in ("ulaw", "alaw"):
        raise ValueError(f"unknown codec {codec!r} (use 'ulaw' or 'alaw')")
    pcm = np.asarray(samples)
    if pcm.dtype == np.int16:
        return _round_trips(codec)[pcm.astype(np.uint16)]  # indexed by the sample's bits
    if codec == "ulaw":
        return ulaw_decode(ulaw_encode(pcm))
    return alaw_decode(alaw_encode(pcm))


@functools.cache
def _round_trips(codec: Codec) -> _Samples:
    """What each 16-bit sample becomes after the codec's encode and decode, at the index of
    its bits read as unsigned (128 KiB, built once per codec)."""
    every = np.arange(1 << 16, dtype=np.uint16).view(np.int16)
    if codec == "ulaw":
        return ulaw_decode(ulaw_encode(every))
    return alaw_decode(alaw_encode(every))


def band_pass(clip: AudioClip, low: float = 300.0, high: float = 3400.0) -> AudioClip:
    """Keep ``low``-``high`` Hz: a linear-phase FIR (Kaiser-windowed sinc, 32 ms long).

    ``low`` and ``high`` are the -6 dB points; the response is flat within 0.1 dB from
    ~50 Hz inside them and at least 40 dB down ~50 Hz outside, so at 8 kHz 200 Hz and
    3800 Hz are gone while 1 kHz passes untouched. Linear phase keeps tones where they were
    in time, which the DTMF tests compare. numpy only: no filter-design dependency.
    """
    return AudioClip(BandPass(clip.rate, low, high)(clip.samples, last=True), clip.rate)


_SEGMENT = 8192
"""FFT length of one overlap-save segment, at least: 7938 new samples per segment at 8 kHz."""


class BandPass:
    """``band_pass`` as a stream: blocks of samples in, the filtered samples out.

    Overlap-save on a fixed grid of FFT segments counted from the start of the stream: each
    output sample comes from the same input through the same arithmetic however the input
    is cut, so a stream gives exactly what its whole gives. The filter is centred (no
    delay), so output lags input by half the filter plus up to one segment (~1 s at 8 kHz);
    ``last`` ends the stream (zeros follow it, as they precede it) and returns the rest.
    """

    def __init__(self, rate: int, low: float = 300.0, high: float = 3400.0) -> None:
        if not 0 < low < high < rate / 2:
            raise ValueError(f"band ({low}, {high}) Hz does not fit a {rate} Hz clip")
        taps = 2 * round(127 * rate / RATE) + 1
        t = np.arange(taps) - taps // 2
        ideal = 2 * high * np.sinc(2 * high * t / rate) - 2 * low * np.sinc(2 * low * t / rate)
        kernel = ideal / rate * np.kaiser(taps, 5.0)
        self._n_fft = max(_SEGMENT, 1 << (4 * taps).bit_length())
        self._overlap = taps - 1
        self._spectrum = np.fft.rfft(kernel, self._n_fft)
        self._pending: npt.NDArray[np.float64] = np.zeros(taps - 1)
        """Input from ``taps - 1`` samples before the next segment's first output on."""
        self._computed = 0
        """Outputs of the full convolution computed so far."""
        self._received = 0
        self._centre = taps // 2
        self._skip = self._centre
        """Leading outputs of the full convolution still to drop: the filter's centre."""
        self._ended = False

    def __call__(self, samples: npt.NDArray[np.int16], last: bool = False) -> _Samples:
        if self._ended:
            raise ValueError("the stream has ended")
        self._pending = np.concatenate([self._pending, samples.astype(np.float64)])
        self._received += len(samples)
        hop = self._n_fft - self._overlap
        needed = self._received + self._centre if last else 0
        parts = []
        while len(self._pending) >= self._n_fft or self._computed < needed:
            segment = self._pending[: self._n_fft]
            full = np.fft.irfft(np.fft.rfft(segment, self._n_fft) * self._spectrum, self._n_fft)
            parts.append(full[self._overlap :])
            self._pending = self._pending[hop:]
            self._computed += hop
        y = np.concatenate(parts) if parts else np.zeros(0)
        drop = min(self._skip, len(y))
        y, self._skip = y[drop:], self._skip - drop
        if last:
            self._ended = True
            y = y[: len(y) - (self._computed - needed)]
        out: _Samples = np.clip(np.round(y), -32768, 32767).astype(np.int16)
        return out


_PIECE = 1 << 16
"""8 kHz samples taken through the band-pass, G.711 and the noise at a time: a block of a
minute (an 8 kHz file's) would otherwise take tens of MB of temporaries."""


class LineFilter:
    """The line as a stateful filter: a caller's audio at ``rate`` in, blocks at 8 kHz out.

    Each stage carries its state from one block to the next: soxr's streaming resampler
    (in float32, so its output does not depend on how the stream is cut), the band-pass
    (``BandPass``), G.711 (sample by sample), and the noise (``Noise``, whose level the
    caller sets: a stream's active level is known only once it has all been heard). A
    whole clip given in one call (``last`` on the first call) is resampled in one go by
    ``to_rate``, as ``degrade`` always did; at other cuts the two resamplers differ by at
    most 1 LSB. Output lags input (the resampler's and the band-pass's look-ahead);
    ``flush`` ends the stream and returns the rest.
    """

    def __init__(
        self,
        rate: int,
        *,
        codec: Codec | None = "ulaw",
        band: tuple[float, float] | None = (300.0, 3400.0),
        noise: Noise | None = None,
    ) -> None:
        if codec not in (None, "ulaw", "alaw"):
            raise ValueError(f"unknown codec {codec!r} (use 'ulaw' or 'alaw')")
        self.rate = rate
        self.codec = codec
        self._band = None if band is None else BandPass(RATE, *band)
        self._noise = noise
        self._resampler: Resampler | None = None
        self._started = False

    def process(self, clip: AudioClip, last: bool = False) -> AudioClip:
        """The 8 kHz output ready after ``clip`` (maybe none yet); ``last`` ends the stream."""
        if clip.rate != self.rate:
            raise ValueError(f"a {clip.rate} Hz clip for a {self.rate} Hz line filter")
        samples = clip.samples
        if self.rate != RATE:
            if last and not self._started:
                samples = to_rate(clip, RATE).samples
            else:
                self._resampler = self._resampler or Resampler(self.rate, RATE)
                samples = self._resampler(samples, last)
        self._started = True
        parts = []
        for start in range(0, max(len(samples), 1), _PIECE):
            piece = samples[start : start + _PIECE]
            final = last and start + _PIECE >= len(samples)
            if self._band is not None:
                piece = self._band(piece, final)
            if self.codec is not None:
                piece = companded(piece, self.codec)
            if self._noise is not None:
                piece = self._noise.add(AudioClip(piece, RATE)).samples
            parts.append(piece)
        return AudioClip(parts[0] if len(parts) == 1 else np.concatenate(parts), RATE)

    def flush(self) -> AudioClip:
        """The rest of the output: the stream has ended."""
        return self.process(AudioClip(np.zeros(0, np.int16), self.rate), last=True)


LineModel = Callable[[AudioClip], AudioClip]
"""Anything that does to a whole clip what a line does (``Line`` is one, and streams too)."""


@dataclass(frozen=True)
class Line:
    """A telephone line: resampled to 8 kHz, band-limited to ``band`` (None: not filtered),
    companded by ``codec`` (None: linear PCM, as a wideband-to-narrowband gateway with no
    G.711 leg), then white noise at ``snr_db`` below the active level (``ivr.audio.dtmf.
    active_power`` of the line's output; None: no noise). ``seed`` makes the noise
    repeatable. Called on a clip it is ``degrade``; ``blocks`` streams a WAV file.
    """

    codec: Codec | None = "ulaw"
    band: tuple[float, float] | None = (300.0, 3400.0)
    snr_db: float | None = None
    seed: int = 0

    def filter(self, rate: int, noise: Noise | None = None) -> LineFilter:
        """A fresh ``LineFilter`` for audio at ``rate`` (noise only if given)."""
        return LineFilter(rate, codec=self.codec, band=self.band, noise=noise)

    def __call__(self, clip: AudioClip) -> AudioClip:
        """``clip`` as heard across the line, at 8 kHz: one pass, and the noise set against
        the active level of the whole result."""
        out = self.filter(clip.rate).process(clip, last=True)
        if self.snr_db is None:
            return out
        return Noise(active_power(out), self.snr_db, self.seed).add(out)

    def blocks(self, audio: Audio) -> Iterator[AudioClip]:
        """``audio`` as heard across the line, in 8 kHz blocks; a WAV file is read a block
        at a time, so memory does not grow with its length.

        The noise level is the active level of the whole output, as for a clip, which a
        stream only knows at its end. So with ``snr_db`` a file is read and filtered twice:
        a first pass measures the level (``ivr.audio.dtmf.ActivePower``: 8 bytes per 10 ms frame
        that counts), the second adds the noise: twice the time, the same flat memory. The
        result is what ``degrade`` gives the whole file, bit for bit at 8 kHz. At other
        rates the streaming resampler differs from ``to_rate``'s (dithered) one by up to
        1 LSB, so the two differ by up to 2 LSB after the band-pass, which G.711 turns into
        the neighbouring level for about 1 % of the samples.
        """
        if isinstance(audio, AudioClip):
            yield self(audio)
            return
        noise = None
        if self.snr_db is not None:
            meter = ActivePower(RATE)
            for block in self._pass(audio):
                meter.add(block.samples)
            noise = Noise(meter.value, self.snr_db, self.seed)
        yield from self._pass(audio, noise)

    def _pass(self, wav: WavFile, noise: Noise | None = None) -> Iterator[AudioClip]:
        line = self.filter(wav.rate, noise)
        for block in wav.blocks():
            out = line.process(block)
            if len(out.samples):
                yield out
        out = line.flush()
        if len(out.samples):
            yield out


def degrade(
    clip: AudioClip,
    *,
    codec: Codec | None = "ulaw",
    band: tuple[float, float] | None = (300.0, 3400.0),
    snr_db: float | None = None,
    seed: int = 0,
) -> AudioClip:
    """``clip`` as heard across a telephone line, at 8 kHz (see ``Line``)."""
    return Line(codec, band, snr_db, seed)(clip)


def through_line(audio: Audio, line: LineModel | None, rate: int) -> Iterator[AudioClip]:
    """``audio`` at ``rate`` as the caller's side of a call delivers it, through ``line``.

    A clip crosses the line whole and is resampled whole, as before streams; a WAV file
    through a ``Line`` is streamed both ways. Any other line model works on whole clips,
    so a file is read whole for it.
    """
    if line is None:
        yield from audio_blocks(audio, rate)
    elif isinstance(audio, AudioClip):
        yield from audio_blocks(line(audio), rate)
    elif isinstance(line, Line):
        yield from resample_blocks(line.blocks(audio), rate)
    else:
        yield from audio_blocks(line(audio.read()), rate)
