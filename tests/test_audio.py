"""WAV reading/writing, resampling, and the SoundDeviceSpeaker on a PulseAudio null sink."""

from __future__ import annotations

import struct
import subprocess
import sys
import time
import types
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from ivr.audio.wav import (
    AudioClip,
    AudioDeviceUnavailable,
    AudioFileError,
    SoundDeviceSpeaker,
    read_wav,
    to_rate,
    write_wav,
)
from tests.pulse import MonitorRecorder, PulseServer
from tests.pulse import pulse_server as pulse_server  # session fixture, used by name

TONE_HZ = 440.0


def tone(
    seconds: float, rate: int, hz: float = TONE_HZ, amp: float = 0.5
) -> npt.NDArray[np.float64]:
    """A sine in [-1, 1] floats, the source every format below is encoded from."""
    t = np.arange(int(seconds * rate)) / rate
    return amp * np.sin(2 * np.pi * hz * t)


def riff(
    fmt_tag: int, channels: int, rate: int, bits: int, frames: bytes, ext: bool = False
) -> bytes:
    """A WAV file built by hand, so the reader is tested against the spec, not `wave`."""
    align = channels * bits // 8
    fmt = struct.pack(
        "<HHIIHH", 0xFFFE if ext else fmt_tag, channels, rate, rate * align, align, bits
    )
    if ext:
        guid_tail = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        fmt += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", fmt_tag) + guid_tail
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    chunks += b"LIST" + struct.pack("<I", 5) + b"INFO\x00\x00"  # odd chunk + pad byte
    chunks += b"data" + struct.pack("<I", len(frames)) + frames
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def encode(x: npt.NDArray[np.float64], kind: str) -> tuple[int, int, bytes]:
    """(format tag, bits, little-endian bytes) of samples ``x`` (any shape) in ``kind``."""
    if kind == "u8":
        return 1, 8, np.round(x * 127 + 128).astype(np.uint8).tobytes()
    if kind == "s16":
        return 1, 16, np.round(x * 32767).astype("<i2").tobytes()
    if kind == "s24":
        v = np.round(x * 8388607).astype("<i4").reshape(-1, 1).view(np.uint8)
        return 1, 24, v[:, :3].tobytes()
    if kind == "s32":
        return 1, 32, np.round(x * 2147483647).astype("<i4").tobytes()
    if kind == "f32":
        return 3, 32, x.astype("<f4").tobytes()
    if kind == "f64":
        return 3, 64, x.astype("<f8").tobytes()
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["u8", "s16", "s24", "s32", "f32", "f64"])
@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000])
def test_read_wav_formats(tmp_path: Path, kind: str, rate: int) -> None:
    x = tone(0.25, rate)
    tag, bits, frames = encode(x, kind)
    path = tmp_path / f"{kind}.wav"
    path.write_bytes(riff(tag, 1, rate, bits, frames))
    clip = read_wav(path)
    assert clip.rate == rate
    assert clip.samples.dtype == np.int16
    assert clip.duration == pytest.approx(0.25, abs=1 / rate)
    tolerance = 300 if kind == "u8" else 2  # 8-bit has 256 levels
    assert np.abs(clip.samples.astype(int) - np.round(x * 32767)).max() <= tolerance


@pytest.mark.parametrize("kind", ["u8", "s16", "s24", "s32", "f32"])
def test_read_wav_stereo_is_downmixed(tmp_path: Path, kind: str) -> None:
    left, right = tone(0.2, 16000, amp=0.6), tone(0.2, 16000, hz=1000, amp=0.2)
    tag, bits, frames = encode(np.stack([left, right], axis=1), kind)
    path = tmp_path / "stereo.wav"
    path.write_bytes(riff(tag, 2, 16000, bits, frames))
    clip = read_wav(path)
    assert len(clip.samples) == len(left)
    expected = np.round((left + right) / 2 * 32767)
    assert np.abs(clip.samples - expected).max() <= (300 if kind == "u8" else 2)


