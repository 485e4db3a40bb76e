"""Whole-call recordings of the caller's side: keys as in-band DTMF, speech, pauses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ivr.audio.wav import AudioClip, write_wav
from ivr.callers.whole_call import WholeCallCaller
from ivr.clock import VirtualClock
from ivr.drivers.session import Session
from ivr.drivers.testing import RecordingPlayer, caller_recording
from ivr.engine.events import CallEvent, EventType, Outcome
from ivr.engine.flow import CallFlow
from ivr.hearing.recognizer import VoskModel, VoskRecognizer
from ivr.hearing.tracker import UtteranceTracker
from ivr.menu.model import Menu, load
from tests.conftest import ROOT
from tests.speech.korean import korean_clip

RATE = 16000
KOREAN_MENU = ROOT / "tests" / "menus" / "korean.ko-KR.yaml"


def replay(
    menu: Menu, clip: AudioClip, tracker: UtteranceTracker | None = None
) -> list[tuple[float, CallEvent]]:
    clock = VirtualClock()
    events: list[tuple[float, CallEvent]] = []
    Session(
        CallFlow(menu), WholeCallCaller(clip, clock, tracker), RecordingPlayer(clock), clock,
        [lambda event, moment: events.append((moment, event))],
    ).run()  # fmt: skip
    return events


def test_keys_in_a_recording_drive_the_call_at_their_times(wallet: Menu) -> None:
    # 40 s: the caller stays on through the transfer message (the wallet's queue answers
    # after it); a recording that ends first is a caller hanging up
    events = replay(wallet, caller_recording(40, {2.0: "1", 4.0: "2", 6.0: "1", 20.0: "0"}, {}))
    keys = [(round(t, 1), e.key) for t, e in events if e.type is EventType.KEY]
    assert keys == [(2.0, "1"), (4.0, "2"), (6.0, "1"), (20.0, "0")]
    assert [e.state for _, e in events if e.type is EventType.STATE] == [
        "account",
        "password_recovery",
    ]
    assert sum(e.type is EventType.BARGE_IN for _, e in events) == 4
    end = events[-1][1]
    assert end.outcome is Outcome.TRANSFERRED and end.state == "password_recovery"


def test_silence_in_a_recording_is_no_input_on_the_recordings_clock(wallet: Menu) -> None:
    events = replay(wallet, caller_recording(80, {}, {}))
    prompts_end = sum(len(p) * 0.33 for p in (wallet.greeting, wallet.nodes["main"].prompt))
    no_input = [t for t, e in events if e.type is EventType.NO_INPUT]
    assert no_input[0] == pytest.approx(prompts_end + 5.0, abs=0.03)
    assert events[-1][1].outcome is Outcome.ABANDONED  # the recording ends: the caller hung up


def test_speech_and_keys_in_one_recording(korean_model: VoskModel, tmp_path: Path) -> None:
    menu = load(KOREAN_MENU)
    tracker = UtteranceTracker(VoskRecognizer(korean_model))
    clip = caller_recording(14, {9.0: "0"}, {1.0: korean_clip("셋", tmp_path)})
    events = replay(menu, clip, tracker)
    utterances = [e for _, e in events if e.type is EventType.UTTERANCE]
    assert [(u.text, u.decision) for u in utterances] == [
        ("셋", "accept")
    ]  # no words from the tone
    assert [e.state for _, e in events if e.type is EventType.STATE][0] == "three"
    assert events[-1][1].outcome is Outcome.TRANSFERRED


def test_run_recording_cli_through_a_phone_line(tmp_path: Path) -> None:
    wav = tmp_path / "call.wav"
    write_wav(wav, caller_recording(25, {2.0: "1", 9.0: "0"}, {}))  # on through the transfer
    log = tmp_path / "call.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "ivr.cli", "run-recording", str(wav), "--line", "alaw",
         "--snr", "20", "--log", str(log)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "× real time" in result.stdout
    records = [json.loads(line) for line in log.read_text("utf-8").splitlines()]
    assert [r["key"] for r in records if r["type"] == "key"] == ["1", "0"]
    assert records[-1]["outcome"] == "transferred"


def test_dtmf_cli_prints_digits_with_times(tmp_path: Path) -> None:
    wav = tmp_path / "keys.wav"
    write_wav(wav, caller_recording(3, {0.5: "4", 1.5: "#"}, {}))
    result = subprocess.run(
        [sys.executable, "-m", "ivr.cli", "dtmf", str(wav)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    heard = [line.split() for line in result.stdout.splitlines()]
    assert [digit for _, digit in heard] == ["4", "#"]
    times = [float(moment.rstrip("s")) for moment, _ in heard]
    assert times == pytest.approx([0.5, 1.5], abs=0.013)  # one 12.75 ms detector block


def test_unreadable_recording_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00")
    for command in (["run-recording", str(bad)], ["dtmf", str(bad)]):
        result = subprocess.run(
            [sys.executable, "-m", "ivr.cli", *command], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 1
        assert result.stderr.strip().count("\n") == 0 and str(bad) in result.stderr
