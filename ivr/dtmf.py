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
resampler rather than ``ivr.audio.to_rate``: soxr's stream mode holds back up to 100 ms,
and its one-shot and stream outputs differ by a few LSB, which would break that identity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from ivr.audio import AudioClip

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
    x = clip.samples.astype(np.float64)
    frame = max(clip.rate // 100, 1)
    n = len(x) // frame
    if n == 0:
        return float(np.mean(x**2)) if len(x) else 0.0
    powers = np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1)
    loudest = float(powers.max())
    if loudest == 0.0:
        return 0.0
    return float(powers[powers >= loudest / 1000].mean())


def add_noise(clip: AudioClip, snr_db: float, seed: int = 0) -> AudioClip:
    """White Gaussian noise at ``snr_db`` below the clip's active power (``active_power``).

    A silent clip is returned unchanged: it has no level to set the noise against.
    """
    power = active_power(clip)
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(len(clip.samples)) * math.sqrt(power / 10 ** (snr_db / 10))
    return AudioClip(_to_int16(clip.samples + noise), clip.rate)


def _to_int16(x: npt.NDArray[np.floating] | _Floats) -> npt.NDArray[np.int16]:
    out: npt.NDArray[np.int16] = np.clip(np.round(x), -32768, 32767).astype(np.int16)
    return out


# ---------------------------------------------------------------------------------------
# Detection

_FREQS = np.array(ROWS + COLS)
_BLOCK_BASIS = np.exp(-2j * np.pi * np.outer(np.arange(BLOCK), _FREQS) / RATE)
"""Goertzel as a matrix: one block's spectrum at the 8 frequencies is ``block @ basis``."""

_WINDOW = 2 * BLOCK
_GRID_STEP = 0.005
_GRID = np.arange(-12, 13) * _GRID_STEP
"""Frequency offsets (fractions) searched around each nominal tone: +/-6 %."""
_HANN = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(_WINDOW) / _WINDOW)
_HANN_SUM = float(_HANN.sum())
_FINE_BASIS = (
    _HANN[:, None]
    * np.exp(
        -2j
        * np.pi
        * np.arange(_WINDOW)[:, None]
        * (_FREQS[:, None] * (1 + _GRID[None, :])).ravel()[None, :]
        / RATE
    )
).astype(np.complex128)
"""Hann-windowed spectra on the fine grid around all 8 tones, for a 2-block window."""

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


def _ratio(db: float) -> float:
    """dB to an amplitude ratio."""
    return float(10 ** (db / 20))


def _block_hits(blocks: _Floats, s: ReceiverSettings) -> _Ints:
    """Per 102-sample block: 1 + key index of a plausible digit, or 0 (the Asterisk tests)."""
    spectrum = np.abs(blocks @ _BLOCK_BASIS) * (2 / BLOCK)
    rows, cols = spectrum[:, :4], spectrum[:, 4:]
    r = rows.argmax(axis=1)
    c = cols.argmax(axis=1)
    idx = np.arange(len(blocks))
    a_row, a_col = rows[idx, r], cols[idx, c]
    second_row = np.partition(rows, 2, axis=1)[:, 2]
    second_col = np.partition(cols, 2, axis=1)[:, 2]
    centred = blocks - blocks.mean(axis=1, keepdims=True)
    power = np.mean(centred**2, axis=1)
    floor = _FULL_SCALE * _ratio(s.min_level_dbfs - _GATE_SLACK_DB)
    ok = (a_row >= floor) & (a_col >= floor)
    ok &= a_row <= a_col * _ratio(s.normal_twist_db + _GATE_SLACK_DB / 2)
    ok &= a_col <= a_row * _ratio(s.reverse_twist_db + _GATE_SLACK_DB / 2)
    ok &= (second_row * _RELATIVE_PEAK <= a_row) & (second_col * _RELATIVE_PEAK <= a_col)
    share = 10 ** ((s.min_tone_share_db - _GATE_SLACK_DB / 2) / 10)
    ok &= (a_row**2 + a_col**2) / 2 >= power * share
    hits: _Ints = np.where(ok, r * 4 + c + 1, 0).astype(np.int64)
    return hits


def _peaks(mags: _Floats) -> tuple[_Floats, _Floats, npt.NDArray[np.bool_]]:
    """Frequency offset, amplitude and "peak inside the grid" of each row of ``mags``.

    A parabola through the log magnitudes around the maximum places the peak to well under
    0.1 % (a Hann main lobe is close to a Gaussian).
    """
    k = mags.argmax(axis=1)
    inside = (k > 0) & (k < len(_GRID) - 1)
    k = np.clip(k, 1, len(_GRID) - 2)
    idx = np.arange(len(mags))
    lo, mid, hi = (np.log(mags[idx, k + d] + 1e-9) for d in (-1, 0, 1))
    curve = lo - 2 * mid + hi
    delta = np.where(curve < 0, 0.5 * (lo - hi) / np.where(curve < 0, curve, -1.0), 0.0)
    delta = np.clip(delta, -0.5, 0.5)
    offset = _GRID[k] + delta * _GRID_STEP
    amplitude = np.exp(mid - 0.25 * (lo - hi) * delta) * (2 / _HANN_SUM)
    return offset, amplitude, inside


