"""The README's promises that can drift: its example menu and its commands."""

from __future__ import annotations

import re
from pathlib import Path

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
