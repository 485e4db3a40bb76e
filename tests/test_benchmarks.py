"""The benchmarks run (quick mode): they prove they work, they never judge speed here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks.report import SCRIPTS
from tests.conftest import ROOT
from tests.pulse import PulseServer
from tests.pulse import pulse_server as pulse_server  # session fixture, used by name


def test_every_benchmark_runs_and_reports(pulse_server: PulseServer, tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "report.py"), "--quick", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = out.read_text("utf-8")
    assert "- CPU:" in text and "## Targets" in text
    for title in SCRIPTS.values():
        section = text.split(f"## {title}", 1)
        assert len(section) == 2, f"no section {title!r}"
        body = section[1].split("\n## ", 1)[0]
        assert "Failed:" not in body, body
        assert "| measure |" in body


def test_the_backoffice_benchmark_runs_quick(tmp_path: Path) -> None:
    """The back-office benchmark alone (SQLite and PostgreSQL), quick: ``-k backoffice``."""
    out = tmp_path / "figures.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "backoffice.py"), "--quick", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    names = out.read_text("utf-8")
    assert "sqlite: find_account p95" in names and "postgresql: tickets filed per second" in names


def test_the_selfservice_benchmark_runs_quick(tmp_path: Path) -> None:
    """Self-service calls in the pool on both databases, quick: no lost or failed write."""
    import json

    out = tmp_path / "figures.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "selfservice.py"), "--quick", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    figures = {f["name"]: f for f in json.loads(out.read_text("utf-8"))}
    for name in ("sqlite", "postgresql"):
        assert figures[f"{name}: requests failed (database locked, error)"]["met"] is True
        assert figures[f"{name}: 40 simultaneous calls, tickets written (one per call)"]["met"]
