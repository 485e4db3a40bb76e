"""Issue 9, audio: whatever WAV a user gives, ivr reads it right or refuses it in one line.

A header can lie about everything that sizes work (rate, channels, width, data size), so
the reader checks it against ``ivr.limits`` before reading a sample, and reads long audio
in blocks. Property tests build headers field by field, honest and adversarial, and hold
every reader (``read_wav``, ``WavFile.blocks``, ``ivr dtmf``) to one rule: the right audio,
or an AudioFileError of one line; never another exception, a hang, or an allocation sized
by the header. The commands' cases that used to crash run in a child process with a cap on
its address space, so that a broken rule fails the test instead of the test run.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import io
import itertools
import json
import logging
import os
import struct
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import soundfile  # noqa: F401  (G.711's decoder, loaded ahead: its import is not the reader's memory)
from hypothesis import given, settings
from hypothesis import strategies as st

import ivr.audio.wav
from ivr import cli
from ivr.audio.dtmf import affordable_rate, detect, digits, generate
from ivr.audio.phone_line import Line
from ivr.audio.wav import (
    AudioClip,
    AudioFileError,
    WavFile,
    chunks,
    open_wav,
    read_wav,
    resample_blocks,
    to_rate,
    write_wav,
)
from ivr.callers.clips import ClipCaller, SaidClip, load_clips
from ivr.callers.whole_call import WholeCallCaller
from ivr.clock import VirtualClock
from ivr.drivers.session import Session
from ivr.drivers.testing import FakeRecognizer, RecordingPlayer, caller_recording
from ivr.engine.events import CallEvent, EventType
from ivr.engine.flow import CallFlow
from ivr.hearing.recognizer import recognize_clip
from ivr.hearing.tracker import UtteranceTracker
from ivr.limits import CHANNELS_MAX, SAMPLE_RATE_MAX, SAMPLE_RATE_MIN, WAV_SECONDS
from ivr.menu.model import Menu
from ivr.scenarios import Status, run_scenario
from tests.conftest import ROOT

PROPERTY = settings(max_examples=300, deadline=None, derandomize=True)
pytestmark = pytest.mark.usefixtures("one_parser")  # many in-process ivr commands
SMALL_ALLOCATION = 1 << 20
"""Files in the property tests are under 2 kB: reading one must not take a MiB."""


# --- WAV files built field by field ------------------------------------------------------


def chunk(chunk_id: bytes, body: bytes, size: int | None = None) -> bytes:
    """A RIFF chunk, padded to even length; ``size`` overrides (lies about) its size."""
    header = chunk_id + struct.pack("<I", len(body) if size is None else size)
    return header + body + b"\x00" * (len(body) & 1)


def fmt_body(
    tag: int, channels: int, rate: int, bits: int, align: int | None = None, sub: int | None = None
) -> bytes:
    """A format chunk's body; ``sub`` makes it WAVE_FORMAT_EXTENSIBLE with that sub-format."""
    true_align = channels * bits // 8 & 0xFFFF if align is None else align
    body = struct.pack(
        "<HHIIHH", tag, channels, rate, rate * true_align & 0xFFFFFFFF, true_align, bits
    )
    if sub is not None:
        guid_tail = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        body += struct.pack("<HHIH", 22, bits, 0, sub) + guid_tail
    return body


def wav_bytes(fmt: bytes, data: bytes, data_size: int | None = None, before: bytes = b"") -> bytes:
    chunks_ = before + chunk(b"fmt ", fmt) + chunk(b"data", data, data_size)
    return b"RIFF" + struct.pack("<I", 4 + len(chunks_)) + b"WAVE" + chunks_


def one_line(error: AudioFileError, path: Path) -> str:
    message = str(error)
    assert "\n" not in message and "\r" not in message
    assert message.startswith(f"{path}: ")
    return message


@pytest.fixture(autouse=True)
def _quiet_warnings(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, "ivr.audio.wav")  # short data chunks are warned about


# --- the issue's examples -----------------------------------------------------------------

CHILD = r"""
import contextlib, io, json, os, resource, sys, tracemalloc
import ivr.cli, ivr.audio.dtmf, ivr.callers.whole_call, ivr.callers.clips, ivr.hearing.recognizer, ivr.hearing.models, ivr.prompts.tts
import ivr.outputs.console, ivr.engine.flow, ivr.engine.matching, ivr.outputs.artifacts
import yaml, jsonschema, transitions, rich.console, ivr.wiring, ivr.menu.check, ivr.drivers.session, ivr.audio.phone_line, ivr.scenarios  # what commands import lazily
from ivr.audio.wav import AudioFileError, read_wav
size = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmSize"))
cap = size * 1024 + int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
results = []
for job in json.loads(sys.argv[2]):
    out, err = io.StringIO(), io.StringIO()
    tracemalloc.start()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        if job[0] == "read_wav":
            try:
                read_wav(job[1])
                code = 0
            except AudioFileError as error:
                print(error, file=sys.stderr)
                code = 1
        else:
            code = ivr.cli.main(job)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    results.append([code, out.getvalue(), err.getvalue(), peak])
print(json.dumps(results))
"""


def in_child(jobs: list[list[str]], headroom: int) -> list[tuple[int, str, str, int]]:
    """Run ``ivr`` commands (or ``["read_wav", path]``) in one child whose address space
    may grow ``headroom`` bytes past what its imports take: what crashed or hung before now
    fails here. Returns (exit code, stdout, stderr, tracemalloc peak) per job."""
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(headroom), json.dumps(jobs)],
        capture_output=True,
        text=True,
        timeout=120,  # guards against a hang (a FIFO opened for reading); not a speed test
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return [tuple(r) for r in json.loads(result.stdout.splitlines()[-1])]


def lying_rate_file(path: Path, rate: int) -> Path:
    """The issue's file: 320 kB of 16-bit mono samples under a header that says ``rate``."""
    path.write_bytes(wav_bytes(fmt_body(1, 1, rate, 16), b"\x10\x00" * 160_000))
    return path


