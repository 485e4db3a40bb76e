"""``ivr simulate`` then ``ivr report``: the two read docs/call-log.md the same way, so the
report of a simulation's logs gives the simulation's own figures."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ivr.cli import main
from ivr.drivers.population import load_population
from ivr.drivers.simulation import simulate
from ivr.menu.model import load
from ivr.reports.sources import Problems
from ivr.reports.summary import summarize
from tests.conftest import ROOT

QUEUE_MENU = ROOT / "tests" / "menus" / "queue.zh-CN.yaml"
POPULATION = ROOT / "tests" / "menus" / "population.queue.yaml"


def printed(text: str) -> dict[str, str]:
    """The simulation's summary table as printed: measure -> its first value."""
    rows = {}
    for line in text.splitlines()[1:]:
        parts = re.split(r"\s{2,}", line.strip())
        if len(parts) >= 2:
            rows[parts[0]] = parts[1]
    return rows


def number(text: str) -> float:
    return float(text.split()[0].replace(",", ""))


def percent(text: str) -> float:
    found = re.search(r"([\d.]+) %", text)
    assert found is not None, text
    return float(found.group(1)) / 100


def test_the_report_of_simulated_logs_gives_the_simulations_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, figures = tmp_path / "logs", tmp_path / "report.json"
    assert main(["simulate", "--menu", str(QUEUE_MENU), "--calls", "2000", "--population",
                 str(POPULATION), "--out", str(out)]) == 0  # fmt: skip
    own = printed(capsys.readouterr().out)
    assert main(["report", str(out), "--menu", str(QUEUE_MENU), "--json", str(figures),
                 "--quiet"]) == 0  # fmt: skip
    report = json.loads(figures.read_text("utf-8"))
    queue = report["queue"]
    assert report["calls"] == report["ended"] == number(own["calls"]) == 2000
    assert report["contained"] == number(own["contained (no agent)"])
    assert report["containment"] == pytest.approx(percent(own["contained (no agent)"]), abs=5e-4)
    for outcome in ("abandoned", "callback", "transferred"):
        assert report["outcomes"][outcome] == number(own[f"outcome {outcome}"])
    assert queue["offered"] == number(own["offered to the agents"])
    assert queue["entered"] == number(own["joined the queue"]) > 0
    assert queue["answered"] == number(own["answered by an agent"])
    assert queue["answered_at_once"] > 0  # free agents: `agent` with 0 s, no queue entry
    assert queue["abandoned"] == number(own["abandoned in the queue"]) > 0
    assert queue["closed"] > 0 and queue["callback"] > 0
    assert queue["average_answer"] == pytest.approx(number(own["mean wait for an agent"]), abs=0.05)
    assert queue["service_level"] == pytest.approx(percent(own["service level (20 s)"]), abs=5e-4)


def test_the_same_figures_exactly_from_the_summary_and_the_report(tmp_path: Path) -> None:
    """Unrounded: every count equal, the waits equal to the log's 3 decimals."""
    menu = load(QUEUE_MENU, cached=False)
    log = tmp_path / "calls.jsonl"
    with log.open("w", encoding="utf-8") as out:
        own = simulate(menu, load_population(POPULATION), 1500, seed=7, log=out)
    problems = Problems()
    report = summarize([log], problems)
    q = report.queue
    assert not problems and report.calls == own.calls == 1500
    assert report.contained == own.contained
    assert dict(report.outcomes) == dict(own.outcomes)
    assert (q.offered, q.entered, q.answered, q.abandoned, q.closed, q.full) == (
        own.offered, own.queued, own.answered, own.abandoned_in_queue, own.closed, own.full
    )  # fmt: skip
    assert report.outcomes["callback"] == own.callbacks
    assert q.within_service == own.answered_in_time
    assert q.service_level == pytest.approx(own.service_level, abs=1e-12)
    assert q.average_answer == pytest.approx(own.mean_wait, abs=1e-3)
    # the time to reach an intent's node, from each call's own call-start (not from `at`)
    reached = report.node("balance")
    assert reached.reached == own.reached["balance"]
    first_times = _first_entries(log, "balance")
    assert sum(first_times) == pytest.approx(own.time_to_reach["balance"], abs=1e-2)


def _first_entries(log: Path, node: str) -> list[float]:
    seen: dict[str, float] = {}
    for line in log.read_text("utf-8").splitlines():
        record = json.loads(line)
        if record["type"] == "call-start":
            assert record["t"] == 0 and "at" in record
        elif record["type"] == "state" and record["state"] == node:
            seen.setdefault(record["call"], record["t"])
    return list(seen.values())


