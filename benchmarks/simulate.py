"""``ivr simulate`` speed, and ``ivr report`` over what it wrote: 10⁴ and 10⁵ wallet callers.

Run: python benchmarks/simulate.py [--quick] [--json FILE].
The callers are `menus/population.sample.yaml` through `menus/wallet.zh-CN.yaml` (with its
contact centre since issue 14's end; docs/benchmarks.md's figures of 2026-12-02 are with
it, those of 2026-11-25 without) and, for the queue's cost, through
`tests/menus/queue.zh-CN.yaml` with its own population (agents, hours,
announcements, callbacks). Each run is `ivr.drivers.simulation.simulate` writing the
multi-call log as `ivr simulate --out` does. Calls per second *per core* divide by the
process's CPU time (the simulation is one thread; on a shared machine wall time also counts
other work), and the wall-clock rate is in the notes. The report figure is
`ivr.reports.summary.summarize` over that log, the figures `ivr report` prints.
``--quick``: 200 and 500 callers, to prove it works.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import Figure, arguments, report

ROOT = Path(__file__).resolve().parent.parent
WALLET = ROOT / "menus" / "wallet.zh-CN.yaml"
QUEUE = ROOT / "tests" / "menus" / "queue.zh-CN.yaml"
POPULATION = ROOT / "menus" / "population.sample.yaml"
QUEUE_POPULATION = ROOT / "tests" / "menus" / "population.queue.yaml"


def main() -> None:
    args = arguments(__doc__ or "").parse_args()
    from ivr.drivers.population import load_population
    from ivr.drivers.simulation import simulate
    from ivr.menu.model import load
    from ivr.reports.sources import Problems
    from ivr.reports.summary import menu_shape, summarize

    sizes = (200, 500) if args.quick else (10_000, 100_000)
    runs = [(WALLET, POPULATION, calls) for calls in sizes] + [(QUEUE, QUEUE_POPULATION, sizes[0])]
    figures = []
    folder = Path(tempfile.mkdtemp(prefix="ivr-simulate-"))
    try:
        for path, people, calls in runs:
            menu, population = load(path), load_population(people)
            rates, walls, reports = [], [], []
            repeats = 3 if calls <= 10_000 and not args.quick else 1
            for run in range(repeats):
                log_path = folder / f"{path.stem}-{calls}-{run}.jsonl"
                with log_path.open("w", encoding="utf-8") as log:
                    cpu, wall = time.process_time(), time.perf_counter()
                    summary = simulate(menu, population, calls, seed=run, log=log)
                    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                rates.append(calls / cpu)
                walls.append(calls / wall)
                problems = Problems()
                figures_of_log = summarize([log_path], problems, menu_shape(menu))
                assert figures_of_log.calls == summary.calls == calls, figures_of_log.calls
                assert not problems, problems.said()
                reports.append(figures_of_log.seconds)
                size = log_path.stat().st_size / 1024**2
                log_path.unlink()
            who = f"{calls:,} callers, {path.name}"
            figures.append(
                Figure(
                    f"simulated calls per second per core ({who})",
                    "calls/s",
                    rates,
                    notes=[
                        f"wall clock {min(walls):,.0f}–{max(walls):,.0f} calls/s; "
                        f"log {size:,.0f} MiB; containment "
                        f"{summary.contained / summary.calls:.3f}, queued {summary.queued:,}"
                    ],
                )
            )
            figures.append(
                Figure(
                    f"ivr report over the simulated logs ({who})",
                    "s",
                    reports,
                    notes=[f"{calls / min(reports):,.0f} calls/s"],
                )
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    report(figures, args)


if __name__ == "__main__":
    main()
