"""WAV files in and out, resampling, and a speaker whose playback stops at once.

Everything inside the simulator is 16-bit mono PCM (``AudioClip``); files of other
widths, float WAVs and stereo are converted on the way in so callers never branch on
format. Playback keeps one PortAudio stream open for the whole session because opening
one costs 1-2 s, and barge-in needs ``stop()`` to silence the line within one block.
"""

from __future__ import annotations

import logging
import struct
import threading
import time
import wave
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import soxr

log = logging.getLogger(__name__)

_PCM = 0x0001
_FLOAT = 0x0003
_EXTENSIBLE = 0xFFFE


class AudioFileError(ValueError):
    """A file is not usable audio; ``str()`` is one line naming the file and the problem."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = " ".join(problem.split())
        super().__init__(f"{path}: {self.problem}")


class AudioDeviceUnavailable(RuntimeError):
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


def read_wav(path: str | Path) -> AudioClip:
    """Read a PCM (8/16/24/32-bit) or float (32/64-bit) WAV file as mono int16.

    The RIFF chunks are parsed here rather than with ``wave`` because ``wave`` rejects
    float and WAVE_FORMAT_EXTENSIBLE files, which sox and many editors write.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise AudioFileError(path, "no such file") from None
    except IsADirectoryError:
        raise AudioFileError(path, "is a directory, not a WAV file") from None
    except OSError as exc:
        raise AudioFileError(path, f"cannot read ({exc.strerror or exc})") from None
    if not data:
        raise AudioFileError(path, "empty")
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioFileError(path, "not a WAV file")

    fmt: bytes | None = None
    pcm: bytes | None = None
    offset = 12
    while offset + 8 <= len(data):
        chunk_id = data[offset : offset + 4]
        (size,) = struct.unpack_from("<I", data, offset + 4)
        body = data[offset + 8 : offset + 8 + size]
        if chunk_id == b"fmt ":
            fmt = body
        elif chunk_id == b"data":
            if len(body) < size:
                # Streaming writers leave the size unset or the file was cut short.
                log.warning("%s: data chunk claims %d bytes, %d present", path, size, len(body))
            pcm = body
            break
        offset += 8 + size + (size & 1)
    if fmt is None or len(fmt) < 16:
        raise AudioFileError(path, "corrupt WAV file (no format chunk)")
    if pcm is None:
        raise AudioFileError(path, "corrupt WAV file (no data chunk)")

    tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == _EXTENSIBLE and len(fmt) >= 26:
        (tag,) = struct.unpack_from("<H", fmt, 24)  # first two bytes of the sub-format GUID
    if channels < 1 or rate < 1 or bits < 8 or bits % 8:
        raise AudioFileError(
            path, f"corrupt WAV header ({channels} channels, {rate} Hz, {bits} bits)"
        )
    if tag == _PCM and bits == 16 and channels == 1:  # what every tool here writes
        mono = np.frombuffer(pcm, "<i2", count=len(pcm) // 2).astype(np.int16)
        if len(mono) == 0:
            raise AudioFileError(path, "empty (no audio samples)")
        return AudioClip(mono, rate)
    samples = _decode(path, pcm, tag, bits, channels)
    if samples.shape[0] == 0:
        raise AudioFileError(path, "empty (no audio samples)")
    return AudioClip(_downmix(samples), rate)


def _decode(path: Path, pcm: bytes, tag: int, bits: int, channels: int) -> npt.NDArray[Any]:
    """Raw frames to a (frames, channels) array of int16-scaled values."""
    width = bits // 8
    frames = len(pcm) // (width * channels)
    raw = pcm[: frames * width * channels]
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
    else:
        kind = {_PCM: "PCM", _FLOAT: "float"}.get(tag, f"format tag {tag:#06x}")
        raise AudioFileError(path, f"unsupported WAV encoding ({kind}, {bits} bits)")
    return out.reshape(frames, channels)


def _downmix(frames: npt.NDArray[Any]) -> npt.NDArray[np.int16]:
    """Average the channels (a telephone line is mono)."""
    mono = frames[:, 0] if frames.shape[1] == 1 else frames.mean(axis=1).round()
    out: npt.NDArray[np.int16] = np.clip(mono, -32768, 32767).astype(np.int16)
    return out


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
