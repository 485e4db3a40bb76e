"""DTMF keys as sound: a generator and a receiver that meets ITU-T Q.24.

The receiver follows SpanDSP's ``dtmf_rx`` and Asterisk's ``dtmf_detect``: Goertzel energies
of the eight DTMF frequencies over 102-sample blocks at 8 kHz (12.75 ms), a signal level,
twist, relative-peak and tone-to-total-energy test per block, two hits in a row to start a
digit and misses to end it. Those rectangular-window bins are ~78 Hz wide, so they cannot
tell a 1.5 % frequency error (which Q.24 requires to be accepted) from a 3.5 % one (which it
requires to be rejected), and the leakage of one tone into the other's bin moves the measured
twist by up to ~2 dB. So every pair of hit blocks is checked again over its 25.5 ms with a
Hann window: the frequency of each tone to a fraction of a per cent, both levels and the
twist to ~0.1 dB, the share of the signal's power that the two tones carry, and that no
other spectral peak comes near the weaker tone. The last two keep speech and music from
being taken for digits (talk-off).

The same ``DtmfDetector`` serves whole files (``detect``) and live streams fed in chunks of
any size; both give identical events. A digit is reported once, as soon as it is confirmed
(20-35 ms after the tone starts), not when the key is released, so that a key pressed
during a prompt can stop it at once. Other rates are brought to 8 kHz by a small streaming
polyphase resampler rather than ``ivr.audio.to_rate``: soxr's stream mode holds back up to
100 ms, and its one-shot and stream outputs differ by a few LSB, which would break that
identity. The resampler and the block tests work in exact integer arithmetic (held in
float64), so their results do not depend on how the input is chunked or batched.

Most blocks never reach the full tests: a pre-gate drops silent blocks, and blocks whose
float32 Goertzel amplitudes, taken straight from the input samples, fail the level, twist
or relative-peak test by more than rounding could explain. Only the rest (about one block
in ten of speech) are resampled exactly and tested, so a 22050 Hz file is not resampled as
a whole.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import as_strided, sliding_window_view

from ivr.audio import Audio, AudioClip

RATE = 8000
"""The receiver's internal sample rate (the telephone network's)."""
BLOCK = 102
"""Goertzel block length at 8 kHz (12.75 ms), as in SpanDSP and Asterisk."""

ROWS = (697.0, 770.0, 852.0, 941.0)
COLS = (1209.0, 1336.0, 1477.0, 1633.0)
KEYS = "123A456B789C*0#D"
"""The 16 keys, row by row of the 4x4 frequency matrix."""
FREQUENCIES: dict[str, tuple[float, float]] = {
    key: (ROWS[i // 4], COLS[i % 4]) for i, key in enumerate(KEYS)
}
"""Key -> (low group Hz, high group Hz)."""

_FULL_SCALE = 32767.0
_Floats = npt.NDArray[np.float64]
_Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class DigitEvent:
    """A key heard on the line.

    ``start`` is when its tone began and ``end`` when the receiver confirmed it, in seconds
    from the start of the audio (12.75 ms resolution). ``end`` is not the release of the key:
    a digit is reported while still held, as an exchange acts on it.
    """

    digit: str
    start: float
    end: float


@dataclass(frozen=True)
class ReceiverSettings:
    """Acceptance limits; the defaults meet Q.24 with margin for measurement error.

    ``normal_twist_db`` (low group louder) and ``reverse_twist_db`` (high group louder) sit
    1.5 dB beyond Q.24's 8 dB and 4 dB: white noise at 15 dB S/N moves the weaker tone's
    measured level by up to ~1 dB, and a 40 ms tone gets only one or two tries, so tighter
    limits miss conforming digits (10 dB and 6 dB are still rejected). ``max_deviation``
    sits halfway between the 1.5 % that must be accepted and the 3.5 % that must not.
    ``min_level_dbfs`` is per tone (a full-scale sine is 0 dBFS); -45 dBFS is about SpanDSP's
    -42 dBm0. ``min_tone_share_db`` is how much of the signal's power the two tones must
    carry (15 dB of white noise costs 0.13 dB on average, 0.4 dB in the worst 25 ms).
    ``max_other_peak_db`` bounds any other spectral peak relative to the weaker tone: it is
    what rejects a high-pitched vowel whose two strongest harmonics happen to sit on a DTMF
    pair (espeak-ng's voices at pitch 99 come within -9 dB; white noise at 15 dB S/N with
    8 dB of twist reaches -14 dB). ``misses_to_end`` is 2 as in SpanDSP, not Asterisk's 3,
    because a 40 ms gap is only sure to hold two whole blocks.
    """

    min_level_dbfs: float = -45.0
    normal_twist_db: float = 9.5
    reverse_twist_db: float = 5.5
    max_deviation: float = 0.025
    min_tone_share_db: float = -1.0
    max_other_peak_db: float = -12.0
    hits_to_begin: int = 2
    misses_to_end: int = 2

    def __post_init__(self) -> None:
        if self.hits_to_begin < 2:
            raise ValueError("hits_to_begin must be at least 2 (a check spans two blocks)")
        if self.misses_to_end < 1:
            raise ValueError("misses_to_end must be at least 1")
        if not 0 < self.max_deviation < 0.06:
            raise ValueError("max_deviation must be between 0 and 0.06")


# ---------------------------------------------------------------------------------------
# Generation


def generate(
    digits: str,
    rate: int = 8000,
    tone_ms: float = 70,
    gap_ms: float = 70,
    level_dbfs: float = -10.0,
    twist_db: float = 0.0,
    freq_error: float = 0.0,
) -> AudioClip:
    """Each digit's tone pair for ``tone_ms``, then ``gap_ms`` of silence.

    ``level_dbfs`` is the level of each tone (0 dBFS: a full-scale sine). ``twist_db`` > 0
    makes the high group louder (reverse twist), < 0 the low group (normal twist); the two
    tones sit at ``level_dbfs`` +/- half of it. ``freq_error`` shifts both tones by that
    fraction (0.015 = +1.5 %), as a drifting keypad oscillator would.
    """
    unknown = sorted({d for d in digits.upper() if d not in FREQUENCIES})
    if unknown:
        raise ValueError(f"not DTMF keys: {''.join(unknown)!r} (use 0-9 * # A-D)")
    n_tone = round(tone_ms * rate / 1000)
    n_gap = round(gap_ms * rate / 1000)
    t = np.arange(n_tone) / rate
    low_amp = _FULL_SCALE * 10 ** ((level_dbfs - twist_db / 2) / 20)
    high_amp = _FULL_SCALE * 10 ** ((level_dbfs + twist_db / 2) / 20)
    out = np.zeros((n_tone + n_gap) * len(digits))
    for i, digit in enumerate(digits.upper()):
        low, high = FREQUENCIES[digit]
        start = i * (n_tone + n_gap)
        out[start : start + n_tone] = low_amp * np.sin(
            2 * np.pi * low * (1 + freq_error) * t
        ) + high_amp * np.sin(2 * np.pi * high * (1 + freq_error) * t)
    return AudioClip(_to_int16(out), rate)


def active_power(clip: AudioClip) -> float:
    """Mean power of the clip's active part (int16 units squared).

    Only 10 ms frames within 30 dB of the loudest count, so the gaps between tones and the
    pauses in speech do not lower the reference of an S/N (a much simplified ITU-T P.56
    active level).
    """
    meter = ActivePower(clip.rate)
    meter.add(clip.samples)
    return meter.value


class ActivePower:
    """``active_power`` of a stream fed in blocks of any size: the same value, bit for bit.

    Which frames count depends on the loudest one, known only at the end, so the power of
    each 10 ms frame that may still count is kept: frames under a thousandth of the loudest
    so far never will, and are dropped. At most 8 bytes per frame of sound (5.8 MB for two
    hours of it, 11.5 MB at ``limits.WAV_SECONDS``), nothing for silence.
    """

    def __init__(self, rate: int) -> None:
        self.frame = max(rate // 100, 1)
        self._rest: _Floats = np.zeros(0)
        self._kept: list[_Floats] = []
        self._frames = 0
        self._loudest = 0.0
        self._pruned_at = 0.0

    def add(self, samples: npt.NDArray[np.int16]) -> None:
        x = np.concatenate([self._rest, samples.astype(np.float64)])
        n = len(x) // self.frame
        self._rest = x[n * self.frame :]
        if not n:
            return
        powers = np.mean(x[: n * self.frame].reshape(n, self.frame) ** 2, axis=1)
        self._frames += n
        self._loudest = max(self._loudest, float(powers.max()))
        floor = self._loudest / 1000
        if self._loudest > 2 * self._pruned_at:  # at most ~60 times: the cost stays linear
            self._kept = [kept[kept >= floor] for kept in self._kept]
            self._pruned_at = self._loudest
        kept = powers[(powers >= floor) & (powers > 0)]
        if len(kept):
            self._kept.append(kept)

    @property
    def value(self) -> float:
        """The active power of everything added (a stream shorter than one frame: its
        mean power; nothing: 0)."""
        if not self._frames:
            return float(np.mean(self._rest**2)) if len(self._rest) else 0.0
        if self._loudest == 0.0:
            return 0.0
        floor = self._loudest / 1000
        return float(np.concatenate([kept[kept >= floor] for kept in self._kept]).mean())


def add_noise(clip: AudioClip, snr_db: float, seed: int = 0) -> AudioClip:
    """White Gaussian noise at ``snr_db`` below the clip's active power (``active_power``).

    A silent clip is returned unchanged: it has no level to set the noise against.
    """
    return Noise(active_power(clip), snr_db, seed).add(clip)


class Noise:
    """White Gaussian noise ``snr_db`` below ``power``, added to a stream block by block.

    numpy's generator gives the same numbers drawn in pieces as drawn at once, so a stream
    gets the same noise however it is cut. ``power`` 0 adds nothing.
    """

    def __init__(self, power: float, snr_db: float, seed: int = 0) -> None:
        self._rng = np.random.default_rng(seed)
        self._scale = math.sqrt(power / 10 ** (snr_db / 10))

    def add(self, clip: AudioClip) -> AudioClip:
        noise = self._rng.standard_normal(len(clip.samples)) * self._scale
        return AudioClip(_to_int16(clip.samples + noise), clip.rate)


def _to_int16(x: npt.NDArray[np.floating] | _Floats) -> npt.NDArray[np.int16]:
    out: npt.NDArray[np.int16] = np.clip(np.round(x), -32768, 32767).astype(np.int16)
    return out


# ---------------------------------------------------------------------------------------
# Detection
#
# Every sum that decides a digit is exact, so a stream gives the same events however it is
# cut into chunks: the input is whole int16 units, the resampling kernel whole multiples of
# 2^-36, the 8 kHz samples whole multiples of 1/16 LSB and the Goertzel bases whole multiples
# of 2^-23. Each product and each partial sum is then an integer below 2^53, which float64
# holds exactly, so BLAS may add them in any order and batch any number of rows.

_KERNEL_SCALE = 2.0**36
_SUB = 16.0
"""8 kHz samples are kept in 1/16 LSB: whole numbers, fine enough to cost nothing."""
_BASIS_SCALE = 2.0**23

_FREQS = np.array(ROWS + COLS)
_GOERTZEL = np.concatenate(
    [
        np.cos(2 * np.pi * np.outer(np.arange(BLOCK), _FREQS) / RATE),
        -np.sin(2 * np.pi * np.outer(np.arange(BLOCK), _FREQS) / RATE),
    ],
    axis=1,
)
"""Goertzel as a matrix: one block's real and imaginary parts at the 8 frequencies."""
_GOERTZEL_INT = np.round(_GOERTZEL * _BASIS_SCALE)
_AMPLITUDE = 2 / (BLOCK * _SUB * _BASIS_SCALE)
"""From an exact Goertzel sum to a tone amplitude in int16 units."""

