"""WAV files in and out, resampling, and a speaker whose playback stops at once.

Everything inside the simulator is 16-bit mono PCM (``AudioClip``); files of other
widths, float WAVs, G.711 (mu-law and A-law, the usual format of phone-system recordings)
and stereo are converted on the way in so callers never branch on format. A WAV header is
checked against ``ivr.limits`` before any sample is read, and a long file is read (and
resampled) in blocks, so memory does not grow with its length.
Playback keeps one PortAudio stream open for the whole session because opening
one costs 1-2 s, and barge-in needs ``stop()`` to silence the line within one block.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import stat
import struct
import threading
import time
import wave
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import numpy as np
import numpy.typing as npt

from ivr.errors import IvrError
from ivr.limits import CHANNELS_MAX, SAMPLE_RATE_MAX, SAMPLE_RATE_MIN, WAV_SECONDS

log = logging.getLogger(__name__)

_PCM = 0x0001
_FLOAT = 0x0003
_ALAW = 0x0006
_ULAW = 0x0007
_EXTENSIBLE = 0xFFFE
_G711 = {_ALAW: "ALAW", _ULAW: "ULAW"}
"""G.711 format tags and libsndfile's names for them."""
_ENCODINGS = {_PCM: "PCM", _FLOAT: "float", _ALAW: "A-law", _ULAW: "mu-law"}


class AudioFileError(IvrError, ValueError):
    """A file is not usable audio; ``str()`` is one line naming the file and the problem."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = " ".join(problem.split())
        super().__init__(f"{_printable(path)}: {self.problem}")


def _printable(path: str | Path) -> str:
    """``path`` with control characters escaped, so that the message stays one line."""
    text = str(path)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


class AudioDeviceUnavailable(IvrError, RuntimeError):
    """No usable sound output; the message says what is wrong and what to do."""


@dataclass(frozen=True, eq=False)
class AudioClip:
    """Mono 16-bit audio and its sample rate (eq=False: arrays do not compare to bool)."""

    samples: npt.NDArray[np.int16]
    rate: int

    def __post_init__(self) -> None:
        if self.samples.dtype != np.int16 or self.samples.ndim != 1:
            raise ValueError(
                f"AudioClip needs 1-D int16 samples, got {self.samples.dtype} "
                f"with shape {self.samples.shape}"
            )
        if self.rate <= 0:
            raise ValueError(f"AudioClip rate must be positive, got {self.rate}")

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.rate


# ---------------------------------------------------------------------------------------
# Reading WAV files
#
# Every figure that sizes work (rate, channels, sample width, data size) comes from the
# header, which anyone can write. So the header is read alone first, checked against
# ivr.limits and against the file's real size, and only then are samples read: in blocks
# of about _BLOCK_BYTES, so that memory does not grow with the file's length.

_BLOCK_BYTES = 1 << 20
"""Bytes of samples read at a time (5.5 s of 48 kHz stereo 16-bit)."""
_FMT_BYTES = 64
"""Bytes of the format chunk that are read: everything used sits in the first 26."""
_CHUNKS_BEFORE_DATA = 1_000
"""Most chunks walked before the data chunk (real files have a handful), so a file of
millions of empty chunks costs no time."""


def _supported(tag: int, bits: int) -> bool:
    return (
        (tag == _PCM and bits in (8, 16, 24, 32))
        or (tag == _FLOAT and bits in (32, 64))
        or (tag in _G711 and bits == 8)
    )


@dataclass(frozen=True)
class WavFormat:
    """A checked WAV header: the encoding, and where the whole frames are in the file."""

    tag: int
    channels: int
    rate: int
    bits: int
    offset: int
    """Byte offset of the first sample."""
    frames: int
    """Whole frames present: the data chunk's size, or less if the file is shorter."""

    @property
    def frame_bytes(self) -> int:
        return self.channels * self.bits // 8

    @property
    def duration(self) -> float:
        return self.frames / self.rate


