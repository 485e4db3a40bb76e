"""The one output format of every benchmark script, so `scripts/bench` can gather them.

A script measures, then calls `report(figures, args)`: it prints a Markdown table and, with
``--json FILE``, writes the figures for the aggregator (`benchmarks/report.py`), which
writes docs/benchmarks.md. ``--quick`` makes a script run briefly, only to prove it works
(CI does that; it never judges speed).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Figure:
    """One measure: its samples over repeated runs, its target and what it compares with."""

    name: str
    unit: str
    values: list[float]
    target: str = ""
    """The goal, as written in the issue, e.g. "<= 20 ms (p95)"."""
    met: bool | None = None
    """Whether the target holds on this run (None: no target)."""
    anchor: str = ""
    """What it is compared with: a peer measured in the same run, or a reference figure."""
    notes: list[str] = field(default_factory=list)

    def summary(self) -> tuple[float, float, float]:
        return min(self.values), statistics.median(self.values), max(self.values)


def arguments(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a short run, to prove it works")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the figures as JSON")
    return parser


def report(figures: Sequence[Figure], args: argparse.Namespace) -> None:
    print("| measure | min | median | max | unit | target | met |")
    print("|---|---|---|---|---|---|---|")
    for figure in figures:
        low, mid, high = figure.summary()
        met = "" if figure.met is None else ("yes" if figure.met else "no")
        print(
            f"| {figure.name} | {low:.4g} | {mid:.4g} | {high:.4g} | {figure.unit} "
            f"| {figure.target} | {met} |"
        )
    if args.json is not None:
        args.json.write_text(
            json.dumps([asdict(f) for f in figures], ensure_ascii=False, indent=1), "utf-8"
        )


def rss_mib() -> float:
    """This process's resident memory, in MiB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile (0.95 for p95), by the nearest-rank method."""
    ordered = sorted(values)
    rank = max(math.ceil(fraction * len(ordered)) - 1, 0)
    return ordered[min(rank, len(ordered) - 1)]