ISSUE_COMMANDS = {
    "read_wav": ["read_wav"],
    "dtmf": ["dtmf"],
    "run-recording": ["run-recording"],
    "transcribe": ["transcribe"],
    "call --audio": ["call", "--audio"],
    "dtmf --line": ["dtmf", "--line", "alaw"],
}
NOT_FILES_COMMANDS = ["read_wav", "dtmf", "call --audio"]
Run = tuple[int, str, str, int]


@pytest.fixture(scope="module")
def issue_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Run]:
    """Every command on the issue's files, a FIFO and devices, and ``ivr test`` on a folder
    with one lying recording: in one child with 512 MiB of headroom (one start-up)."""
    folder = tmp_path_factory.mktemp("issue")
    files = {
        "1 Hz": lying_rate_file(folder / "one_hz.wav", 1),
        "0xFFFFFFFF Hz": lying_rate_file(folder / "max_hz.wav", 0xFFFFFFFF),
        "FIFO": folder / "pipe.wav",
        "/dev/zero": Path("/dev/zero"),
        "/dev/null": Path("/dev/null"),
    }
    os.mkfifo(files["FIFO"])
    jobs = {
        (name, command): [*argv, str(path)]
        for name, path in files.items()
        for command, argv in ISSUE_COMMANDS.items()
        if "Hz" in name or command in NOT_FILES_COMMANDS
    }
    scenarios = folder / "scenarios"
    scenarios.mkdir()
    lying_rate_file(scenarios / "caller.wav", 1)
    menu = ROOT / "menus" / "wallet.zh-CN.yaml"
    (scenarios / "bad.call.yaml").write_text(
        f"name: lying header\nmenu: {menu}\nrecording: caller.wav\nexpect:\n  states: []\n",
        encoding="utf-8",
    )
    write_wav(scenarios / "keys.wav", caller_recording(12, {2.0: "1"}, {}))
    (scenarios / "good.call.yaml").write_text(
        f"name: keys\nmenu: {menu}\nrecording: keys.wav\nexpect:\n  states: [account]\n",
        encoding="utf-8",
    )
    jobs["scenarios", "test"] = ["test", str(scenarios), "--junit", str(folder / "junit.xml")]
    results = in_child(list(jobs.values()), headroom=512 << 20)
    return dict(zip(jobs, results, strict=True))


@pytest.mark.parametrize("rate", ["1 Hz", "0xFFFFFFFF Hz"])
@pytest.mark.parametrize("command", list(ISSUE_COMMANDS))
def test_the_issues_lying_rates_are_one_line_in_every_command(
    issue_runs: dict[tuple[str, str], Run], rate: str, command: str
) -> None:
    """1 Hz made soxr eat ~5 GB and segfault (call --audio, run-recording, transcribe,
    test), and dtmf ask for 9.5 GiB; 0xFFFFFFFF Hz asked for 307 GiB. Now each command
    says so in one line, exit code 1, after allocating almost nothing."""
    code, _, err, peak = issue_runs[rate, command]
    assert code == 1, err
    [line] = err.splitlines()
    hz = "1" if rate == "1 Hz" else str(0xFFFFFFFF)
    assert line.endswith(f".wav: sample rate {hz} Hz: outside the limits of 4000-192000 Hz")
    # what a call loads first (the menu, ~5 MiB); no samples, nothing sized by the header
    assert peak < 16 << 20


def test_the_issues_scenario_with_a_lying_recording_fails_alone(
    issue_runs: dict[tuple[str, str], Run], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """One such recording in ``ivr test`` killed the whole run; now it is that scenario's
    error and the other scenarios still run."""
    code, out, err, _ = issue_runs["scenarios", "test"]
    assert code == 1, out + err
    assert "1 passed, 0 failed, 1 errors" in out, out
    junit = (tmp_path_factory.getbasetemp() / "issue0" / "junit.xml").read_text()
    assert "caller.wav: sample rate 1 Hz: outside the limits of 4000-192000 Hz" in junit


@pytest.mark.parametrize("what", ["FIFO", "/dev/zero", "/dev/null"])
@pytest.mark.parametrize("command", NOT_FILES_COMMANDS)
def test_fifos_and_devices_are_refused_without_waiting(
    issue_runs: dict[tuple[str, str], Run], what: str, command: str
) -> None:
    """Opening a FIFO nobody writes to used to block forever, and /dev/zero to be read
    until memory ran out."""
    code, _, err, _ = issue_runs[what, command]
    assert code == 1, err
    [line] = err.splitlines()
    kind = "a pipe" if what == "FIFO" else "a device"
    assert line.endswith(f": is {kind}, not a WAV file (give a file)")


def sparse_wav(path: Path, rate: int, channels: int, bits: int, seconds: float) -> Path:
    """A WAV of ``seconds`` of digital silence that takes no disk space (a sparse file)."""
    align = channels * bits // 8
    data = round(rate * seconds) * align
    with path.open("wb") as f:
        f.write(wav_bytes(fmt_body(1, channels, rate, bits), b"", data_size=data))
        f.truncate(44 + data)
    return path


@pytest.fixture(scope="module")
def long_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Run]]:
    """The long files' commands, in one child with 96 MiB of headroom (one start-up, 0.9
    CPU-s, for the two tests below): ``ivr dtmf`` on two hours of 8 kHz, and ``dtmf
    --line`` and ``run-recording --line --snr`` on twenty minutes of it."""
    folder = tmp_path_factory.mktemp("long")
    two_hours = sparse_wav(folder / "two_hours.wav", 8000, 1, 16, 2 * 3600)
    twenty = sparse_wav(folder / "twenty_minutes.wav", 8000, 1, 16, 20 * 60)
    jobs = {
        "dtmf": (two_hours, ["dtmf", str(two_hours)]),
        "dtmf --line": (twenty, ["dtmf", "--line", "ulaw", str(twenty)]),
        "run-recording --line --snr": (
            twenty,
            ["run-recording", "--line", "ulaw", "--snr", "20", "--quiet", str(twenty)],
        ),
    }
    results = in_child([argv for _, argv in jobs.values()], headroom=96 << 20)
    return {
        name: (wav, result) for (name, (wav, _)), result in zip(jobs.items(), results, strict=True)
    }


