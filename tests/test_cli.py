"""The ivr command as a user runs it: scripted calls, the log, the live keypad on a terminal."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from ivr.cli import main
from ivr.drivers.testing import run_script
from ivr.engine.events import CallEvent
from ivr.menu.model import Menu
from ivr.outputs.call_log import CallLog
from tests.conftest import WALLET
from tests.pulse import ahead_of_the_load

IVR = [sys.executable, "-m", "ivr.cli"]


def run_ivr(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*IVR, *args], capture_output=True, text=True, timeout=60)


def read_log(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_scripted_call_writes_the_whole_path_to_the_log(tmp_path: Path) -> None:
    log = tmp_path / "call.jsonl"
    result = run_ivr("call", "--keys", "12_1*#0", "--log", str(log))
    assert result.returncode == 0, result.stderr
    records = read_log(log)
    assert all({"t", "type", "state"} <= record.keys() for record in records)
    types = [record["type"] for record in records]
    assert types[0] == "call-start" and types[-1] == "call-end"
    for kind in ("state", "prompt", "key", "no-input", "transfer"):
        assert kind in types
    assert all(record["text"] for record in records if record["type"] == "prompt")
    assert records[-1]["outcome"] == "transferred"
    assert records[-1]["state"] == "account"  # 1 2 (procedure) ... # back to account, 0
    times = [float(str(record["t"])) for record in records]
    assert times == sorted(times)
    no_input = next(r for r in records if r["type"] == "no-input")
    assert no_input["state"] == "password_recovery"


def test_scripted_call_prints_the_transcript(tmp_path: Path) -> None:
    result = run_ivr("call", "--keys", "0")
    assert result.returncode == 0
    assert "账户问题请按1" in result.stdout
    assert "转接人工客服" in result.stdout
    assert "通话结束：已转人工" in result.stdout


def test_script_runs_out_then_the_caller_hangs_up(tmp_path: Path) -> None:
    log = tmp_path / "call.jsonl"
    assert main(["call", "--keys", "1", "--log", str(log), "--quiet"]) == 0
    end = read_log(log)[-1]
    assert (end["type"], end["outcome"], end["state"]) == ("call-end", "abandoned", "account")


def test_bad_key_script_is_one_line_and_exit_2() -> None:
    result = run_ivr("call", "--keys", "1x")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "'x' at position 2" in result.stderr


def test_broken_menu_is_path_line_message_and_exit_1(tmp_path: Path) -> None:
    menu = tmp_path / "bad.yaml"
    menu.write_text("language: zh-CN\nstart: main\nnodes:\n  main: [\n", encoding="utf-8")
    result = run_ivr("call", "--menu", str(menu), "--keys", "1")
    assert result.returncode == 1
    assert result.stderr.startswith(f"{menu}:")
    assert "Traceback" not in result.stderr


def test_log_is_flushed_event_by_event(tmp_path: Path, wallet: Menu) -> None:
    path = tmp_path / "call.jsonl"
    call_log = CallLog(path)
    seen: list[int] = []

    def count_lines_on_disk(event: CallEvent, moment: float) -> None:
        seen.append(len(path.read_text(encoding="utf-8").splitlines()))

    run_script(wallet, "12_", listeners=(call_log, count_lines_on_disk))
    call_log.close()
    assert seen == list(range(1, len(seen) + 1))


def test_menu_option_plays_any_menu_file(tmp_path: Path) -> None:
    menu = tmp_path / "tiny.yaml"
    menu.write_text(
        "language: zh-CN\nstart: main\nglobal_keys: {'0': agent}\nnodes:\n"
        "  main: {title: 小菜单, prompt: 说明请按1。, options: {'1': info}}\n"
        "  info: {title: 说明, answer: 这是说明。}\n",
        encoding="utf-8",
    )
    result = run_ivr("call", "--menu", str(menu), "--keys", "1")
    assert result.returncode == 0, result.stderr
    assert "这是说明。" in result.stdout


class Terminal:
    """`ivr call` on a real pseudo-terminal, as a person at a console would run it."""

    def __init__(self, *args: str, cache: Path | None = None) -> None:
        self.master, slave = pty.openpty()
        env = {**os.environ, "COLUMNS": "200", "TERM": "xterm"}
        if cache is not None:
            env["XDG_CACHE_HOME"] = str(cache)
        self.process = subprocess.Popen(
            [*IVR, "call", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            preexec_fn=ahead_of_the_load,  # a live call: real time, ahead of the other tests
        )
        os.close(slave)
        self.output = ""

    def expect(self, text: str, timeout: float = 30.0, since: int = 0) -> float:
        """Wait until ``text`` has been printed (after the first ``since`` characters of the
        output); return when it appeared (monotonic)."""
        deadline = time.monotonic() + timeout
        while text not in self.output[since:]:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"{text!r} not shown; got:\n{self.output}"
            ready, _, _ = select.select([self.master], [], [], remaining)
            if ready:
                try:
                    self.output += os.read(self.master, 4096).decode("utf-8", "replace")
                except OSError:
                    break
        assert text in self.output[since:], self.output
        return time.monotonic()

    def read(self, timeout: float) -> None:
        """Take in whatever the call prints within ``timeout`` seconds."""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if ready:
            with contextlib.suppress(OSError):
                self.output += os.read(self.master, 4096).decode("utf-8", "replace")

    def press(self, key: str) -> None:
        os.write(self.master, key.encode())

    def close(self) -> int:
        code = self.process.wait(timeout=15)
        os.close(self.master)
        return code


def test_live_keypad_takes_single_keys_without_enter(tmp_path: Path) -> None:
    term = Terminal("--text", "--menu", str(WALLET), "--log", str(tmp_path / "live.jsonl"))
    term.expect("按 0-9 * # 选择")
    term.expect("欢迎致电")
    term.press("1")  # no Enter (cbreak mode), and during the greeting: barge-in
    term.expect("账户注册请按1")
    term.press("q")
    term.expect("通话结束：来电者挂断")
    assert term.close() == 0
    records = read_log(tmp_path / "live.jsonl")
    assert [r["key"] for r in records if r["type"] == "key"] == ["1"]
    assert any(r["type"] == "barge-in" for r in records)  # 1 was pressed during the prompt


def test_live_no_input_timer_runs_in_real_time(tmp_path: Path) -> None:
    menu = tmp_path / "quick.yaml"
    menu.write_text(
        "language: zh-CN\nstart: main\nsettings: {no_input_timeout: 0.5}\n"
        "messages: {no_input: 未输入。}\n"
        "nodes:\n  main: {title: 菜单, prompt: 按1。, short_prompt: 按1。, options: {'1': info}}\n"
        "  info: {title: 说明, answer: 好。}\n",
        encoding="utf-8",
    )
    log = tmp_path / "live.jsonl"
    term = Terminal("--text", "--menu", str(menu), "--log", str(log))
    term.expect("未输入（第1次）")  # the event, not the status line
    term.press("q")
    term.expect("通话结束：来电者挂断")
    assert term.close() == 0
    records = read_log(log)
    prompt_end = float(str(records[1]["t"])) + 3 * 0.33
    no_input = next(r for r in records if r["type"] == "no-input")
    assert abs(float(str(no_input["t"])) - (prompt_end + 0.5)) < 0.3


def test_typed_speech_goes_through_the_same_matching(tmp_path: Path) -> None:
    log = tmp_path / "typed.jsonl"
    # --speed: what is typed, not the prompts' timing, is under test here
    term = Terminal("--typed", "--text", "--speed", "5", "--menu", str(WALLET), "--log", str(log))
    term.expect("打字说话")
    term.expect("欢迎致电")
    term.press("我想找回密码\r")
    term.expect("第一步")
    term.press("下一步\r")
    term.expect("第二步")
    term.press("0\r")  # a key typed on its own line is a key
    term.expect("通话结束：已转人工")
    assert term.close() == 0
    records = read_log(log)
    utterances = [r for r in records if r["type"] == "utterance"]
    assert [(u["text"], u["decision"]) for u in utterances] == [
        ("我想找回密码", "accept"),
        ("下一步", "accept"),
    ]
    assert [r["key"] for r in records if r["type"] == "key"] == ["0"]