def _open(path: Path) -> BinaryIO:
    """``path`` opened for reading if it is a regular file, else one-line AudioFileError.

    O_NONBLOCK: opening a FIFO nobody writes to would otherwise wait forever; the type is
    checked on the open descriptor, so the file cannot be swapped between check and read.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise AudioFileError(path, "no such file") from None
    except IsADirectoryError:
        raise AudioFileError(path, "is a directory, not a WAV file") from None
    except OSError as exc:
        raise AudioFileError(path, f"cannot read ({exc.strerror or exc})") from None
    except ValueError:  # a NUL in the name
        raise AudioFileError(path, "cannot read (the name holds a NUL character)") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise AudioFileError(path, "is a directory, not a WAV file")
        kind = (
            "a pipe" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        )
        raise AudioFileError(path, f"is {kind}, not a WAV file (give a file)")
    return os.fdopen(fd, "rb")


def _parse(path: Path, f: BinaryIO) -> WavFormat:
    """Walk the RIFF chunks up to the data chunk, reading only chunk headers and the format.

    The RIFF chunks are parsed here rather than with ``wave`` because ``wave`` rejects
    float and WAVE_FORMAT_EXTENSIBLE files, which sox and many editors write.
    """
    size = os.fstat(f.fileno()).st_size
    if size == 0:
        raise AudioFileError(path, "empty")
    head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        if head[:4] == b"RF64":
            raise AudioFileError(path, "RF64 WAV files (over 4 GiB) are not supported")
        if head[:4] == b"RIFX":
            raise AudioFileError(path, "big-endian WAV files (RIFX) are not supported")
        raise AudioFileError(path, "not a WAV file")
    fmt: bytes | None = None
    data: tuple[int, int] | None = None
    offset = 12
    for _ in range(_CHUNKS_BEFORE_DATA):
        f.seek(offset)
        header = f.read(8)
        if len(header) < 8:
            break
        (chunk_size,) = struct.unpack_from("<I", header, 4)
        if header[:4] == b"fmt ":
            fmt = f.read(min(chunk_size, _FMT_BYTES))
        elif header[:4] == b"data":
            data = (offset + 8, chunk_size)
            break
        offset += 8 + chunk_size + (chunk_size & 1)
    else:
        raise AudioFileError(
            path, f"corrupt WAV file (more than {_CHUNKS_BEFORE_DATA} chunks before the audio)"
        )
    if fmt is None or len(fmt) < 16:
        raise AudioFileError(path, "corrupt WAV file (no format chunk)")
    if data is None:
        raise AudioFileError(path, "corrupt WAV file (no data chunk)")

    tag, channels, rate, _, align, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == _EXTENSIBLE and len(fmt) >= 26:
        (tag,) = struct.unpack_from("<H", fmt, 24)  # first two bytes of the sub-format GUID
    if channels < 1 or rate < 1 or bits < 8 or bits % 8:
        raise AudioFileError(
            path, f"corrupt WAV header ({channels} channels, {rate} Hz, {bits} bits)"
        )
    if not _supported(tag, bits):
        kind = _ENCODINGS.get(tag, f"format tag {tag:#06x}")
        raise AudioFileError(path, f"unsupported WAV encoding ({kind}, {bits} bits)")
    if channels > CHANNELS_MAX:
        raise AudioFileError(path, f"{channels} channels: over the limit of {CHANNELS_MAX}")
    if not SAMPLE_RATE_MIN <= rate <= SAMPLE_RATE_MAX:
        raise AudioFileError(
            path,
            f"sample rate {rate} Hz: outside the limits of {SAMPLE_RATE_MIN}-{SAMPLE_RATE_MAX} Hz",
        )
    frame_bytes = channels * bits // 8
    start, claimed = data
    present = min(claimed, size - start)
    if align != frame_bytes:
        raise AudioFileError(
            path,
            f"corrupt WAV header (block align {align}, but a frame of {channels} channels of "
            f"{bits} bits is {frame_bytes} bytes)",
        )
    frames = present // frame_bytes
    if frames == 0:
        raise AudioFileError(path, "empty (no audio samples)")
    if frames > WAV_SECONDS * rate:
        raise AudioFileError(
            path,
            f"{frames / rate:.0f} s of audio: over the limit of {WAV_SECONDS} s "
            f"({WAV_SECONDS / 3600:g} hours)",
        )
    if claimed > present:
        # Streaming writers leave the size unset or the file was cut short.
        log.warning("%s: data chunk claims %d bytes, %d present", path, claimed, present)
    if tag in _G711:
        try:
            _g711_table(tag)  # the decoder is loaded before a sample is read, once
        except (ImportError, OSError) as exc:
            raise AudioFileError(
                path,
                f"{_ENCODINGS[tag]} WAV files need the soundfile package and its libsndfile "
                f"({type(exc).__name__}: {exc}); pip install soundfile",
            ) from None
    return WavFormat(tag, channels, rate, bits, start, frames)


class WavFile:
    """A WAV file whose header has been read and checked; its samples are read on demand.

    Opening reads the chunk headers and the format only, so any header, however it lies,
    costs a few reads: a rate, channel count or width outside ``ivr.limits``, a size larger
    than the file, or more than ``WAV_SECONDS`` of audio is one AudioFileError. ``blocks``
    then reads the samples a block at a time (mono int16, resampled on the way if asked),
    so that a call, the DTMF receiver or the recognizer can consume hours of audio in a
    few megabytes; ``read`` loads the whole clip for callers that need it at once.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        with _open(self.path) as f:
            try:
                self.format = _parse(self.path, f)
                st = os.fstat(f.fileno())
            except OSError as exc:
                raise AudioFileError(self.path, f"cannot read ({exc.strerror or exc})") from None
        self._identity = (st.st_dev, st.st_ino)

    @property
    def rate(self) -> int:
        return self.format.rate

    @property
    def frames(self) -> int:
        return self.format.frames

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.format.duration

    def blocks(
        self, rate: int | None = None, block_frames: int | None = None
    ) -> Iterator[AudioClip]:
        """The audio as consecutive mono clips, at ``rate`` (None: the file's own).

        ``block_frames`` frames of the file make a block (default: about 1 MiB of it).
        What comes out does not depend on the block size (see ``resample_blocks``).
        """
        fmt = self.format
        size = block_frames or max(_BLOCK_BYTES // fmt.frame_bytes, 1)
        native = (AudioClip(x, fmt.rate) for x in self._mono_blocks(size))
        if rate is None or rate == fmt.rate:
            return native
        return resample_blocks(native, rate)

    def read(self) -> AudioClip:
        """The whole file as one clip; memory peaks at the clip's size plus one block."""
        fmt = self.format
        out = np.empty(fmt.frames, np.int16)
        done = 0
        for samples in self._mono_blocks(max(_BLOCK_BYTES // fmt.frame_bytes, 1)):
            out[done : done + len(samples)] = samples
            done += len(samples)
        return AudioClip(out[:done] if done < len(out) else out, fmt.rate)

    def _mono_blocks(self, size: int) -> Iterator[npt.NDArray[np.int16]]:
        """Decoded, downmixed blocks of ``size`` frames (the last may be shorter).

        Whatever goes wrong once samples are being read (an I/O error, the file replaced or
        cut short since its header was checked) is one AudioFileError, raised here, so that
        every command that consumes a stream has one kind of error to catch.
        """
        fmt = self.format
        with _open(self.path) as f:
            fd = f.fileno()
            try:
                st = os.fstat(fd)
                if (st.st_dev, st.st_ino) != self._identity:
                    raise AudioFileError(self.path, "replaced by another file since it was opened")
                os.lseek(fd, fmt.offset, os.SEEK_SET)
                left = fmt.frames
                while left:
                    want = min(left, size)
                    raw = _read_up_to(fd, want * fmt.frame_bytes)
                    got = len(raw) // fmt.frame_bytes
                    if got < want:
                        raise AudioFileError(
                            self.path,
                            f"cut short while being read: {left - got} frames fewer than "
                            "when it was opened",
                        )
                    yield _to_mono(raw, fmt)
                    left -= want
            except OSError as exc:
                raise AudioFileError(self.path, f"cannot read ({exc.strerror or exc})") from None


def _read_up_to(fd: int, count: int) -> bytes:
    """``count`` bytes from ``fd``, or fewer only at the end of the file (``os.read`` may
    return less than asked; it retries by itself when a signal interrupts it)."""
    parts = []
    while count:
        part = os.read(fd, count)
        if not part:
            break
        parts.append(part)
        count -= len(part)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def open_wav(path: str | Path) -> WavFile:
    """``path`` as a checked WavFile; one-line AudioFileError if it is not usable audio."""
    return WavFile(path)


def read_wav(path: str | Path) -> AudioClip:
    """Read a PCM (8/16/24/32-bit), float (32/64-bit) or G.711 (mu-law, A-law) WAV file
    as mono int16.

    The header is checked first (``WavFile``), so a file is either read whole or refused
    with one AudioFileError line; for long audio prefer ``open_wav(path).blocks()``.
    """
    return open_wav(path).read()


def _to_mono(raw: bytes, fmt: WavFormat) -> npt.NDArray[np.int16]:
    """Whole frames of ``fmt`` to mono int16."""
    if fmt.tag == _PCM and fmt.bits == 16 and fmt.channels == 1:  # what every tool here writes
        return np.frombuffer(raw, "<i2").astype(np.int16)
    return _downmix(_decode(raw, fmt.tag, fmt.bits, fmt.channels))


def _decode(raw: bytes, tag: int, bits: int, channels: int) -> npt.NDArray[Any]:
    """Whole frames to a (frames, channels) array of int16-scaled values."""
    out: npt.NDArray[Any]
    if tag == _PCM and bits == 8:
        out = (np.frombuffer(raw, np.uint8).astype(np.int32) - 128) << 8
    elif tag == _PCM and bits == 16:
        out = np.frombuffer(raw, "<i2").astype(np.int32)
    elif tag == _PCM and bits == 24:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        out = ((b[:, 0] << 8) | (b[:, 1] << 16) | (b[:, 2] << 24)) >> 16
    elif tag == _PCM and bits == 32:
        out = np.frombuffer(raw, "<i4") >> 16
    elif tag == _FLOAT and bits in (32, 64):
        floats = np.frombuffer(raw, "<f4" if bits == 32 else "<f8")
        floats = np.nan_to_num(floats, nan=0.0, posinf=1.0, neginf=-1.0)
        out = np.round(np.clip(floats, -1.0, 1.0) * 32767.0).astype(np.int32)
    elif tag in _G711 and bits == 8:
        out = _g711_table(tag)[np.frombuffer(raw, np.uint8)]
    else:  # _parse lets no other encoding through
        raise AssertionError(f"encoding {tag:#06x}/{bits} passed the header check")
    return out.reshape(-1, channels)


@functools.cache
def _g711_table(tag: int) -> npt.NDArray[np.int32]:
    """The 16-bit value of each of the 256 G.711 codes of ``tag``, as libsndfile decodes them.

    G.711 maps each byte to one sample on its own, so decoding the 256 codes once through
    libsndfile (via soundfile, imported here: only a G.711 file loads it) decodes any
    stream. libsndfile and ``ivr.audio.phone_line``'s codec agree on every code
    (``tests/test_g711.py``), so a recording and the simulated line are the same G.711.
    Raises ImportError, or OSError when the libsndfile library cannot be loaded.
    """
    import soundfile

    codes = io.BytesIO(bytes(range(256)))
    samples, _ = soundfile.read(
        codes, samplerate=8000, channels=1, format="RAW", subtype=_G711[tag], dtype="int16"
    )
    table: npt.NDArray[np.int32] = np.asarray(samples, np.int32).reshape(256)
    table.flags.writeable = False
    return table


def _downmix(frames: npt.NDArray[Any]) -> npt.NDArray[np.int16]:
    """Average the channels (a telephone line is mono)."""
    mono = frames[:, 0] if frames.shape[1] == 1 else frames.mean(axis=1).round()
    out: npt.NDArray[np.int16] = np.clip(mono, -32768, 32767).astype(np.int16)
    return out


def resample_blocks(blocks: Iterable[AudioClip], rate: int) -> Iterator[AudioClip]:
    """One stream of clips (all at one rate) at ``rate``, through ``Resampler``.

    The output matches ``to_rate`` on the whole stream to within 1 LSB (rounding instead
    of dither), and does not depend on how the stream is cut.
    """
    resampler: Resampler | None = None
    clips = iter(blocks)
    for clip in clips:
        if resampler is None:
            if clip.rate == rate:
                yield clip
                yield from clips
                return
            resampler = Resampler(clip.rate, rate)
        out = resampler(clip.samples)
        if len(out):
            yield AudioClip(out, rate)
    if resampler is not None:
        out = resampler(np.zeros(0, np.int16), last=True)
        if len(out):
            yield AudioClip(out, rate)


class Resampler:
    """soxr's streaming resampler from one rate to another, int16 in and out.

    It runs in float32, where soxr's output does not depend on how the stream is cut; in
    int16 its dither would make the samples depend on the block size.
    """

    def __init__(self, rate_in: int, rate_out: int) -> None:
        import soxr  # on first use: `ivr dtmf` on an 8 kHz file never resamples

        self._stream: Any = soxr.ResampleStream(rate_in, rate_out, 1, dtype="float32")

    def __call__(self, samples: npt.NDArray[np.int16], last: bool = False) -> npt.NDArray[np.int16]:
        """The output for ``samples`` that is ready (soxr holds some back); ``last``
        ends the stream and returns the rest."""
        out = self._stream.resample_chunk(samples.astype(np.float32) / 32768, last=last)
        return _float_to_int16(out)


def _float_to_int16(x: npt.NDArray[np.float32]) -> npt.NDArray[np.int16]:
    out: npt.NDArray[np.int16] = np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int16)
    return out


Audio = AudioClip | WavFile
"""Audio a caller or receiver can consume: a clip in memory or a WAV file read in blocks."""


def audio_blocks(audio: Audio, rate: int | None = None) -> Iterator[AudioClip]:
    """``audio`` as consecutive clips at ``rate`` (None: its own rate).

    A clip in memory is one block, resampled whole by ``to_rate`` exactly as before; a
    WavFile is read and resampled in blocks.
    """
    if isinstance(audio, WavFile):
        return audio.blocks(rate)
    return iter([audio if rate is None else to_rate(audio, rate)])


def chunks(blocks: Iterable[AudioClip], size: int) -> Iterator[npt.NDArray[np.int16]]:
    """The samples of ``blocks`` cut into chunks of ``size`` (the last may be shorter), as
    slicing their concatenation would, holding no more than one block and one chunk."""
    pending: list[npt.NDArray[np.int16]] = []
    held = 0
    for block in blocks:
        samples = block.samples
        start = 0
        if held:
            take = min(size - held, len(samples))
            pending.append(samples[:take])
            held += take
            start = take
            if held < size:
                continue
            yield np.concatenate(pending)
            pending, held = [], 0
        whole = start + (len(samples) - start) // size * size
        for lo in range(start, whole, size):
            yield samples[lo : lo + size]
        if whole < len(samples):
            pending, held = [samples[whole:]], len(samples) - whole
    if held:
        yield np.concatenate(pending)


def write_wav(path: str | Path, clip: AudioClip) -> None:
    """Write ``clip`` as 16-bit mono PCM, the format every tool here reads."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(clip.rate)
        wav.writeframes(clip.samples.astype("<i2").tobytes())


def to_rate(clip: AudioClip, rate: int) -> AudioClip:
    """Resample with soxr (espeak-ng speaks at 22050 Hz, the line runs at 8 or 16 kHz)."""
    if clip.rate == rate:
        return clip
    if len(clip.samples) == 0:
        return AudioClip(clip.samples, rate)
    import soxr  # on first use: a command that never resamples does not load it

    out = soxr.resample(clip.samples, clip.rate, rate)
    return AudioClip(np.ascontiguousarray(out, dtype=np.int16), rate)


class ClipCache:
    """Decoded clips kept in memory, so a prompt said again costs no file I/O, no parsing
    and no resampling (they cost 2-10 ms per prompt, most of a key's path to its prompt).

    A clip is kept per file and rate. Each ``get`` checks the file's size, modification
    time and inode (one ``stat``): a file replaced (as PromptCache does) or rewritten with
    another size or time is read again. At most ``max_bytes`` of samples are kept, dropping
    the least recently used clip first; a clip larger than that is returned but not kept.
    Safe to use from several threads. The arrays of returned clips are shared, so they are
    read-only.
    """

    def __init__(self, max_bytes: int = 64 * 2**20) -> None:
        self.max_bytes = max_bytes
        self._clips: OrderedDict[tuple[Path, int | None], tuple[tuple[int, int, int], AudioClip]]
        self._clips = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def get(self, path: str | Path, rate: int | None = None) -> AudioClip:
        """The clip in ``path`` (``read_wav``), resampled to ``rate`` unless that is None."""
        path = Path(path)
        key = (path, rate)
        try:
            st = path.stat()
        except OSError:
            self._forget(key)
            return read_wav(path)  # raises the one-line AudioFileError
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        with self._lock:
            entry = self._clips.get(key)
            if entry is not None and entry[0] == stamp:
                self._clips.move_to_end(key)
                self.hits += 1
                return entry[1]
            self.misses += 1
        clip = read_wav(path)  # outside the lock: other clips stay available meanwhile
        if rate is not None:
            clip = to_rate(clip, rate)
        clip.samples.flags.writeable = False
        self._keep(key, stamp, clip)
        return clip

    def _keep(
        self, key: tuple[Path, int | None], stamp: tuple[int, int, int], clip: AudioClip
    ) -> None:
        size = clip.samples.nbytes
        with self._lock:
            self._forget_locked(key)
            if size > self.max_bytes:
                return
            self._clips[key] = (stamp, clip)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, dropped) = self._clips.popitem(last=False)
                self._bytes -= dropped.samples.nbytes
                self.evictions += 1

    def _forget(self, key: tuple[Path, int | None]) -> None:
        with self._lock:
            self._forget_locked(key)

    def _forget_locked(self, key: tuple[Path, int | None]) -> None:
        entry = self._clips.pop(key, None)
        if entry is not None:
            self._bytes -= entry[1].samples.nbytes

    @property
    def nbytes(self) -> int:
        """Bytes of samples held."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._clips)

    def clear(self) -> None:
        with self._lock:
            self._clips.clear()
            self._bytes = 0


class Speaker(Protocol):
    """Port for the simulator's loudspeaker (the line towards the caller).

    A speaker with an ``int`` attribute ``rate`` (its device rate) is handed clips at that
    rate by ``SpeakingPlayer``, resampled once and kept in memory.
    """

    def play(self, clip: AudioClip) -> float:
        """Start playing ``clip`` (replacing what plays) and return its duration in s."""
        ...

    def stop(self) -> None:
        """Silence the output at once (barge-in)."""
        ...

    def close(self) -> None:
        """Release the device."""
        ...

    @property
    def is_playing(self) -> bool:
        """True while part of the current clip has not been handed to the device."""
        ...


_NO_AUDIO_HINT = "run with --text to use the simulator without sound"


def import_sounddevice(hint: str) -> Any:
    """The sounddevice module, or AudioDeviceUnavailable saying what to install (and ``hint``)."""
    try:
        import sounddevice
    except ImportError:
        raise AudioDeviceUnavailable(
            f"the sounddevice package is not installed: pip install sounddevice, or {hint}"
        ) from None
    except OSError as exc:
        log.debug("importing sounddevice: %s", exc)
        raise AudioDeviceUnavailable(
            f"the PortAudio library (libportaudio2) is not installed: "
            f"apt-get install libportaudio2, or {hint}"
        ) from None
    return sounddevice


FirstBlockHook = Callable[[int, float, float], None]
"""Told, on the audio thread, when a clip's first samples are handed to the device:
the clip's number (``SoundDeviceSpeaker.clips_played`` after its ``play``), the
``time.monotonic()`` of that moment, and PortAudio's estimate of the seconds until they
are heard. It must return at once (it runs inside the audio callback)."""


_NOTHING: npt.NDArray[np.int16] = np.zeros(0, np.int16)
_NOTHING.flags.writeable = False


class SoundDeviceSpeaker:
    """Speaker on one long-lived sounddevice OutputStream fed by a callback."""

    def __init__(
        self,
        device: str | int | None = None,
        rate: int = 16000,
        *,
        block_ms: float = 10.0,
        on_first_block: FirstBlockHook | None = None,
    ) -> None:
        self.rate = rate
        self.device = device
        self.on_first_block = on_first_block
        """Optional instrumentation (benchmarks): see ``FirstBlockHook``."""
        self._lock = threading.Lock()
        self._buffer: npt.NDArray[np.int16] = _NOTHING
        self._pos = 0
        self._clips = 0
        self._closed = False
        self.underruns = 0
        """Callbacks PortAudio flagged as late (the device ran out of samples)."""
        sd = import_sounddevice(_NO_AUDIO_HINT)
        try:
            devices = sd.query_devices()
        except sd.PortAudioError as exc:
            reason = " ".join(str(exc).split())
            raise AudioDeviceUnavailable(
                f"cannot list audio devices ({reason}); {_NO_AUDIO_HINT}"
            ) from None
        if not any(d["max_output_channels"] > 0 for d in devices):
            raise AudioDeviceUnavailable(
                "no audio output device found (no sound card and no sound server such as "
                f"PulseAudio); connect one or start PulseAudio, or {_NO_AUDIO_HINT}"
            )
        # A new clip (and stop()) reaches the device at the next callback, within one block,
        # and PortAudio's "low" latency buffers two blocks. Measured on PulseAudio, 2 cores
        # (benchmarks/prompt_latency.py): 10 ms blocks put a key's prompt p95 ~10 ms after
        # the key and ran 800 s of calls without an underrun; 5 ms blocks halve both, but
        # underran 3 times in 600 s.
        self.blocksize = max(round(rate * block_ms / 1000), 32)
        try:
            self._stream = sd.OutputStream(
                samplerate=rate,
                blocksize=self.blocksize,
                device=device,
                channels=1,
                dtype="int16",
                latency="low",
                callback=self._callback,
            )
            self._stream.start()
        except (ValueError, sd.PortAudioError) as exc:
            what = "default audio output" if device is None else f"audio output {device!r}"
            reason = " ".join(str(exc).split())
            raise AudioDeviceUnavailable(
                f"cannot open {what}: {reason}; check the device name "
                f"(`python -m sounddevice` lists them), or {_NO_AUDIO_HINT}"
            ) from None
        log.debug(
            "output stream open on %r at %d Hz, latency %.3f s",
            device,
            rate,
            self._stream.latency,
        )

    def _callback(
        self, outdata: npt.NDArray[np.int16], frames: int, times: Any, status: Any
    ) -> None:
        # PortAudio's thread: keep it short, never block for long.
        with self._lock:
            start = self._pos
            chunk = self._buffer[start : start + frames]
            self._pos += len(chunk)
            clip = self._clips
        n = len(chunk)
        outdata[:n, 0] = chunk
        outdata[n:] = 0
        if status.output_underflow:
            self.underruns += 1
        hook = self.on_first_block
        if hook is not None and start == 0 and n:
            hook(clip, time.monotonic(), times.outputBufferDacTime - times.currentTime)

    def play(self, clip: AudioClip) -> float:
        """Replace whatever is playing with ``clip``; returns at once with its duration."""
        if self._closed:
            raise RuntimeError("speaker is closed")
        samples = to_rate(clip, self.rate).samples
        with self._lock:
            self._buffer = samples
            self._pos = 0
            self._clips += 1
        return clip.duration

    def stop(self) -> None:
        """Drop the rest of the clip; the callback sends silence from its next block."""
        with self._lock:
            self._buffer = _NOTHING
            self._pos = 0

    @property
    def is_playing(self) -> bool:
        """True while samples of the current clip are still to be handed to the device."""
        with self._lock:
            return self._pos < len(self._buffer)

    @property
    def clips_played(self) -> int:
        """How many clips ``play`` has started: the number of the latest one."""
        return self._clips

    @property
    def latency(self) -> float:
        """Output latency PortAudio reports for the stream, in seconds."""
        return float(self._stream.latency)

    def close(self) -> None:
        """Stop playback and close the stream; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self.stop()
        try:
            self._stream.abort()
            self._stream.close()
        except Exception as exc:  # closing must not mask the caller's own error
            log.debug("closing output stream: %s", exc)

    def __enter__(self) -> SoundDeviceSpeaker:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
