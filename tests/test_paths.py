"""Writing an output whole: a device or a FIFO is written in place, never replaced."""

from __future__ import annotations

import os
import stat
import sys
import threading
from pathlib import Path

from ivr.outputs.paths import write_replacing

ROOT = Path(__file__).resolve().parent.parent


def _write(text: str):  # type: ignore[no-untyped-def]
    return lambda target: Path(target).write_text(text, encoding="utf-8")


def test_a_fifo_stays_a_fifo_and_gets_the_text(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text("utf-8")))
    reader.start()
    write_replacing(fifo, _write("coverage"))
    reader.join(timeout=10)
    assert got == ["coverage"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # renaming over it would make it a file


def test_a_symlink_keeps_pointing_at_the_new_file(tmp_path: Path) -> None:
    target = tmp_path / "real.md"
    target.write_text("old", "utf-8")
    link = tmp_path / "link.md"
    link.symlink_to(target)
    write_replacing(link, _write("new"))
    assert link.is_symlink() and target.read_text("utf-8") == "new"


def test_a_regular_file_is_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "report.md"
    path.write_text("old", "utf-8")
    write_replacing(path, _write("new"))
    assert path.read_text("utf-8") == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]  # no temporary left


def test_coverage_to_a_fifo_leaves_it_a_fifo(tmp_path: Path) -> None:
    """`ivr test --coverage /dev/null` once replaced the device with a file (as root); a
    FIFO stands in for the device here, so a regression cannot break the machine."""
    import subprocess

    fifo = tmp_path / "coverage.md"
    os.mkfifo(fifo)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text("utf-8")))
    reader.start()
    scenario = ROOT / "tests" / "calls" / "wallet" / "agent-main.call.yaml"
    done = subprocess.run(
        [sys.executable, "-m", "ivr.cli", "test", str(scenario), "--coverage", str(fifo)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    reader.join(timeout=10)
    assert done.returncode == 0, done.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert got and "主菜单" in got[0]