_WINDOW = 2 * BLOCK
_GRID_STEP = 0.005
_GRID = np.arange(-12, 13) * _GRID_STEP
"""Frequency offsets (fractions) searched around each nominal tone: +/-6 %."""
_HANN = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(_WINDOW) / _WINDOW)
_HANN_SUM = float(_HANN.sum())
_FINE_PHASE = (
    2 * np.pi * np.arange(_WINDOW)[None, :, None] * (_FREQS[:, None] * (1 + _GRID))[:, None] / RATE
)
_FINE_INT = np.round(
    np.concatenate([_HANN[:, None] * np.cos(_FINE_PHASE), -_HANN[:, None] * np.sin(_FINE_PHASE)], 2)
    * _BASIS_SCALE
)
"""Per tone (8, 204, 50): Hann-windowed real and imaginary parts on the fine grid around it,
for a 2-block window."""

_FFT = 256
_FFT_HZ = np.arange(_FFT // 2 + 1) * RATE / _FFT
_TONE_LOBE_HZ = 100.0
"""Half-width of a tone's Hann main lobe over the 2-block window (78 Hz) plus slack."""

_OTHER_PEAK_FLOOR_HZ = 500.0
"""The other-peak test looks from here up: dial tone (350 + 440 Hz) 10 dB under a digit,
which SpanDSP's tests require a receiver to tolerate, must not block it, and on espeak-ng
speech the test rejects as much without the band below."""

_GATE_SLACK_DB = 6.0
"""The block tests run this much looser than the fine ones: they only pick candidates."""
_RELATIVE_PEAK = 10 ** ((8 - _GATE_SLACK_DB / 2) / 20)
"""SpanDSP/Asterisk want each group's best bin 8 dB above the others; in a 102-sample
rectangular window a tone leaks into the next group's bins at -17 dB, so with 8 dB of
normal twist key 0's 1209 Hz bin sits only ~8 dB under its 1336 Hz tone. The gate allows
5 dB; the fine check's other-peak test (-12 dB, leakage-free) is the stricter one."""

_PRE_SLACK = 10 ** (-0.2 / 10)
"""The pre-gate's limits sit 0.2 dB outside the block tests'. Its float32 amplitudes differ
from the exact ones by under 0.02 dB at the lowest level a block test accepts, so a block
the pre-gate drops could never have been a hit."""

_HALF_WIDTH = 24
"""Resampling kernel half-width in 8 kHz samples (3 ms)."""
_MAX_PHASES = 256
"""Rates whose blocks fall on more input phases than this skip the pre-gate."""
_FEW = 4
"""Up to this many blocks at once (live chunks) take the per-block paths."""
_SLICE = 1 << 20
"""``feed`` works through long inputs this many samples at a time, to stay in cache."""
_MIN_CAPACITY = 1 << 16


def _ratio(db: float) -> float:
    """dB to an amplitude ratio."""
    return float(10 ** (db / 20))


class _Geometry:
    """How one input rate maps onto 8 kHz blocks; shared by every detector at that rate.

    8 kHz sample k is ``sum_t kernel[k % up, t] * x[k * down // up + lead + t]``: a
    Kaiser-windowed sinc (3 ms look-ahead) at rates other than 8 kHz, the sample itself at
    8 kHz. soxr's stream API holds back up to 100 ms, too much for a key pressed during a
    prompt, and its stream and one-shot outputs differ.

    It is computed in three ways that give the same bits: per output (a few blocks), per
    *frame* of ``frame`` outputs with one matrix product per group of 16 phases (many
    blocks), and not at all for blocks the pre-gate drops. The pre-gate's ``maps`` take a
    block's input span straight to its Goertzel amplitudes, one map per input phase.
    """

    def __init__(self, rate: int) -> None:
        g = math.gcd(rate, RATE)
        self.up = RATE // g
        self.down = rate // g
        self.identity = rate == RATE
        if self.identity:
            self.lead, self.width = 0, 1
            kernel: _Floats = np.ones((1, 1))
        else:
            taps = math.ceil(_HALF_WIDTH * max(rate, RATE) / RATE)
            cutoff = 0.85 * min(rate, RATE) / 2
            offsets = np.arange(-taps + 1, taps + 1)
            fraction = (np.arange(self.up) * self.down % self.up) / self.up
            d = offsets[None, :] - fraction[:, None]
            u = np.clip(d / taps, -1.0, 1.0)
            kernel = np.sinc(2 * cutoff * d / rate) * np.i0(8.0 * np.sqrt(1 - u**2)) / np.i0(8.0)
            kernel /= kernel.sum(axis=1, keepdims=True)
            self.lead, self.width = 1 - taps, 2 * taps
        self.kernel: _Floats = np.round(kernel * _KERNEL_SCALE)
        gain = float(np.abs(self.kernel).sum(axis=1).max()) / _KERNEL_SCALE
        if (
            32768 * gain * _KERNEL_SCALE >= 2**53
            or _SUB * 32768 * gain * _BASIS_SCALE * _WINDOW >= 2**53
        ):
            raise ValueError(f"cannot resample {rate} Hz exactly")
        self.gain = gain
        """Largest sum of |kernel|: no 8 kHz sample exceeds the input's peak times this."""

        # Frames: whole periods of the kernel, cut into groups of 16 outputs.
        self.frame = self.up * max(1, math.ceil(128 / self.up))
        self.frame_in = self.frame * self.down // self.up
        self.groups: list[tuple[int, int, int, _Floats]] = []
        for o in range(0, self.frame, 16):
            outs = np.arange(o, min(o + 16, self.frame))
            bases = outs * self.down // self.up
            width = int(bases[-1] - bases[0]) + self.width
            matrix = np.zeros((width, len(outs)))
            for i, k in enumerate(outs.tolist()):
                at = int(bases[i] - bases[0])
                matrix[at : at + self.width, i] = self.kernel[k % self.up]
            self.groups.append((o, int(bases[0]) + self.lead, width, matrix))
        self.pad = self.frame_in + max(w for _, _, w, _ in self.groups) + 16
        """Zeros kept after the input: a frame may run past the last whole block."""

        # Pre-gate maps: input span of a block -> its 8 Goertzel (re, im), in int16 units.
        self.phases = self.up // math.gcd(self.up, BLOCK)
        self.stride = BLOCK * self.phases * self.down // self.up
        """Input samples from block b to block b + phases."""
        first = np.arange(self.phases) * BLOCK * self.down // self.up + self.lead
        self.starts: list[int] = first.tolist()
        last = (np.arange(self.phases) * BLOCK + BLOCK - 1) * self.down // self.up + self.lead
        self.span = int((last - first).max()) + self.width
        self.offsets: _Ints = (
            (np.arange(self.phases)[:, None] * BLOCK + np.arange(BLOCK)) * self.down // self.up
        )
        """Per phase: input position of each of a block's outputs, less its first block's."""
        self.kernel_ext: _Floats = self.kernel[np.arange(self.up + BLOCK) % self.up]
        """The kernel's rows repeated, so that any block's rows are one slice."""
        self.maps: _Floats | None = None
        self.maps32: npt.NDArray[np.float32] | None = None
        if self.phases <= _MAX_PHASES:
            maps = np.zeros((self.phases, self.span, 16))
            for q in range(self.phases):
                ks = q * BLOCK + np.arange(BLOCK)
                at = ks * self.down // self.up + self.lead - first[q]
                spread = np.zeros((BLOCK, self.span))
                cols = at[:, None] + np.arange(self.width)
                spread[np.arange(BLOCK)[:, None], cols] = self.kernel[ks % self.up] / _KERNEL_SCALE
                maps[q] = spread.T @ _GOERTZEL * (2 / BLOCK)
            self.maps = maps
            self.maps32 = maps.astype(np.float32)

    def span_start(self, block: int) -> int:
        """Absolute index of the first input sample block ``block`` depends on."""
        return self.starts[block % self.phases] + block // self.phases * self.stride


@lru_cache(maxsize=8)
def _geometry(rate: int) -> _Geometry:
    return _Geometry(rate)


def _peaks(mags: _Floats) -> tuple[_Floats, _Floats, npt.NDArray[np.bool_]]:
    """Frequency offset, amplitude and "peak inside the grid" of each row of ``mags``.

    A parabola through the log magnitudes around the maximum places the peak to well under
    0.1 % (a Hann main lobe is close to a Gaussian).
    """
    k = mags.argmax(axis=1)
    inside = (k > 0) & (k < len(_GRID) - 1)
    k = np.minimum(np.maximum(k, 1), len(_GRID) - 2)
    idx = np.arange(len(mags))
    lo, mid, hi = (np.log(mags[idx, k + d] + 1e-9) for d in (-1, 0, 1))
    curve = lo - 2 * mid + hi
    delta = np.where(curve < 0, 0.5 * (lo - hi) / np.where(curve < 0, curve, -1.0), 0.0)
    delta = np.minimum(np.maximum(delta, -0.5), 0.5)
    offset = _GRID[k] + delta * _GRID_STEP
    amplitude = np.exp(mid - 0.25 * (lo - hi) * delta) * (2 / _HANN_SUM)
    return offset, amplitude, inside


def _pair_checks(windows: _Floats, keys: _Ints, s: ReceiverSettings) -> npt.NDArray[np.bool_]:
    """The fine Q.24 tests over two-block windows (int16 units) that both hit ``keys - 1``."""
    n = len(windows)
    row, col = (keys - 1) // 4, 4 + (keys - 1) % 4
    mags = np.empty((2, n, len(_GRID)))
    for key in set(keys.tolist()):
        sel = keys == key
        both = windows[sel] @ _FINE_INT[[(key - 1) // 4, 4 + (key - 1) % 4]]
        mags[:, sel] = np.hypot(both[..., : len(_GRID)], both[..., len(_GRID) :])
    dev, amp, inside = _peaks(mags.reshape(2 * n, len(_GRID)) / _BASIS_SCALE)
    row_dev, col_dev = dev[:n], dev[n:]
    row_amp, col_amp = amp[:n], amp[n:]
    row_in, col_in = inside[:n], inside[n:]
    mean = (windows * _HANN).sum(axis=1) / _HANN_SUM
    centred = windows - mean[:, None]
    power = (centred**2 * _HANN).sum(axis=1) / _HANN_SUM
    floor = _FULL_SCALE * _ratio(s.min_level_dbfs)
    ok = row_in & col_in
    ok &= (np.abs(row_dev) <= s.max_deviation) & (np.abs(col_dev) <= s.max_deviation)
    ok &= (row_amp >= floor) & (col_amp >= floor)
    ok &= row_amp <= col_amp * _ratio(s.normal_twist_db)
    ok &= col_amp <= row_amp * _ratio(s.reverse_twist_db)
    ok &= (row_amp**2 + col_amp**2) / 2 >= power * 10 ** (s.min_tone_share_db / 10)
    spectrum = np.abs(np.fft.rfft(centred * _HANN, _FFT, axis=1)) * (2 / _HANN_SUM)
    row_hz = _FREQS[row] * (1 + row_dev)
    col_hz = _FREQS[col] * (1 + col_dev)
    others = (np.abs(_FFT_HZ[None, :] - row_hz[:, None]) > _TONE_LOBE_HZ) & (
        np.abs(_FFT_HZ[None, :] - col_hz[:, None]) > _TONE_LOBE_HZ
    )
    others[:, _FFT_HZ < _OTHER_PEAK_FLOOR_HZ] = False
    other_peak = np.max(np.where(others, spectrum, 0.0), axis=1)
    ok &= other_peak <= np.minimum(row_amp, col_amp) * _ratio(s.max_other_peak_db)
    return ok


class DtmfDetector:
    """A Q.24 DTMF receiver for a stream of int16 samples at ``rate``.

    ``feed`` takes chunks of any size and returns the digits confirmed in them; ``flush``
    ends the stream. Each digit is reported once, when confirmed (two 12.75 ms blocks that
    pass every test), 20-35 ms after its tone starts, plus the 3 ms look-ahead of
    the resampler at rates other than 8 kHz.

    Each block first meets a cheap pre-gate: silence (no sample loud enough) or float32
    Goertzel amplitudes taken straight from the input that fail the level, twist or
    relative-peak test by more than rounding could explain. Only the blocks left (about one
    in ten in speech, none in silence) are resampled exactly and tested in full.
    """

    def __init__(self, rate: int = 16000, settings: ReceiverSettings | None = None) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.rate = rate
        self.settings = s = settings or ReceiverSettings()
        self._geo = _geometry(rate)
        self._floor = _FULL_SCALE * _ratio(s.min_level_dbfs - _GATE_SLACK_DB)
        self._normal = _ratio(s.normal_twist_db + _GATE_SLACK_DB / 2)
        self._reverse = _ratio(s.reverse_twist_db + _GATE_SLACK_DB / 2)
        self._share = 10 ** ((s.min_tone_share_db - _GATE_SLACK_DB / 2) / 10)
        self._pre_floor2 = self._floor**2 * _PRE_SLACK
        self._pre_normal2 = self._normal**2 / _PRE_SLACK
        self._pre_reverse2 = self._reverse**2 / _PRE_SLACK
        self._pre_peak2 = _RELATIVE_PEAK**2 * _PRE_SLACK
        self._quiet = self._floor * math.sqrt(_PRE_SLACK) / (2 * self._geo.gain)
        """A Goertzel amplitude is at most twice the block's peak: quieter spans cannot hit."""
        self.reset()

    def reset(self) -> None:
        """Start a new stream at time 0."""
        geo = self._geo
        self._set_buffer(np.zeros(_MIN_CAPACITY, np.int16))
        self._buf_start = geo.lead
        """Absolute input index of ``_buf[0]`` (zeros stand before the stream)."""
        self._buf_len = -geo.lead
        self._received = 0
        self._block = 0
        self._last_y: _Floats | None = None
        self._last_hit = 0
        self._current = 0
        self._misses = 0
        self._run_key = 0
        self._run_length = 0
        self._run_start = 0

    def _set_buffer(self, buf: npt.NDArray[np.int16]) -> None:
        self._buf = buf
        self._frames = sliding_window_view(buf, self._geo.width)
        """Every kernel-wide window of the buffer (a view)."""

    @property
    def active(self) -> str | None:
        """The key being held right now, if any."""
        return KEYS[self._current - 1] if self._current else None

    def feed(self, samples: npt.ArrayLike) -> list[DigitEvent]:
        """Digits confirmed in this chunk (int16 PCM, or floats in [-1, 1]).

        Floats are scaled to int16 units, rounded and clipped, as int16 PCM would be.
        """
        x = np.asarray(samples)
        if x.ndim == 2 and 1 in x.shape:
            x = x.ravel()
        if x.ndim != 1:
            raise ValueError(f"feed() needs mono samples, got shape {x.shape}")
        if x.dtype.kind == "f":
            x = np.clip(np.round(x * 32768.0), -32768, 32767)
        elif x.dtype != np.int16:
            x = np.clip(x.astype(np.int64), -32768, 32767)
        if len(x) <= _SLICE:
            return self._push(x)
        events: list[DigitEvent] = []
        for lo in range(0, len(x), _SLICE):
            events += self._push(x[lo : lo + _SLICE])
        return events

    def flush(self) -> list[DigitEvent]:
        """End the stream: analyse what is left (followed by silence), then ``reset``."""
        geo = self._geo
        outputs = -(-self._received * geo.up // geo.down)
        blocks = -(-outputs // BLOCK)
        events: list[DigitEvent] = []
        if blocks > self._block:
            last = BLOCK * blocks - 1
            needed = last * geo.down // geo.up + geo.lead + geo.width
            events = self._push(np.zeros(max(needed - self._received, 0), np.int16))
        self.reset()
        return events

    # -- input ---------------------------------------------------------------------------

    def _push(self, x: npt.NDArray[np.generic]) -> list[DigitEvent]:
        n = len(x)
        if self._buf_len + n + self._geo.pad > len(self._buf):
            self._compact(n)
        self._buf[self._buf_len : self._buf_len + n] = x
        self._buf_len += n
        self._received += n
        geo = self._geo
        limit = self._received - geo.lead - geo.width + 1
        end = (-(-limit * geo.up // geo.down)) // BLOCK if limit > 0 else 0
        return self._analyse(end) if end > self._block else []

    def _compact(self, incoming: int) -> None:
        """Drop input no future block needs; grow the buffer if it is still too small."""
        geo = self._geo
        keep = (BLOCK * self._block // geo.frame) * geo.frame_in + geo.lead - self._buf_start
        data = self._buf[keep : self._buf_len]
        size = max(_MIN_CAPACITY, 2 * (len(data) + incoming + geo.pad))
        buf = np.zeros(size, np.int16)
        buf[: len(data)] = data
        self._set_buffer(buf)
        self._buf_start += keep
        self._buf_len = len(data)

    # -- analysis ------------------------------------------------------------------------

    def _analyse(self, end: int) -> list[DigitEvent]:
        """Blocks ``self._block`` to ``end`` (exclusive), all of whose input is here."""
        geo = self._geo
        b0, n = self._block, end - self._block
        self._block = end
        lo = geo.span_start(b0) - self._buf_start
        hi = geo.span_start(end - 1) + geo.span - self._buf_start
        if n <= _FEW:
            seg = self._buf[lo:hi]
            if max(int(seg.max()), -int(seg.min())) < self._quiet:
                return self._quiet_blocks(n)
            candidates = self._pregate_few(b0, n)
        else:
            candidates = self._pregate_many(b0, end, lo, hi)
        if not len(candidates):
            return self._quiet_blocks(n)
        y = self._exact(candidates + b0)
        found = self._block_hits(y)
        hits = np.zeros(n, np.int64)
        hits[candidates] = found
        rows = np.full(n, -1, np.int64)
        rows[candidates] = np.arange(len(candidates))
        events = self._debounce(b0, hits, y, rows)
        last = int(hits[-1])
        self._last_hit = last
        self._last_y = y[rows[-1]] if last else None
        return events

    def _quiet_blocks(self, n: int) -> list[DigitEvent]:
        """``n`` blocks without a hit: the debounce state after them, no events."""
        if self._current:
            self._misses += n
            if self._misses >= self.settings.misses_to_end:
                self._current = 0
        self._run_key = self._run_length = self._last_hit = 0
        self._last_y = None
        return []

    def _pregate_few(self, b0: int, n: int) -> _Ints:
        geo = self._geo
        if geo.maps is None:
            return np.arange(n)
        kept = []
        for i in range(n):
            b = b0 + i
            start = geo.span_start(b) - self._buf_start
            g = (self._buf[start : start + geo.span] @ geo.maps[b % geo.phases]).tolist()
            a2 = [g[j] * g[j] + g[j + 8] * g[j + 8] for j in range(8)]
            if self._pregate(sorted(a2[:4]), sorted(a2[4:])):
                kept.append(i)
        return np.array(kept, np.int64)

    def _pregate(self, rows: list[float], cols: list[float]) -> bool:
        r1, c1 = rows[3], cols[3]
        return (
            r1 >= self._pre_floor2
            and c1 >= self._pre_floor2
            and r1 <= c1 * self._pre_normal2
            and c1 <= r1 * self._pre_reverse2
            and rows[2] * self._pre_peak2 <= r1
            and cols[2] * self._pre_peak2 <= c1
        )

    def _pregate_many(self, b0: int, end: int, lo: int, hi: int) -> _Ints:
        geo = self._geo
        n = end - b0
        if geo.maps32 is None:
            return np.arange(n)
        x = self._buf[lo:hi].astype(np.float32)
        amps = np.empty((n, 16), np.float32)
        p, stride, span = geo.phases, geo.stride, geo.span
        for q in range(p):
            m0, m1 = -(-(b0 - q) // p), -(-(end - q) // p)
            if m1 <= m0:
                continue
            base = geo.starts[q] + m0 * stride - self._buf_start - lo
            total: npt.NDArray[np.float32] | None = None
            for j in range(0, span, stride):
                w = min(stride, span - j)
                view = as_strided(x[base + j :], (m1 - m0, w), (4 * stride, 4), writeable=False)
                part = view @ geo.maps32[q, j : j + w]
                total = part if total is None else total + part
            amps[q + m0 * p - b0 :: p] = total
        a2 = (amps[:, :8] ** 2 + amps[:, 8:] ** 2).reshape(n, 2, 4)
        top = a2.max(axis=2)
        r1, c1 = top[:, 0], top[:, 1]
        ok = (r1 >= self._pre_floor2) & (c1 >= self._pre_floor2)
        ok &= (r1 <= c1 * self._pre_normal2) & (c1 <= r1 * self._pre_reverse2)
        # The relative-peak test: only the group's top bin within the margin of its top.
        ok &= ((a2 * self._pre_peak2 > top[:, :, None]).sum(axis=2) <= 1).all(axis=1)
        return np.flatnonzero(ok)

    def _exact(self, blocks: _Ints) -> _Floats:
        """The 8 kHz samples (1/16 LSB) of these blocks, identical by every path."""
        geo = self._geo
        k = blocks[:, None] * BLOCK + np.arange(BLOCK)
        if geo.identity:
            y: _Floats = self._buf[k - self._buf_start] * _SUB
            return y
        if len(blocks) <= _FEW:
            acc = np.empty(k.shape)
            for i, b in enumerate(blocks.tolist()):
                q, m = b % geo.phases, b // geo.phases
                frames = self._frames[
                    geo.offsets[q] + (m * geo.stride + geo.lead - self._buf_start)
                ]
                first = BLOCK * q % geo.up
                acc[i] = np.einsum("ij,ij->i", frames, geo.kernel_ext[first : first + BLOCK])
        else:
            frame, step = geo.frame, geo.frame_in
            needed = np.sort(np.concatenate([k[:, 0] // frame, k[:, -1] // frame]))
            needed = needed[np.concatenate([[True], needed[1:] != needed[:-1]])]
            f0 = int(needed[0])
            count = int(needed[-1]) - f0 + 1
            out = np.empty((len(needed), frame))
            for o, offset, width, matrix in geo.groups:
                start = f0 * step + offset - self._buf_start
                view = as_strided(self._buf[start:], (count, width), (2 * step, 2), writeable=False)
                out[:, o : o + matrix.shape[1]] = view[needed - f0] @ matrix
            # A block's frames are consecutive rows of ``out``.
            row = np.searchsorted(needed, k[:, 0] // frame)
            acc = out.ravel()[(row * frame - k[:, 0] // frame * frame)[:, None] + k]
        exact: _Floats = np.round(acc * (_SUB / _KERNEL_SCALE))
        return exact

    def _block_hits(self, y: _Floats) -> _Ints:
        """Per block: 1 + key index of a plausible digit, or 0 (the Asterisk tests)."""
        g = y @ _GOERTZEL_INT
        if len(y) <= _FEW:
            return self._few_block_hits(g, y)
        spectrum = np.sqrt(g[:, :8] * g[:, :8] + g[:, 8:] * g[:, 8:]) * _AMPLITUDE
        rows, cols = spectrum[:, :4], spectrum[:, 4:]
        r = rows.argmax(axis=1)
        c = cols.argmax(axis=1)
        idx = np.arange(len(y))
        a_row, a_col = rows[idx, r], cols[idx, c]
        second_row = np.partition(rows, 2, axis=1)[:, 2]
        second_col = np.partition(cols, 2, axis=1)[:, 2]
        mean = y.sum(axis=1) / BLOCK
        power = (np.einsum("ij,ij->i", y, y) / BLOCK - mean * mean) / (_SUB * _SUB)
        ok = (a_row >= self._floor) & (a_col >= self._floor)
        ok &= (a_row <= a_col * self._normal) & (a_col <= a_row * self._reverse)
        ok &= (second_row * _RELATIVE_PEAK <= a_row) & (second_col * _RELATIVE_PEAK <= a_col)
        ok &= (a_row * a_row + a_col * a_col) / 2 >= power * self._share
        hits: _Ints = np.where(ok, r * 4 + c + 1, 0).astype(np.int64)
        return hits

    def _few_block_hits(self, g: _Floats, y: _Floats) -> _Ints:
        """``_block_hits`` for a few blocks, in Python floats: the same IEEE operations in the
        same order, so the same results, without the cost of numpy on tiny arrays."""
        sums = y.sum(axis=1).tolist()
        squares = np.einsum("ij,ij->i", y, y).tolist()
        hits = []
        for row, total, square in zip(g.tolist(), sums, squares, strict=True):
            amps = [
                math.sqrt(row[j] * row[j] + row[j + 8] * row[j + 8]) * _AMPLITUDE for j in range(8)
            ]
            rows, cols = amps[:4], amps[4:]
            a_row, a_col = max(rows), max(cols)
            mean = total / BLOCK
            power = (square / BLOCK - mean * mean) / (_SUB * _SUB)
            ok = (
                a_row >= self._floor
                and a_col >= self._floor
                and a_row <= a_col * self._normal
                and a_col <= a_row * self._reverse
                and sorted(rows)[2] * _RELATIVE_PEAK <= a_row
                and sorted(cols)[2] * _RELATIVE_PEAK <= a_col
                and (a_row * a_row + a_col * a_col) / 2 >= power * self._share
            )
            hits.append(rows.index(a_row) * 4 + cols.index(a_col) + 1 if ok else 0)
        return np.array(hits, np.int64)

    def _debounce(self, b0: int, hits: _Ints, y: _Floats, rows: _Ints) -> list[DigitEvent]:
        """Asterisk's hit/miss logic: a digit starts after enough hits, ends after misses.

        The fine pair checks run only where they can matter: up to the first pair that
        passes in a run of hits on a key that is not already held. With many blocks, the
        first pair of every run is checked in one batch first.
        """
        s = self.settings
        n = len(hits)
        valid: dict[int, bool] = {}

        def check(pairs: list[int]) -> None:
            before = [rows[i - 1] if i else -1 for i in pairs]
            last = self._last_y if self._last_y is not None else np.zeros(BLOCK)
            previous = np.stack([y[r] if r >= 0 else last for r in before])
            windows = np.concatenate([previous, y[rows[pairs]]], axis=1) / _SUB
            for i, ok in zip(pairs, _pair_checks(windows, hits[pairs], s).tolist(), strict=True):
                valid[i] = ok

        if n > _FEW:
            prev = np.concatenate([[self._last_hit], hits[:-1]])
            pair = (hits > 0) & (hits == prev)
            first = pair & ~np.concatenate([[self._run_length >= 2], pair[:-1]])
            if first.any():
                firsts = np.flatnonzero(first)
                check(firsts.tolist())
                run = np.cumsum((hits > 0) & ~pair)
                failed = run[firsts[~np.array([valid[i] for i in firsts.tolist()])]]
                rest = np.flatnonzero(pair & ~first & np.isin(run, failed))
                if len(rest):
                    check(rest.tolist())

        events: list[DigitEvent] = []
        done = -1
        for i in np.flatnonzero(hits).tolist():
            self._zeros(i - done - 1)
            done = i
            hit = int(hits[i])
            block = b0 + i
            if self._current:
                if hit == self._current:
                    self._misses = 0
                else:
                    self._misses += 1
                    if self._misses >= s.misses_to_end:
                        self._current = 0
            if hit != self._run_key:
                self._run_key, self._run_length, self._run_start = hit, 0, block
            self._run_length += 1
            if hit == self._current or self._run_length < s.hits_to_begin:
                continue
            if i not in valid:
                batch = [i]
                while len(batch) < 16 and i + len(batch) < n and hits[i + len(batch)] == hit:
                    batch.append(i + len(batch))
                check(batch)
            if valid[i]:
                self._current, self._misses = hit, 0
                start, confirmed = self._run_start * BLOCK / RATE, (block + 1) * BLOCK / RATE
                events.append(DigitEvent(KEYS[hit - 1], start, confirmed))
        self._zeros(n - done - 1)
        return events

    def _zeros(self, count: int) -> None:
        """``count`` blocks without a hit, for the debounce state."""
        if count <= 0:
            return
        if self._current:
            self._misses += count
            if self._misses >= self.settings.misses_to_end:
                self._current = 0
        self._run_key = self._run_length = 0


_GEOMETRY_BYTES = 48 << 20
"""Most memory the receiver's exact resampler for a file's own rate may take while it is
built. Past it (odd rates: 44101 Hz needs 8000 kernel phases, 191999 Hz about 1 GB) a file
reaches the receiver through 8 kHz instead."""


def affordable_rate(rate: int) -> bool:
    """Whether building a receiver at ``rate`` stays within ``_GEOMETRY_BYTES`` (every
    common rate does). The estimate weighs what ``_Geometry`` allocates, measured with
    tracemalloc over random rates: the kernel (12 floats per tap and phase, with the
    temporaries of its Kaiser window), the frame groups and the pre-gate maps (2 each).
    """
    g = math.gcd(rate, RATE)
    up, down = RATE // g, rate // g
    width = 1 if rate == RATE else 2 * math.ceil(_HALF_WIDTH * max(rate, RATE) / RATE)
    frame = up * max(1, math.ceil(128 / up))
    floats = 12 * up * width + 2 * frame * (16 * down // up + width + 16)
    phases = up // math.gcd(up, BLOCK)
    if phases <= _MAX_PHASES:
        floats += 2 * phases * (BLOCK * down // up + width + 1) * 16
    return 8 * floats <= _GEOMETRY_BYTES


def detect(audio: Audio, settings: ReceiverSettings | None = None) -> list[DigitEvent]:
    """The digits in a whole clip or WAV file, exactly as a ``DtmfDetector`` fed it in chunks
    reports them.

    A file is read block by block, so memory does not grow with its length. A file at a rate
    that is not ``affordable_rate`` is brought to 8 kHz by soxr first: the receiver's exact
    resampler would need thousands of phases.
    """
    if isinstance(audio, AudioClip):
        detector = DtmfDetector(audio.rate, settings)
        return detector.feed(audio.samples) + detector.flush()
    rate = audio.rate if affordable_rate(audio.rate) else RATE
    return detect_blocks(audio.blocks(rate), rate, settings)


def detect_blocks(
    blocks: Iterable[AudioClip], rate: int, settings: ReceiverSettings | None = None
) -> list[DigitEvent]:
    """The digits in a stream of clips at ``rate`` (a file read in blocks, or one heard
    through ``ivr.line.Line``), as ``detect`` finds them in the stream joined up."""
    detector = DtmfDetector(rate, settings)
    events: list[DigitEvent] = []
    for block in blocks:
        if block.rate != rate:
            raise ValueError(f"a {block.rate} Hz block in a {rate} Hz stream")
        events += detector.feed(block.samples)
    return events + detector.flush()


def digits(audio: Audio, settings: ReceiverSettings | None = None) -> str:
    """The keys in ``audio`` as a string, e.g. ``"123#"``."""
    return "".join(event.digit for event in detect(audio, settings))