def _pair_checks(windows: _Floats, keys: _Ints, s: ReceiverSettings) -> npt.NDArray[np.bool_]:
    """The fine Q.24 tests over two-block windows whose blocks both hit key ``keys - 1``."""
    n = len(windows)
    spectra = np.abs(windows @ _FINE_BASIS).reshape(n, 8, len(_GRID))
    idx = np.arange(n)
    row_dev, row_amp, row_in = _peaks(spectra[idx, (keys - 1) // 4])
    col_dev, col_amp, col_in = _peaks(spectra[idx, 4 + (keys - 1) % 4])
    mean = windows @ _HANN / _HANN_SUM
    power = ((windows - mean[:, None]) ** 2) @ _HANN / _HANN_SUM
    floor = _FULL_SCALE * _ratio(s.min_level_dbfs)
    ok = row_in & col_in
    ok &= (np.abs(row_dev) <= s.max_deviation) & (np.abs(col_dev) <= s.max_deviation)
    ok &= (row_amp >= floor) & (col_amp >= floor)
    ok &= row_amp <= col_amp * _ratio(s.normal_twist_db)
    ok &= col_amp <= row_amp * _ratio(s.reverse_twist_db)
    ok &= (row_amp**2 + col_amp**2) / 2 >= power * 10 ** (s.min_tone_share_db / 10)
    centred = (windows - mean[:, None]) * _HANN
    spectrum = np.abs(np.fft.rfft(centred, _FFT, axis=1)) * (2 / _HANN_SUM)
    row_hz = _FREQS[(keys - 1) // 4] * (1 + row_dev)
    col_hz = _FREQS[4 + (keys - 1) % 4] * (1 + col_dev)
    others = (np.abs(_FFT_HZ[None, :] - row_hz[:, None]) > _TONE_LOBE_HZ) & (
        np.abs(_FFT_HZ[None, :] - col_hz[:, None]) > _TONE_LOBE_HZ
    )
    others[:, _FFT_HZ < _OTHER_PEAK_FLOOR_HZ] = False
    other_peak = np.max(np.where(others, spectrum, 0.0), axis=1)
    ok &= other_peak <= np.minimum(row_amp, col_amp) * _ratio(s.max_other_peak_db)
    return ok


class _Resampler:
    """Any rate to 8 kHz for a stream: a Kaiser-windowed sinc, 3 ms look-ahead.

    soxr's stream API holds back up to 100 ms of audio, too much for a key pressed during a
    prompt. Every output sample is computed from the same inputs in the same order however
    the input is chunked, so whole files and streams give identical samples.
    """

    HALF_WIDTH = 24
    """Kernel half-width in output samples (3 ms)."""

    def __init__(self, rate: int) -> None:
        g = math.gcd(rate, RATE)
        self.up = RATE // g
        self.down = rate // g
        self.taps = math.ceil(self.HALF_WIDTH * max(rate, RATE) / RATE)
        cutoff = 0.85 * min(rate, RATE) / 2
        offsets = np.arange(-self.taps + 1, self.taps + 1)
        fraction = (np.arange(self.up) * self.down % self.up) / self.up
        d = offsets[None, :] - fraction[:, None]
        u = np.clip(d / self.taps, -1.0, 1.0)
        kernel = np.sinc(2 * cutoff * d / rate) * np.i0(8.0 * np.sqrt(1 - u**2)) / np.i0(8.0)
        self.kernel: _Floats = kernel / kernel.sum(axis=1, keepdims=True)
        self.reset()

    def reset(self) -> None:
        self.buffer: _Floats = np.zeros(self.taps)
        self.first = -self.taps
        """Absolute input index of ``buffer[0]`` (zeros stand before the stream)."""
        self.received = 0
        self.produced = 0

    def push(self, x: _Floats) -> _Floats:
        self.buffer = np.concatenate([self.buffer, x])
        self.received += len(x)
        return self._produce(self._available(self.received - self.taps))

    def flush(self) -> _Floats:
        """The rest of the stream, as if followed by silence."""
        self.buffer = np.concatenate([self.buffer, np.zeros(self.taps)])
        return self._produce(-(-self.received * self.up // self.down))

    def _available(self, last_input: int) -> int:
        """Number of outputs whose kernel ends at or before ``last_input`` + taps - 1."""
        return max(-(-last_input * self.up // self.down), 0)

    def _produce(self, end: int) -> _Floats:
        if end <= self.produced:
            return np.zeros(0)
        parts = []
        frames = sliding_window_view(self.buffer, 2 * self.taps)
        for lo in range(self.produced, end, 4096):
            k = np.arange(lo, min(lo + 4096, end))
            base = k * self.down // self.up - self.taps + 1 - self.first
            parts.append(np.einsum("ij,ij->i", frames[base], self.kernel[k % self.up]))
        self.produced = end
        keep = self.produced * self.down // self.up - self.taps + 1
        if keep > self.first:
            self.buffer = self.buffer[keep - self.first :]
            self.first = keep
        return np.concatenate(parts)


class DtmfDetector:
    """A Q.24 DTMF receiver for a stream of int16 samples at ``rate``.

    ``feed`` takes chunks of any size and returns the digits confirmed in them; ``flush``
    ends the stream. Each digit is reported once, when confirmed (two 12.75 ms blocks that
    pass every test), 20-35 ms after its tone starts, plus the 3 ms look-ahead of
    the resampler at rates other than 8 kHz.
    """

    def __init__(self, rate: int = 16000, settings: ReceiverSettings | None = None) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.rate = rate
        self.settings = settings or ReceiverSettings()
        self._resampler = None if rate == RATE else _Resampler(rate)
        self.reset()

    def reset(self) -> None:
        """Start a new stream at time 0."""
        if self._resampler is not None:
            self._resampler.reset()
        self._pending: _Floats = np.zeros(0)
        self._block = 0
        self._last_block: _Floats = np.zeros(BLOCK)
        self._last_hit = 0
        self._current = 0
        self._misses = 0
        self._run_key = 0
        self._run_length = 0
        self._run_start = 0

    @property
    def active(self) -> str | None:
        """The key being held right now, if any."""
        return KEYS[self._current - 1] if self._current else None

    def feed(self, samples: npt.ArrayLike) -> list[DigitEvent]:
        """Digits confirmed in this chunk (int16 PCM, or floats in [-1, 1])."""
        x = np.asarray(samples)
        if x.ndim == 2 and 1 in x.shape:
            x = x.ravel()
        if x.ndim != 1:
            raise ValueError(f"feed() needs mono samples, got shape {x.shape}")
        y = x.astype(np.float64) * (32768.0 if np.issubdtype(x.dtype, np.floating) else 1.0)
        if self._resampler is not None:
            y = self._resampler.push(y)
        return self._consume(y)

    def flush(self) -> list[DigitEvent]:
        """End the stream: analyse what is left (padded with silence), then ``reset``."""
        tail = self._resampler.flush() if self._resampler is not None else np.zeros(0)
        events = self._consume(tail)
        if len(self._pending):
            events += self._consume(np.zeros(BLOCK - len(self._pending)))
        self.reset()
        return events

    def _consume(self, y: _Floats) -> list[DigitEvent]:
        data = np.concatenate([self._pending, y]) if len(self._pending) else y
        n = len(data) // BLOCK
        self._pending = data[n * BLOCK :]
        if n == 0:
            return []
        blocks = data[: n * BLOCK].reshape(n, BLOCK)
        hits = _block_hits(blocks, self.settings)
        previous = np.concatenate([[self._last_hit], hits[:-1]])
        pairs = np.flatnonzero((hits > 0) & (hits == previous))
        valid = np.zeros(n, dtype=bool)
        if len(pairs):
            extended = np.concatenate([self._last_block[None, :], blocks])
            windows = np.concatenate([extended[pairs], extended[pairs + 1]], axis=1)
            valid[pairs] = _pair_checks(windows, hits[pairs], self.settings)
        self._last_block = blocks[-1].copy()
        self._last_hit = int(hits[-1])
        events = self._debounce(hits, valid)
        self._block += n
        return events

    def _debounce(self, hits: _Ints, valid: npt.NDArray[np.bool_]) -> list[DigitEvent]:
        """Asterisk's hit/miss logic: a digit starts after enough hits, ends after misses."""
        s = self.settings
        events: list[DigitEvent] = []
        for i, hit in enumerate(hits.tolist()):
            block = self._block + i
            if self._current:
                if hit == self._current:
                    self._misses = 0
                else:
                    self._misses += 1
                    if self._misses >= s.misses_to_end:
                        self._current = 0
            if hit != self._run_key:
                self._run_key, self._run_length, self._run_start = hit, 0, block
            if not hit:
                continue
            self._run_length += 1
            if hit != self._current and self._run_length >= s.hits_to_begin and valid[i]:
                self._current, self._misses = hit, 0
                events.append(
                    DigitEvent(
                        KEYS[hit - 1], self._run_start * BLOCK / RATE, (block + 1) * BLOCK / RATE
                    )
                )
        return events


def detect(clip: AudioClip, settings: ReceiverSettings | None = None) -> list[DigitEvent]:
    """The digits in a whole clip, exactly as a ``DtmfDetector`` fed it in chunks reports them."""
    detector = DtmfDetector(clip.rate, settings)
    return detector.feed(clip.samples) + detector.flush()


def digits(clip: AudioClip, settings: ReceiverSettings | None = None) -> str:
    """The keys in ``clip`` as a string, e.g. ``"123#"``."""
    return "".join(event.digit for event in detect(clip, settings))