@pytest.mark.parametrize("tag", [1, 3])
def test_read_wav_extensible_header(tmp_path: Path, tag: int) -> None:
    x = tone(0.1, 48000)
    kind = "s24" if tag == 1 else "f32"
    _, bits, frames = encode(np.stack([x, x], axis=1), kind)
    path = tmp_path / "ext.wav"
    path.write_bytes(riff(tag, 2, 48000, bits, frames, ext=True))
    clip = read_wav(path)
    assert np.abs(clip.samples - np.round(x * 32767)).max() <= 2


def test_read_wav_matches_stdlib_and_sox(tmp_path: Path) -> None:
    """Files written by other tools (stdlib wave, sox) read back the same."""
    x = np.round(tone(0.3, 22050) * 32767).astype(np.int16)
    path = tmp_path / "std.wav"
    write_wav(path, AudioClip(x, 22050))
    assert np.array_equal(read_wav(path).samples, x)
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 22050)
    floaty = tmp_path / "sox-float.wav"
    subprocess.run(
        ["sox", str(path), "-e", "floating-point", "-b", "32", "-c", "2", str(floaty)], check=True
    )
    assert np.abs(read_wav(floaty).samples.astype(int) - x).max() <= 1


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "empty"),
        (b"hello, this is a text file\n", "not a WAV file"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not a WAV file"),
        (b"RIFF\x24\x00\x00\x00WAVE", "corrupt WAV file (no format chunk)"),
        (riff(1, 0, 8000, 16, b"\x00" * 4), "corrupt WAV header (0 channels"),
        (riff(1, 1, 8000, 16, b""), "empty (no audio samples)"),
        (riff(1, 2, 8000, 16, b"\x00\x01"), "empty (no audio samples)"),
        (riff(1, 1, 8000, 16, b"\x00\x01" * 10)[:36], "corrupt WAV file (no data chunk)"),
        (riff(1, 1, 8000, 12, b"\x00" * 30), "corrupt WAV header"),
        (riff(2, 1, 8000, 8, b"\x00" * 30), "unsupported WAV encoding (format tag 0x0002, 8 bits)"),
        (riff(7, 1, 8000, 16, b"\x00" * 30), "unsupported WAV encoding (mu-law, 16 bits)"),
        (riff(6, 1, 8000, 24, b"\x00" * 30), "unsupported WAV encoding (A-law, 24 bits)"),
    ],
)
def test_read_wav_errors_are_one_line(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(AudioFileError) as info:
        read_wav(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: {problem}")


def test_read_wav_missing_and_directory(tmp_path: Path) -> None:
    with pytest.raises(AudioFileError, match=r": no such file$"):
        read_wav(tmp_path / "nope.wav")
    with pytest.raises(AudioFileError, match="is a directory"):
        read_wav(tmp_path)


def test_read_wav_truncated_data_keeps_what_is_there(tmp_path: Path) -> None:
    x = np.round(tone(0.2, 8000) * 32767).astype("<i2")
    data = riff(1, 1, 8000, 16, x.tobytes())
    path = tmp_path / "cut.wav"
    path.write_bytes(data[: len(data) - 101])  # cut mid-sample
    clip = read_wav(path)
    assert np.array_equal(clip.samples, x[: len(clip.samples)])
    assert len(clip.samples) == len(x) - 51


@pytest.mark.parametrize(
    ("src", "dst"), [(22050, 16000), (22050, 8000), (8000, 16000), (48000, 22050)]
)
def test_to_rate_keeps_duration_and_pitch(src: int, dst: int) -> None:
    clip = AudioClip(np.round(tone(1.0, src) * 32767).astype(np.int16), src)
    out = to_rate(clip, dst)
    assert out.rate == dst
    assert out.duration == pytest.approx(clip.duration, abs=1 / dst)
    spectrum = np.abs(np.fft.rfft(out.samples.astype(float)))
    assert np.argmax(spectrum) * dst / len(out.samples) == pytest.approx(TONE_HZ, abs=2)
    assert to_rate(out, dst) is out


def test_audio_clip_rejects_wrong_arrays() -> None:
    with pytest.raises(ValueError, match="int16"):
        AudioClip(np.zeros(10, np.float32), 8000)
    with pytest.raises(ValueError, match="1-D"):
        AudioClip(np.zeros((10, 2), np.int16), 8000)


# --- SoundDeviceSpeaker on a real (virtual) sound card ---------------------------------


@pytest.fixture(scope="module")
def speaker(pulse_server: PulseServer) -> Iterator[SoundDeviceSpeaker]:
    spk = SoundDeviceSpeaker(rate=16000)
    yield spk
    spk.close()


def dominant_hz(samples: npt.NDArray[np.int16], rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * rate / len(samples))


def test_speaker_plays_a_tone(speaker: SoundDeviceSpeaker) -> None:
    clip = AudioClip(np.round(tone(0.4, 22050) * 32767).astype(np.int16), 22050)  # resampled
    with MonitorRecorder() as rec:
        started = time.monotonic()
        assert speaker.play(clip) == pytest.approx(0.4, abs=0.001)
        assert speaker.is_playing
        time.sleep(0.65)
    assert not speaker.is_playing
    loud = rec.loud_times()
    assert loud, "nothing was heard on ivr_spk.monitor"
    assert loud[0] - started < 0.25
    assert loud[-1] - loud[0] == pytest.approx(0.4, abs=0.06)
    heard = rec.samples(loud[0], loud[-1])
    assert dominant_hz(heard, 16000) == pytest.approx(TONE_HZ, abs=5)


def test_speaker_stop_silences_at_once(speaker: SoundDeviceSpeaker) -> None:
    """Barge-in: after stop() the caller hears silence within a few blocks."""
    clip = AudioClip(np.round(tone(3.0, 16000) * 32767).astype(np.int16), 16000)
    with MonitorRecorder() as rec:
        speaker.play(clip)
        time.sleep(0.3)
        stopped = time.monotonic()
        speaker.stop()
        assert not speaker.is_playing
        time.sleep(0.4)
    loud = rec.loud_times()
    assert loud, "nothing was heard on ivr_spk.monitor"
    latency = loud[-1] - stopped  # upper bound: includes parec's own 10 ms latency
    assert latency < 0.15, f"still audible {latency:.3f} s after stop()"
    after = rec.samples(stopped + 0.15)
    assert len(after) > 0.2 * 16000
    assert np.abs(after.astype(int)).max() < 50
    # A new prompt after barge-in plays normally again.
    with MonitorRecorder() as rec:
        speaker.play(AudioClip(np.round(tone(0.2, 16000) * 32767).astype(np.int16), 16000))
        time.sleep(0.35)
    assert rec.loud_times()


def test_speaker_unknown_device_is_a_clear_error(pulse_server: PulseServer) -> None:
    with pytest.raises(AudioDeviceUnavailable) as info:
        SoundDeviceSpeaker(device="no-such-sound-card-ivr")
    message = str(info.value)
    assert "\n" not in message
    assert "'no-such-sound-card-ivr'" in message
    assert "--text" in message


def test_speaker_without_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("sounddevice")
    fake.query_devices = lambda: []  # type: ignore[attr-defined]
    fake.PortAudioError = RuntimeError  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    with pytest.raises(AudioDeviceUnavailable, match=r"no audio output device found.*--text"):
        SoundDeviceSpeaker()


def test_speaker_without_portaudio_library() -> None:
    """libportaudio2 missing: one line naming the package, not sounddevice's traceback."""
    code = (
        "import ctypes.util; ctypes.util.find_library = lambda name: None\n"
        "from ivr.audio.wav import SoundDeviceSpeaker, AudioDeviceUnavailable\n"
        "try:\n    SoundDeviceSpeaker()\n"
        "except AudioDeviceUnavailable as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "install libportaudio2" in out.stdout
    assert out.stdout.count("\n") == 1