def test_simulate_compare_then_report_compare_side_by_side(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two menus (the second with more agents) through the same callers; the report of
    each log, and both side by side with ``--compare``, give the same figures."""
    monkeypatch.setenv("COLUMNS", "120")  # the log names whole in the column headers
    more = tmp_path / "more-agents.yaml"
    text = QUEUE_MENU.read_text("utf-8")
    assert 'agents: {"09:00": 2, "13:00": 3}' in text
    more.write_text(text.replace('agents: {"09:00": 2, "13:00": 3}', 'agents: {"09:00": 6}'),
                    "utf-8")  # fmt: skip
    out = tmp_path / "logs"
    assert main(["simulate", "--menu", str(QUEUE_MENU), "--compare", str(more), "--calls", "800",
                 "--population", str(POPULATION), "--out", str(out)]) == 0  # fmt: skip
    simulated = capsys.readouterr().out
    first, second = out / "queue.zh-CN.jsonl", out / "more-agents.compare.jsonl"
    assert first.is_file() and second.is_file()
    singles = []
    for log in (first, second):
        data = tmp_path / f"{log.stem}.json"
        assert main(["report", str(log), "--menu", str(QUEUE_MENU), "--json", str(data),
                     "--quiet"]) == 0  # fmt: skip
        singles.append(json.loads(data.read_text("utf-8")))
    capsys.readouterr()
    assert main(["report", str(first), "--menu", str(QUEUE_MENU), "--compare", str(second)]) == 0
    side = capsys.readouterr().out
    table = side[side.index("Side by side") : side.index("Side by side, per node")]
    assert "queue.zh-CN.jsonl" in table and "more-agents.compare.jsonl" in table
    per_node = side[side.index("Side by side, per node") :]
    main_row = next(line for line in per_node.splitlines() if line.startswith("│ main "))
    cells = [cell.strip() for cell in main_row.strip("│┃ ").split("│")]
    assert cells[0] == "main" and cells[1].startswith("100.0 →")  # (wrapped at 80 columns)

    def row(name: str) -> list[str]:
        line = next(line for line in table.splitlines() if name in line)
        return [cell.strip() for cell in line.strip("│┃ ").split("│")][1:3]

    assert row("queue: average speed of") == [
        f"{s['queue']['average_answer']:.1f} s" for s in singles
    ]
    assert row("service level (answered") == [
        f"{100 * s['queue']['service_level']:.1f} %" for s in singles
    ]
    assert row("queue: entered") == [f"{s['queue']['entered']:,}" for s in singles]
    line = next(line for line in table.splitlines() if "service level (answered" in line)
    levels = [100 * s["queue"]["service_level"] for s in singles]
    assert line.rstrip("│ ").split("│")[-1].strip() == f"{levels[1] - levels[0]:+.1f} pp"
    # more agents: less waiting, as the simulation's own side-by-side said
    assert singles[1]["queue"]["average_answer"] < singles[0]["queue"]["average_answer"]
    # ivr simulate --compare prints the report's side by side itself, the very same tables
    assert simulated[simulated.index("Side by side") :] == side[side.index("Side by side") :]
    own = [line for line in simulated.splitlines() if line.startswith("service level")][0]
    levels = [float(v) / 100 for v in re.findall(r"([\d.]+) %", own)]
    assert levels == pytest.approx([s["queue"]["service_level"] for s in singles], abs=5e-4)


def test_a_free_agent_at_once_is_answered_in_time_in_the_report(tmp_path: Path) -> None:
    """docs/call-log.md: ``agent`` with 0 s is a free agent at once, no queue entry."""
    records = [
        {"call": "1", "t": 0, "type": "call-start", "state": "main", "at": 5.0},
        {"call": "1", "t": 3, "type": "transfer", "state": "main", "reason": "caller"},
        {"call": "1", "t": 3, "type": "agent", "state": "main", "seconds": 0.0},
        {"call": "1", "t": 3, "type": "call-end", "state": "main", "outcome": "transferred"},
        {"call": "2", "t": 0, "type": "call-start", "state": "main", "at": 9.0},
        {"call": "2", "t": 2, "type": "transfer", "state": "main", "reason": "caller"},
        {"call": "2", "t": 2, "type": "queue", "state": "main", "reason": "enter", "count": 1,
         "seconds": 90.0},
        {"call": "2", "t": 62, "type": "hangup", "state": "main", "reason": "caller",
         "seconds": 60.0},
        {"call": "2", "t": 62, "type": "call-end", "state": "main", "outcome": "abandoned"},
    ]  # fmt: skip
    log = tmp_path / "two.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in records), "utf-8")
    q = summarize([log], Problems()).queue
    assert (q.offered, q.entered, q.answered, q.answered_at_once, q.abandoned) == (2, 1, 1, 1, 1)
    assert q.average_answer == 0.0 and q.average_wait == pytest.approx(30.0)
    assert q.within_service == 1 and q.service_level == pytest.approx(0.5)


def test_the_side_by_side_marks_a_figure_one_set_lacks(tmp_path: Path) -> None:
    from io import StringIO

    from rich.console import Console

    from ivr.reports.summary import Summary
    from ivr.reports.terminal import print_comparison

    plain, queued = Summary(calls=1, ended=1), Summary(calls=1, ended=1)
    queued.queue.offered = queued.queue.answered = queued.queue.within_service = 1
    out = StringIO()
    print_comparison([("a", plain), ("b", queued)], Console(file=out, width=120))
    line = next(line for line in out.getvalue().splitlines() if "service level" in line)
    assert "-" in line and "100.0 %" in line


def test_simulate_compare_without_out_prints_the_side_by_side(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without ``--out`` the logs the side by side is read from are temporary: the same
    tables are printed and nothing is left behind."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    assert main(["simulate", "--menu", str(QUEUE_MENU), "--compare", str(QUEUE_MENU),
                 "--calls", "200", "--population", str(POPULATION)]) == 0  # fmt: skip
    out = capsys.readouterr().out
    side = out[out.index("Side by side") :]
    assert "queue.zh-CN.jsonl" in side and "queue.zh-CN.compare.jsonl" in side
    assert "Side by side, per node" in side
    main_row = next(line for line in side.splitlines() if line.startswith("│ main "))
    assert "100.0 →" in main_row
    assert list(tmp_path.iterdir()) == []
