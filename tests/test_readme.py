"""The README's promises that can drift: its example menu and its commands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ivr.cli import main
from ivr.drivers.testing import run_script
from ivr.menu.model import load
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_example_menu_is_valid_and_plays(tmp_path: Path) -> None:
    example = re.search(r"```yaml\n(.*?)```", README, re.S)
    assert example is not None
    path = tmp_path / "example.yaml"
    path.write_text(example.group(1), encoding="utf-8")
    guide = tmp_path / "guide.txt"
    assert main(["check", str(path)]) == 1  # the guide it names is not there yet
    guide.write_text("常见问题\n- 如何找回密码：……\n联系我们\n- 营业时间：……\n", encoding="utf-8")
    assert main(["check", str(path)]) == 0
    rec = run_script(load(path), "1112")
    assert rec.states == ["password", "main", "hours", "main"]


def test_readme_names_the_scripts_that_exist() -> None:
    for script in re.findall(r"^(scripts/\w+)", README, re.M):
        assert (ROOT / script).is_file(), script


def test_the_trainers_walk_through_works_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's walk-through, on a database of its own: the caller it names is the
    first failed payment of seed 1, the scripted call hears the cause and the guide's
    advice, and the complaint's number is the ticket ``ivr db tickets`` lists."""
    section = README[README.index("### A trainer's walk-through") :]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None
    commands = block_commands(block.group(1))
    assert [c[:3] for c in commands] == [
        ["ivr", "db", "init"],
        ["ivr", "db", "accounts"],
        ["ivr", "call", "--caller"],
        ["ivr", "call", "--caller"],
        ["ivr", "call", "--keys"],
        ["ivr", "db", "tickets"],
    ]
    monkeypatch.setenv("IVR_DATABASE_URL", str(tmp_path / "backoffice.sqlite3"))
    monkeypatch.chdir(tmp_path)
    assert main(commands[0][1:]) == 0
    capsys.readouterr()
    assert main(commands[1][1:]) == 0
    listed = capsys.readouterr().out
    phone, pin = "13818034063", "596853"
    assert re.search(rf"^{phone}\s+{pin}\s+failed-payment .*余额不足", listed, re.M), listed
    assert commands[3][3] == phone and phone in block.group(1) and pin in commands[3][5]
    assert main([*commands[3][1:], "--quiet"]) == 0
    log = (tmp_path / "call.jsonl").read_text("utf-8")
    said = section[section.index("The caller hears") :]
    advice = said[said.index("原因是余额不足") : said.index("”")].replace("\n", "")
    assert "没有成功，" + advice in log.replace("\n", "")
    assert pin not in log
    assert main([*commands[4][1:], "--quiet", "--log", "complaint.jsonl"]) == 0
    complaint = (tmp_path / "complaint.jsonl").read_text("utf-8")
    digits = dict(zip("幺二三四五六七八九零", "1234567890", strict=True))
    found = re.search(r"反馈编号是([幺二三四五六七八九零]{10})", complaint)
    assert found is not None
    capsys.readouterr()
    assert main(commands[5][1:]) == 0
    listed = capsys.readouterr().out
    assert "".join(digits[c] for c in found.group(1)) in listed
    # No --out: no message file was written, so the ticket names none, only the length.
    assert "its audio not kept" in listed and "-message.wav" not in listed


def block_commands(block: str) -> list[list[str]]:
    """A shell block's commands, comments dropped, quotes kept out of the words."""
    import shlex

    return [shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]
