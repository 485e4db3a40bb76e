"""The benchmarks run (quick mode): they prove they work, they never judge speed here.

Every script runs once, through the aggregator (``benchmarks/report.py --quick``) as
``scripts/bench --quick`` runs it, in a few groups that pytest-xdist can run side by side.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.report import SCRIPTS
from tests.conftest import ROOT
from tests.pulse import pulse_server as pulse_server  # session fixture, used by name

GROUPS = [  # about the same time each; several in one run check the gathering
    ("prompt_latency",),
    ("streams",),
    ("speech", "keypad"),
    ("recorded", "dtmf"),
    ("load", "startup"),
    ("backoffice", "selfservice"),  # SQLite and PostgreSQL (the test command's own server)
    ("report_logs",),
    ("simulate",),  # ivr simulate on the wallet and queue menus, ivr report on its logs
    ("web",),  # ivr serve in a process of its own, scripted WebSocket clients
]
NEEDS_PULSE = {"prompt_latency"}

MUST_MEET = {
    "selfservice": [
        f"{db}: {check}"
        for db in ("sqlite", "postgresql")
        for check in (
            "8 simultaneous calls, tickets written (one per call)",
            "requests failed (database locked, error)",
        )
    ],
}
"""Targets that are correctness, not speed: the quick run must meet them (Targets table)."""


def test_the_groups_run_every_benchmark_once() -> None:
    grouped = sorted(name for group in GROUPS for name in group)
    assert grouped == sorted(SCRIPTS)


@pytest.mark.parametrize("names", GROUPS, ids="+".join)
def test_benchmarks_run_and_report(
    names: tuple[str, ...], request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if NEEDS_PULSE & set(names):
        request.getfixturevalue("pulse_server")  # this worker's own PulseAudio
    out = tmp_path / "benchmarks.md"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "report.py"), "--quick", "--out", str(out),
         *names],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = out.read_text("utf-8")
    assert "- CPU:" in text and "## Targets" in text
    for name in names:
        section = text.split(f"## {SCRIPTS[name]}", 1)
        assert len(section) == 2, f"no section {SCRIPTS[name]!r}"
        body = section[1].split("\n## ", 1)[0]
        assert "Failed:" not in body, body
        assert "| measure |" in body
        for figure in MUST_MEET.get(name, []):
            # its row in the Targets table: | name | target | met |
            row = text.split(f"\n| {figure} | ", 1)
            assert len(row) == 2, f"no target row {figure!r}"
            assert row[1].split("\n", 1)[0].endswith("| yes |"), (figure, row[1][:200])