def test_a_two_hour_file_is_read_in_flat_memory(
    long_runs: dict[str, tuple[Path, Run]],
) -> None:
    """``ivr dtmf`` on two hours of 8 kHz audio (115 MB) within 96 MiB of address space
    beyond the imports; reading it whole took 2.3 times the file."""
    wav, (code, out, err, peak) = long_runs["dtmf"]
    assert (code, out, err) == (0, "", f"ivr dtmf: no DTMF digit found in {wav}\n")
    assert peak < 32 << 20


def test_opening_a_long_file_reads_only_its_header(tmp_path: Path) -> None:
    wav = sparse_wav(tmp_path / "long.wav", 48000, 2, 16, 2 * 3600)  # 1.4 GB
    tracemalloc.start()
    opened = open_wav(wav)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert opened.duration == 7200 and opened.rate == 48000
    assert peak < 64 << 10


def test_wav_seconds_is_the_longest_file(tmp_path: Path) -> None:
    at_limit = sparse_wav(tmp_path / "four_hours.wav", 4000, 1, 8, WAV_SECONDS)
    assert open_wav(at_limit).duration == WAV_SECONDS
    over = sparse_wav(tmp_path / "longer.wav", 4000, 1, 8, WAV_SECONDS + 1)
    with pytest.raises(AudioFileError) as info:
        open_wav(over)
    assert one_line(info.value, over).endswith(
        "14401 s of audio: over the limit of 14400 s (4 hours)"
    )


# --- every header field at and past its limit ---------------------------------------------


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"rate": 0}, "corrupt WAV header (1 channels, 0 Hz, 16 bits)"),
        ({"rate": 1}, "sample rate 1 Hz: outside the limits of 4000-192000 Hz"),
        ({"rate": SAMPLE_RATE_MIN - 1}, "sample rate 3999 Hz: outside the limits"),
        ({"rate": SAMPLE_RATE_MAX + 1}, "sample rate 192001 Hz: outside the limits"),
        ({"rate": 0xFFFFFFFF}, "sample rate 4294967295 Hz: outside the limits"),
        ({"channels": 0}, "corrupt WAV header (0 channels"),
        ({"channels": CHANNELS_MAX + 1}, "9 channels: over the limit of 8"),
        ({"channels": 65535}, "65535 channels: over the limit of 8"),
        ({"bits": 0}, "corrupt WAV header (1 channels, 8000 Hz, 0 bits)"),
        ({"bits": 7}, "corrupt WAV header (1 channels, 8000 Hz, 7 bits)"),
        ({"bits": 12}, "corrupt WAV header (1 channels, 8000 Hz, 12 bits)"),
        ({"bits": 64}, "unsupported WAV encoding (PCM, 64 bits)"),
        ({"tag": 3, "bits": 16}, "unsupported WAV encoding (float, 16 bits)"),
        ({"align": 4}, "corrupt WAV header (block align 4, but a frame of 1 channels of 16"),
        ({"align": 0}, "corrupt WAV header (block align 0"),
    ],
)
def test_a_header_field_past_its_limit_is_named(
    tmp_path: Path, fields: dict[str, int], problem: str
) -> None:
    header = {"tag": 1, "channels": 1, "rate": 8000, "bits": 16} | fields
    path = tmp_path / "bad.wav"
    path.write_bytes(wav_bytes(fmt_body(**header), b"\x00\x01" * 400))
    with pytest.raises(AudioFileError) as info:
        read_wav(path)
    assert one_line(info.value, path).startswith(f"{path}: {problem}")


