"""A live call that really speaks: pyttsx3 renders, the prompts reach the (virtual) speaker."""

from __future__ import annotations

import time
from pathlib import Path

from tests.conftest import ROOT, WALLET
from tests.pulse import MonitorRecorder, PulseServer
from tests.pulse import pulse_server as pulse_server  # session fixture, used by name
from tests.test_cli import Terminal, read_log

SPEAKER_MENU = ROOT / "tests" / "menus" / "live-speaker.zh-CN.yaml"
"""The wallet's greeting and first two menus only: a speaking call renders all its menu's
prompts in the background, and the wallet's 173 cost ~3 CPU-s of espeak-ng per call."""


def test_live_call_speaks_prompts_and_stops_them_on_barge_in_and_hang_up(
    pulse_server: PulseServer, tmp_path: Path
) -> None:
    log = tmp_path / "call.jsonl"
    with MonitorRecorder() as speaker:
        term = Terminal("--menu", str(SPEAKER_MENU), "--log", str(log), cache=tmp_path / "cache")
        term.expect("语音播报")  # not the text-only fallback
        greeting_shown = term.expect("欢迎致电")
        time.sleep(1.5)
        term.press("1")  # barge in on the greeting
        term.expect("账户注册请按1")
        time.sleep(1.5)
        term.press("q")
        hung_up = term.expect("通话结束：来电者挂断")
        time.sleep(0.6)
    assert term.close() == 0
    loud = speaker.loud_times()  # monotonic arrival times of loud 10 ms chunks
    assert any(0 < t - greeting_shown < 1.5 for t in loud), "greeting not heard"
    assert not [t for t in loud if t > hung_up + 0.2], "speech went on after hang-up"
    types = [record["type"] for record in read_log(log)]
    assert "barge-in" in types


def test_no_sound_device_says_so_once_and_goes_on_text_only(tmp_path: Path) -> None:
    term = Terminal("--menu", str(WALLET), "--device", "no-such-device", cache=tmp_path)
    term.expect("text-only")
    term.expect("仅文字")
    term.expect("欢迎致电")
    term.press("q")
    term.expect("通话结束：来电者挂断")
    assert term.close() == 0
    assert term.output.count("text-only") == 1