@pytest.mark.parametrize("channels", [1, CHANNELS_MAX])
@pytest.mark.parametrize("rate", [SAMPLE_RATE_MIN, SAMPLE_RATE_MAX])
def test_limits_themselves_are_accepted(tmp_path: Path, channels: int, rate: int) -> None:
    path = tmp_path / "edge.wav"
    path.write_bytes(wav_bytes(fmt_body(1, channels, rate, 16), b"\x00\x01" * channels * 10))
    clip = read_wav(path)
    assert (clip.rate, len(clip.samples)) == (rate, 10)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"RF64" + b"\xff" * 4 + b"WAVE", "RF64 WAV files (over 4 GiB) are not supported"),
        (b"RIFX" + b"\x00" * 4 + b"WAVE", "big-endian WAV files (RIFX) are not supported"),
        (b"RIFF\x00\x00", "not a WAV file"),
        (
            b"RIFF\x00\x00\x00\x00WAVE" + chunk(b"JUNK", b"") * 1001,
            "corrupt WAV file (more than 1000 chunks before the audio)",
        ),
        (
            wav_bytes(fmt_body(1, 1, 8000, 16)[:14], b"\x00" * 8),
            "corrupt WAV file (no format chunk)",
        ),
        (
            b"RIFF\x00\x00\x00\x00WAVE" + chunk(b"data", b"\x00" * 8) + chunk(b"fmt ", b"x" * 16),
            "corrupt WAV file (no format chunk)",
        ),
        (wav_bytes(fmt_body(1, 1, 8000, 16), b"\x00", data_size=1), "empty (no audio samples)"),
        (
            b"RIFF\x00\x00\x00\x00WAVE" + chunk(b"fmt ", fmt_body(1, 1, 8000, 16), 0xFFFFFFF0),
            "corrupt WAV file (no data chunk)",
        ),
    ],
)
def test_broken_structure_is_one_line(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "broken.wav"
    path.write_bytes(content)
    with pytest.raises(AudioFileError) as info:
        read_wav(path)
    assert one_line(info.value, path) == f"{path}: {problem}"


def test_a_data_size_larger_than_the_file_keeps_what_is_there(tmp_path: Path) -> None:
    """Streaming writers leave 0xFFFFFFFF there: the samples present are read, no more."""
    samples = np.arange(-300, 300, dtype="<i2")
    path = tmp_path / "unsized.wav"
    path.write_bytes(wav_bytes(fmt_body(1, 1, 8000, 16), samples.tobytes(), 0xFFFFFFFF))
    assert open_wav(path).frames == 600
    assert np.array_equal(read_wav(path).samples, samples)


def test_files_that_are_not_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(AudioFileError, match=r": is a directory, not a WAV file$"):
        read_wav(tmp_path)
    with pytest.raises(AudioFileError, match=r": no such file$"):
        open_wav(tmp_path / "missing.wav")
    with pytest.raises(AudioFileError, match=r": cannot read \(Not a directory\)$"):
        read_wav(Path(__file__) / "x.wav")
    strange = tmp_path / "two\nlines\x1b[31m.wav"
    with pytest.raises(AudioFileError) as info:
        read_wav(strange)
    assert str(info.value) == f"{tmp_path}/two\\nlines\\x1b[31m.wav: no such file"

    def denied(*_: object, **__: object) -> int:  # root reads anything, so chmod cannot show it
        raise PermissionError(13, "Permission denied")

    path = tmp_path / "locked.wav"
    path.write_bytes(wav_bytes(fmt_body(1, 1, 8000, 16), b"\x00" * 8))
    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(AudioFileError) as info:
        read_wav(path)
    assert one_line(info.value, path) == f"{path}: cannot read (Permission denied)"


# --- property tests -------------------------------------------------------------------------


@dataclass
class Built:
    """A generated file and what a correct reader must make of it."""

    content: bytes
    honest: bool
    """Every chunk size tells the truth and the file is whole, so ``expected`` applies."""
    expected: list[int] | None = None
    """The mono samples, or None when the file must be refused."""
    rate: int = 0
    tag: int = 0
    """The encoding's tag (the sub-format's, in WAVE_FORMAT_EXTENSIBLE)."""
    problem: str = ""
    """A word the refusal must contain."""
    notes: list[str] = field(default_factory=list)


RATES = [0, 1, 3999, 4000, 8000, 11025, 16000, 44100, 48000, 192000, 192001, 0xFFFFFFFF]
CHANNELS = [0, 1, 2, 3, 8, 9, 65535]
BITS = [0, 7, 8, 12, 16, 24, 32, 64]


def reference_decode(tag: int, bits: int, channels: int, frames: bytes) -> list[int]:
    """The spec's sample values, one at a time in plain Python: the oracle for the reader."""
    width = bits // 8
    values: list[float] = []
    for at in range(0, len(frames), width):
        raw = frames[at : at + width]
        if tag == 1 and bits == 8:
            values.append((raw[0] - 128) * 256)
        elif tag in (6, 7):
            values.append(g711_reference(tag, raw[0]))
        elif tag == 1:
            values.append(int.from_bytes(raw, "little", signed=True) >> (bits - 16))
        else:
            (x,) = struct.unpack("<f" if bits == 32 else "<d", raw)
            x = 0.0 if x != x else max(-1.0, min(1.0, x))
            values.append(round(x * 32767.0))
    mono = []
    for at in range(0, len(values), channels):
        frame = values[at : at + channels]
        mean = frame[0] if channels == 1 else round(sum(frame) / channels)
        mono.append(max(-32768, min(32767, int(mean))))
    return mono


def g711_reference(tag: int, code: int) -> int:
    """One G.711 code (tag 6: A-law, 7: mu-law) as ITU-T G.711's tables give it, scaled to
    16 bits: mu-law's 14-bit and A-law's 13-bit decision values' midpoints."""
    if tag == 7:
        u = ~code & 0xFF
        exponent, mantissa = (u >> 4) & 7, u & 0xF
        magnitude = ((2 * mantissa + 33) << exponent) - 33  # 14-bit
        return 4 * (-magnitude if u & 0x80 else magnitude)
    a = code ^ 0x55
    exponent, mantissa = (a >> 4) & 7, a & 0xF
    magnitude = 2 * mantissa + 1 if exponent == 0 else (2 * mantissa + 33) << (exponent - 1)
    return 8 * (magnitude if a & 0x80 else -magnitude)  # 13-bit; the sign bit set is positive


TAGS = st.sampled_from([1, 1, 3, 6, 7, 0xFFFE])
SUBS = st.sampled_from([1, 3, 6, 7])
WIDTHS = st.sampled_from(BITS)


@functools.cache
def or_any(values: st.SearchStrategy[int], top: int) -> st.SearchStrategy[int]:
    """``values``, or any integer up to ``top``: one strategy, not one per draw."""
    return values | st.integers(0, top)


# What ``wav_files`` draws from besides what it drew before, built once here, not at each
# draw; the same strategies draw the same files.
ANY_CHANNELS = or_any(st.sampled_from(CHANNELS), 0xFFFF)
ANY_RATE = or_any(st.sampled_from(RATES), 0xFFFFFFFF)
LIES = st.sampled_from(["none", "none", "more", "unset", "zero", "any"])
JUNK = st.lists(st.tuples(st.binary(min_size=4, max_size=4), st.binary(max_size=9)))
LAYOUTS = st.sampled_from(["normal"] * 8 + ["data first", "no fmt", "no data"])


@st.composite
def wav_files(
    draw: st.DrawFn,
    tags: st.SearchStrategy[int] = TAGS,
    subs: st.SearchStrategy[int] = SUBS,
    widths: st.SearchStrategy[int] = WIDTHS,
) -> Built:
    """A WAV file with every header field drawn from honest values, the limits' edges and
    anything at all; extra chunks (odd sizes, lying sizes), data sizes that lie, fields
    out of order, and truncation. ``tags``, ``subs`` and ``widths`` are the format tags, the
    WAVE_FORMAT_EXTENSIBLE sub-formats and the bits per sample drawn besides any 16-bit
    value."""
    tag = draw(or_any(tags, 0xFFFF))
    sub = draw(or_any(subs, 0xFFFF)) if tag == 0xFFFE else None
    channels = draw(ANY_CHANNELS)
    rate = draw(ANY_RATE)
    bits = draw(or_any(widths, 0xFFFF))
    true_align = channels * bits // 8
    align = draw(st.sampled_from([true_align & 0xFFFF]) | st.integers(0, 0xFFFF))
    body = draw(st.binary(max_size=600))
    lie = draw(LIES)
    data_size = {
        "none": None,
        "more": len(body) + 1 + draw(st.integers(0, 1000)),
        "unset": 0xFFFFFFFF,
        "zero": 0,
        "any": draw(st.integers(0, 0xFFFFFFFF)),
    }[lie]
    junk = draw(JUNK)
    junk = [(cid, b) for cid, b in junk if cid not in (b"fmt ", b"data")]
    junk_lies = draw(st.booleans()) and bool(junk)
    before = b"".join(
        chunk(cid, b, draw(st.integers(0, 0xFFFFFFFF)) if junk_lies and i == 0 else None)
        for i, (cid, b) in enumerate(junk)
    )
    fmt = fmt_body(tag, channels, rate, bits, align, sub)
    short_fmt = draw(st.integers(0, 40)) if draw(st.integers(0, 9)) == 0 else None
    if short_fmt is not None:
        fmt = fmt[:short_fmt]
    layout = draw(LAYOUTS)
    fmt_chunk, data_chunk = chunk(b"fmt ", fmt), chunk(b"data", body, data_size)
    parts = {
        "normal": [fmt_chunk, data_chunk],
        "data first": [data_chunk, fmt_chunk],
        "no fmt": [data_chunk],
        "no data": [fmt_chunk],
    }[layout]
    riff = before + b"".join(parts)
    content = b"RIFF" + struct.pack("<I", 4 + len(riff)) + b"WAVE" + riff
    cut = draw(st.none() | st.integers(0, len(content)))
    built = Built(content if cut is None else content[:cut], honest=cut is None and not junk_lies)
    built.notes = [f"lie={lie}", f"layout={layout}", f"cut={cut}", f"junk_lies={junk_lies}"]

    # What the format says, and whether the reader must accept it (in the order it checks).
    effective = sub if tag == 0xFFFE and len(fmt) >= 26 and sub is not None else tag
    frame = channels * bits // 8
    data_at = 12 + len(before) + len(fmt_chunk) + 8
    present = min(len(body) if data_size is None else data_size, len(content) - data_at)
    built.rate = rate
    built.tag = effective
    if layout != "normal" or len(fmt) < 16:
        built.problem = "corrupt WAV file"
    elif channels < 1 or rate < 1 or bits < 8 or bits % 8:
        built.problem = "corrupt WAV header"
    elif not (
        (effective == 1 and bits in (8, 16, 24, 32))
        or (effective == 3 and bits in (32, 64))
        or (effective in (6, 7) and bits == 8)
    ):
        built.problem = "unsupported WAV encoding"
    elif channels > CHANNELS_MAX:
        built.problem = "over the limit of 8"
    elif not SAMPLE_RATE_MIN <= rate <= SAMPLE_RATE_MAX:
        built.problem = "outside the limits of 4000-192000 Hz"
    elif align != frame:
        built.problem = "block align"
    elif present // frame == 0:
        built.problem = "empty"
    else:
        frames = content[data_at : data_at + present // frame * frame]
        built.expected = reference_decode(effective, bits, channels, frames)
    return built


@contextlib.contextmanager
def allocation_peak() -> Iterator[list[int]]:
    """The peak of memory allocated (numpy's too) inside the block, in the list's item."""
    peak = [0]
    tracemalloc.start()
    try:
        yield peak
    finally:
        peak[0] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("wav") / "generated.wav"


@PROPERTY
@given(built=wav_files())
def test_read_wav_gives_the_right_audio_or_one_line(built: Built, scratch: Path) -> None:
    scratch.write_bytes(built.content)
    clip: AudioClip | None = None
    with allocation_peak() as peak:
        try:
            clip = read_wav(scratch)
        except AudioFileError as error:
            message = one_line(error, scratch)
    assert peak[0] < SMALL_ALLOCATION
    if built.honest:
        if built.expected is None:
            assert clip is None, built.notes
            assert built.problem in message, (message, built.notes)
        else:
            assert clip is not None, (message, built.notes)
            assert clip.rate == built.rate
            assert clip.samples.tolist() == built.expected
    elif clip is not None:  # a cut or a lying chunk never gives audio the header did not
        assert SAMPLE_RATE_MIN <= clip.rate <= SAMPLE_RATE_MAX
        assert 0 < len(clip.samples) <= len(built.content)


@PROPERTY
@given(built=wav_files(), block=st.integers(1, 300), rate=st.sampled_from([8000, 16000, 44100]))
def test_the_block_reader_agrees_with_read_wav(
    built: Built, block: int, rate: int, scratch: Path
) -> None:
    """Blocks of any size join up to the whole clip; at another rate their samples do not
    depend on the block size and are within 1 LSB of resampling the whole clip."""
    scratch.write_bytes(built.content)
    try:
        whole = read_wav(scratch)
    except AudioFileError as error:
        with pytest.raises(AudioFileError) as again:
            open_wav(scratch)
        assert str(again.value) == str(error)
        return
    wav = open_wav(scratch)
    with allocation_peak() as peak:
        native = [b.samples for b in wav.blocks(block_frames=block)]
        resampled = [b.samples for b in wav.blocks(rate, block_frames=block)]
    assert peak[0] < SMALL_ALLOCATION
    assert all(0 < len(b) <= block for b in native)
    assert np.concatenate(native).tolist() == whole.samples.tolist()
    joined = np.concatenate(resampled) if resampled else np.zeros(0, np.int16)
    in_one = np.concatenate([b.samples for b in wav.blocks(rate, block_frames=1 << 20)] or [joined])
    assert joined.tolist() == in_one.tolist()
    reference = to_rate(whole, rate).samples
    assert len(joined) == len(reference)
    assert np.abs(joined.astype(int) - reference).max(initial=0) <= 1


@settings(max_examples=100, deadline=None, derandomize=True)
@given(built=wav_files())
def test_ivr_dtmf_prints_digits_or_one_line(built: Built, scratch: Path) -> None:
    scratch.write_bytes(built.content)
    out, err = io.StringIO(), io.StringIO()
    with (
        allocation_peak() as peak,
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        code = cli.main(["dtmf", str(scratch)])
    assert peak[0] < 48 << 20  # the receiver's resampler for an odd rate (see affordable_rate)
    if code == 0:
        no_digit = f"ivr dtmf: no DTMF digit found in {scratch}\n"
        assert err.getvalue() in ("", no_digit)
        assert err.getvalue() == "" or out.getvalue() == ""
        assert built.expected is not None or not built.honest
    else:
        assert code == 1
        lines = err.getvalue().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"ivr dtmf: {scratch}: "), lines
        assert built.expected is None or not built.honest


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    lengths=st.lists(st.integers(0, 50), max_size=12),
    size=st.integers(1, 40),
)
def test_chunks_cut_a_stream_as_slicing_its_whole_would(lengths: list[int], size: int) -> None:
    start = np.cumsum([0, *lengths])
    blocks = [
        AudioClip(np.arange(a, b, dtype=np.int16), 8000) for a, b in itertools.pairwise(start)
    ]
    whole = np.arange(int(start[-1]), dtype=np.int16)
    expected = [whole[i : i + size].tolist() for i in range(0, len(whole), size)]
    assert [c.tolist() for c in chunks(blocks, size)] == expected


# --- streamed audio gives what the whole clip gave --------------------------------------


@pytest.mark.parametrize(("rate", "kind"), [(8000, "s16"), (44100, "f32"), (48000, "stereo")])
def test_dtmf_of_a_file_streamed_equals_the_whole_clip(
    tmp_path: Path, rate: int, kind: str
) -> None:
    keys = generate("159#*0", rate=rate, tone_ms=50, gap_ms=50)
    x = keys.samples.astype(np.float64) / 32768
    if kind == "stereo":
        frames = np.round(np.stack([x, x], 1) * 32767).astype("<i2").tobytes()
        content = wav_bytes(fmt_body(1, 2, rate, 16), frames)
    elif kind == "f32":
        content = wav_bytes(fmt_body(3, 1, rate, 32), x.astype("<f4").tobytes())
    else:
        content = wav_bytes(fmt_body(1, 1, rate, 16), keys.samples.astype("<i2").tobytes())
    path = tmp_path / "keys.wav"
    path.write_bytes(content)
    assert detect(open_wav(path)) == detect(read_wav(path))
    assert digits(open_wav(path)) == "159#*0"


def test_an_odd_rate_reaches_the_receiver_through_8khz(tmp_path: Path) -> None:
    """44101 Hz would need an exact resampler of 8000 phases; soxr takes it to 8 kHz."""
    assert not affordable_rate(44101) and affordable_rate(44100) and affordable_rate(8001)
    path = tmp_path / "odd.wav"
    write_wav(path, AudioClip(to_rate(generate("73#", rate=44100), 44101).samples, 44101))
    with allocation_peak() as peak:
        assert digits(open_wav(path)) == "73#"
    assert peak[0] < 16 << 20


def replay(menu: Menu, audio: AudioClip | WavFile) -> list[tuple[float, CallEvent]]:
    clock = VirtualClock()
    events: list[tuple[float, CallEvent]] = []
    Session(
        CallFlow(menu), WholeCallCaller(audio, clock), RecordingPlayer(clock), clock,
        [lambda event, moment: events.append((moment, event))],
    ).run()  # fmt: skip
    return events


def test_a_recording_streamed_from_its_file_is_the_same_call(wallet: Menu, tmp_path: Path) -> None:
    clip = caller_recording(30, {2.0: "1", 4.0: "2", 6.0: "1", 20.0: "0"}, {})
    write_wav(tmp_path / "call.wav", clip)
    write_wav(tmp_path / "call8k.wav", to_rate(clip, 8000))
    assert replay(wallet, open_wav(tmp_path / "call.wav")) == replay(wallet, clip)
    events = replay(wallet, open_wav(tmp_path / "call8k.wav"))
    keys = [e.key for _, e in events if e.type is EventType.KEY]
    assert keys == ["1", "2", "1", "0"]


def speak(menu: Menu, recordings: list[SaidClip]) -> list[tuple[float, CallEvent]]:
    clock = VirtualClock()
    events: list[tuple[float, CallEvent]] = []
    tracker = UtteranceTracker(FakeRecognizer([("找回 密码", 0.95)]))
    Session(
        CallFlow(menu), ClipCaller(recordings, tracker, clock),
        RecordingPlayer(clock, lambda text: 2.0), clock,
        [lambda event, moment: events.append((moment, event))],
    ).run()  # fmt: skip
    return events


def test_an_utterance_file_is_said_as_it_is_read(wallet: Menu, tmp_path: Path) -> None:
    """``call --audio`` reads an utterance as it is said, like a test tool playing a file
    into a call: the same call as the clip in memory, and a two-hour file (230 MB at
    16 kHz) costs no more than the seconds the hotline listens to."""
    t = np.arange(16000) / 16000
    speech = np.concatenate([np.zeros(3200), 8000 * np.sin(2 * np.pi * 300 * t)])
    write_wav(tmp_path / "said.wav", AudioClip(speech.astype(np.int16), 16000))
    [loaded] = load_clips([str(tmp_path / "said.wav")])
    assert isinstance(loaded.clip, WavFile)
    clip = AudioClip(speech.astype(np.int16), 16000)
    assert speak(wallet, [loaded]) == speak(wallet, [SaidClip(clip)])

    long = sparse_wav(tmp_path / "long.wav", 16000, 1, 16, 2 * 3600)
    with allocation_peak() as peak:
        events = speak(wallet, load_clips([str(long)]))
    assert events[-1][1].type is EventType.CALL_END
    assert peak[0] < 16 << 20


def test_transcribe_streams_its_file(tmp_path: Path) -> None:
    t = np.arange(8000) / 8000
    burst = np.concatenate([np.zeros(4000), 8000 * np.sin(2 * np.pi * 300 * t), np.zeros(9000)])
    clip = AudioClip(burst.astype(np.int16), 8000)
    write_wav(tmp_path / "burst.wav", clip)
    heard = recognize_clip(FakeRecognizer([("是", 0.9)]), open_wav(tmp_path / "burst.wav"))
    assert [(round(t, 2), r.text) for t, r in heard] == [(2.0, "是")]
    assert recognize_clip(FakeRecognizer([("是", 0.9)]), clip) == heard


def test_a_file_cut_short_while_read_is_one_line(tmp_path: Path) -> None:
    """A file truncated after its header was checked used to be read short with a warning
    (and a call on it went on as if the caller had stopped): now it is an error, as a file
    replaced is."""
    path = tmp_path / "shrinks.wav"
    path.write_bytes(wav_bytes(fmt_body(1, 1, 8000, 16), np.arange(1000, dtype="<i2").tobytes()))
    wav = open_wav(path)
    with path.open("r+b") as f:
        f.truncate(44 + 2 * 600 + 1)
    with pytest.raises(AudioFileError) as info:
        wav.read()
    assert one_line(info.value, path).endswith(
        ": cut short while being read: 400 frames fewer than when it was opened"
    )
    blocks = wav.blocks(block_frames=500)
    assert next(blocks).samples.tolist() == list(range(500))  # what is there comes first
    with pytest.raises(AudioFileError, match="cut short while being read: 400 frames"):
        next(blocks)


def test_an_io_error_while_reading_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EIO from the disk in the middle of a file (the first block read, the second not)."""
    path = tmp_path / "bad_sector.wav"
    path.write_bytes(wav_bytes(fmt_body(1, 1, 8000, 16), np.arange(1000, dtype="<i2").tobytes()))
    wav = open_wav(path)
    fail_reads_after(monkeypatch, path, 1000)
    blocks = wav.blocks(block_frames=500)
    assert len(next(blocks).samples) == 500
    with pytest.raises(AudioFileError) as info:
        next(blocks)
    assert one_line(info.value, path) == f"{path}: cannot read (Input/output error)"


def fail_reads_after(monkeypatch: pytest.MonkeyPatch, path: Path, good_bytes: int) -> None:
    """``os.read`` of ``path`` fails with EIO once ``good_bytes`` of it were read (counted
    from the samples on: header reads do not go through ``os.read``)."""
    real_read = os.read
    done = [0]

    def read(fd: int, count: int) -> bytes:
        if os.path.realpath(f"/proc/self/fd/{fd}") != str(path.resolve()):
            return real_read(fd, count)
        if done[0] >= good_bytes:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        data = real_read(fd, min(count, good_bytes - done[0]))
        done[0] += len(data)
        return data

    monkeypatch.setattr(os, "read", read)


def test_a_file_replaced_after_opening_is_not_read_with_the_old_header(tmp_path: Path) -> None:
    path = tmp_path / "replaced.wav"
    path.write_bytes(wav_bytes(fmt_body(1, 1, 8000, 16), b"\x00\x01" * 100))
    wav = open_wav(path)
    other = tmp_path / "other.wav"
    other.write_bytes(wav_bytes(fmt_body(1, 8, 8000, 32), b"\x00\x01" * 800))
    other.replace(path)  # as editors and caches save: a new file renamed over the old
    with pytest.raises(AudioFileError) as info:
        list(wav.blocks())
    assert one_line(info.value, path).endswith(": replaced by another file since it was opened")


def test_resample_blocks_passes_a_stream_at_its_rate_through() -> None:
    clips = [AudioClip(np.arange(5, dtype=np.int16), 8000)] * 3
    assert list(resample_blocks(clips, 8000)) == clips


# --- a phone line streams too -------------------------------------------------------------


def test_a_long_file_crosses_the_line_in_flat_memory(
    long_runs: dict[str, tuple[Path, Run]],
) -> None:
    """``--line`` used to degrade the whole file at once: ``ivr dtmf --line ulaw`` on two
    hours of 48 kHz stereo peaked at 3.66 GB, and on this 20-minute 8 kHz file at 676 MB,
    failing within these 96 MiB. Now the line is a streaming filter; with ``--snr`` the
    file is read twice (the first pass measures the level) in the same flat memory."""
    wav, dtmf = long_runs["dtmf --line"]
    _, replay = long_runs["run-recording --line --snr"]
    assert dtmf[:3] == (0, "", f"ivr dtmf: no DTMF digit found in {wav}\n")
    assert replay[0] == 0 and replay[2] == "", replay
    assert dtmf[3] < 48 << 20 and replay[3] < 48 << 20


def test_an_utterance_file_crosses_the_line_as_it_is_said(wallet: Menu, tmp_path: Path) -> None:
    """``call --audio --line --snr``: the same call as the clip through the line, and a
    half-hour utterance file (58 MB) read in blocks, twice: the first pass measures the
    noise level, keeping 8 bytes per 10 ms frame (1.4 MB of the peak; A-law makes digital
    silence a level of 8, so every frame counts). Half an hour, not the two hours above:
    each second crosses the whole line (band-pass, G.711) in the first pass, 7 CPU-s for
    two hours; the peak is ~10 MiB of blocks plus the frames' levels (11 MiB here, 17 for
    two hours), so the file read whole, or a level kept per sample, is still far over."""
    t = np.arange(16000) / 16000
    speech = np.concatenate([np.zeros(3200), 8000 * np.sin(2 * np.pi * 700 * t)])
    clip = AudioClip(speech.astype(np.int16), 16000)
    write_wav(tmp_path / "said.wav", clip)
    line = Line(codec="alaw", snr_db=20.0)
    [loaded] = load_clips([str(tmp_path / "said.wav")], line)
    assert isinstance(loaded.clip, WavFile) and loaded.line is line
    assert speak(wallet, [loaded]) == speak(wallet, [SaidClip(clip, line=line)])

    long = sparse_wav(tmp_path / "long.wav", 16000, 1, 16, 30 * 60)
    with allocation_peak() as peak:
        events = speak(wallet, load_clips([str(long)], line))
    assert events[-1][1].type is EventType.CALL_END
    assert peak[0] < 16 << 20


# --- a file that fails in the middle of a command ------------------------------------------


def fail_mid_stream(monkeypatch: pytest.MonkeyPatch, fault: str, path: Path, good: int) -> None:
    """The commands below, in this process, with a fake recognizer (it hears the hum as
    speech), blocks of one second of the 16 kHz file (many blocks), and ``fault`` striking
    once ``good`` bytes of samples were read: "EIO" (the disk fails) or "cut short" (the
    file truncated on disk right after its header was checked)."""
    import ivr.cli.common
    import ivr.hearing.recognizer

    def fake(*args: object, **options: object) -> FakeRecognizer:
        return FakeRecognizer([("找回 密码", 0.9)])

    monkeypatch.setattr(ivr.audio.wav, "_BLOCK_BYTES", 1 << 15)
    monkeypatch.setattr(ivr.cli.common, "tracker", lambda menu, model: UtteranceTracker(fake()))
    monkeypatch.setattr(ivr.cli.common, "model", lambda menu, model: None)
    monkeypatch.setattr(ivr.hearing.recognizer, "VoskRecognizer", fake)
    if fault == "EIO":
        fail_reads_after(monkeypatch, path, good)
    else:
        checked = WavFile.__init__

        def cut(self: WavFile, name: str) -> None:
            checked(self, name)
            os.truncate(path, self.format.offset + good)

        monkeypatch.setattr(WavFile, "__init__", cut)


SECONDS_READ = 3
"""The fault strikes after this much of the 12-second recording: after its key 1 (at
0.3 s; the line's band-pass holds back up to a second), and while the caller of ``call --audio`` still speaks (a hum the fake recognizer hears as
speech, which the no-input timer lets run for 5 s)."""

FAILING_COMMANDS = {
    "dtmf": ["dtmf", "{wav}"],
    "dtmf --line --snr": ["dtmf", "{wav}", "--line", "ulaw", "--snr", "20"],
    "transcribe": ["transcribe", "{wav}"],
    "run-recording": ["run-recording", "{wav}", "--log", "{log}"],
    "run-recording --line": ["run-recording", "{wav}", "--line", "alaw", "--log", "{log}"],
    "run-recording --snr": ["run-recording", "{wav}", "--snr", "15", "--log", "{log}"],
    "call --audio": ["call", "--audio", "{wav}", "--log", "{log}"],
    "call --audio --line --snr": [
        "call", "--audio", "{wav}", "--line", "ulaw", "--snr", "20", "--log", "{log}"
    ],
}  # fmt: skip


@pytest.mark.parametrize("fault", ["EIO", "cut short"])
@pytest.mark.parametrize("command", list(FAILING_COMMANDS))
def test_a_file_failing_mid_stream_is_one_line_in_every_command(
    tmp_path: Path, command: str, fault: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An I/O error, or the file truncated on disk after its header was checked, in the
    middle of the audio: one line on stderr (``ivr CMD: path: problem``), exit 1, no
    traceback. A call ends there as the caller hanging up, and its log is whole. Run in
    this process: ``ivr.cli.main``, as the child process these cases once started ran it."""
    wav, log = tmp_path / "call.wav", tmp_path / "call.jsonl"
    if command.startswith("call"):
        hum = 3000 * np.sin(2 * np.pi * 150 * np.arange(12 * 16000) / 16000)
        write_wav(wav, AudioClip(hum.astype(np.int16), 16000))
    else:
        write_wav(wav, caller_recording(12, {0.3: "1", 9.0: "0"}, {}))
    argv = [a.format(wav=wav, log=log) for a in FAILING_COMMANDS[command]]
    fail_mid_stream(monkeypatch, fault, wav, SECONDS_READ * 16000 * 2)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    assert code == 1, err.getvalue()
    assert "Traceback" not in err.getvalue()
    [line] = err.getvalue().splitlines()
    name = "ivr call" if command.startswith("call") else f"ivr {argv[0]}"
    problem = (
        "cannot read (Input/output error)"
        if fault == "EIO"
        else f"cut short while being read: {(12 - SECONDS_READ) * 16000} frames fewer than "
        "when it was opened"
    )
    assert line == f"{name}: {wav}: {problem}"
    if "--log" in argv:
        records = [json.loads(text) for text in log.read_text("utf-8").splitlines()]
        assert records[0]["type"] == "call-start"
        assert records[-2]["type"] == "hangup" and records[-2]["reason"] == "caller"
        assert records[-1]["type"] == "call-end" and records[-1]["outcome"] == "abandoned"
        if command.startswith("run-recording") and "--snr" not in argv:
            assert [r["key"] for r in records if r["type"] == "key"] == ["1"]  # before it failed


def test_a_scenario_whose_recording_fails_mid_stream_is_in_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ivr test``: the caller hangs up where the recording failed, and the scenario is
    that error, not a pass or a failure judged on half a call."""
    write_wav(tmp_path / "keys.wav", caller_recording(12, {2.0: "1", 9.0: "0"}, {}))
    menu = ROOT / "menus" / "wallet.zh-CN.yaml"
    scenario = tmp_path / "keys.call.yaml"
    scenario.write_text(
        f"name: keys\nmenu: {menu}\nrecording: keys.wav\nexpect:\n  states: [account]\n",
        encoding="utf-8",
    )
    assert run_scenario(scenario).status is Status.PASSED
    monkeypatch.setattr(ivr.audio.wav, "_BLOCK_BYTES", 1 << 15)
    fail_reads_after(monkeypatch, tmp_path / "keys.wav", SECONDS_READ * 16000 * 2)
    for line in (None, Line(codec="alaw")):
        result = run_scenario(scenario, line=line)
        assert result.status is Status.ERROR
        assert result.reason == (f"{tmp_path / 'keys.wav'}: cannot read (Input/output error)")
