"""Keypad-path figures: how fast a scripted call runs, what a turn and a call cost.

Run: python benchmarks/keypad.py [--repeat N]. Prints a Markdown table (min/median/max).
Not a test: nothing here fails on a slow machine.
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from ivr.engine import CallFlow
from ivr.inputs import KeyPress
from ivr.menu import load
from ivr.testing import run_script

ROOT = Path(__file__).resolve().parent.parent
WALLET = ROOT / "menus" / "wallet.zh-CN.yaml"
SCRIPT = "12_1*#0"  # a procedure, a timeout, repeat, back, transfer


def timed(action: Callable[[], object], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return samples


def row(name: str, samples: list[float], unit: str, scale: float) -> str:
    low, mid, high = min(samples), statistics.median(samples), max(samples)
    return f"| {name} | {low * scale:.3g} | {mid * scale:.3g} | {high * scale:.3g} | {unit} |"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=10)
    repeat = parser.parse_args().repeat
    menu = load(WALLET)
    flow = CallFlow(menu)
    rows = []

    cli = [sys.executable, "-m", "ivr.cli", "call", "--keys", SCRIPT, "--quiet", "--log"]
    log = Path("/tmp/ivr-bench.jsonl")
    rows.append(
        row(
            f"`ivr call --keys {SCRIPT} --log` (process, wall)",
            timed(lambda: subprocess.run([*cli, str(log)], check=True), repeat),
            "ms",
            1e3,
        )
    )
    call_seconds = run_script(flow, SCRIPT).events[-1][0]
    session = timed(lambda: run_script(flow, SCRIPT), repeat * 10)
    rows.append(
        row(f"same call in-process ({call_seconds:.0f} s of call time)", session, "ms", 1e3)
    )
    rows.append(
        row("virtual call seconds per wall second", [call_seconds / s for s in session], "×", 1)
    )
    rows.append(row("load + check the wallet menu", timed(lambda: load(WALLET), repeat), "ms", 1e3))
    rows.append(row("build the CallFlow", timed(lambda: CallFlow(menu), repeat), "ms", 1e3))

    def turns() -> None:
        call, _ = flow.start()
        for key in "1*#2*#3*#4*#5*#":
            flow.handle(call, KeyPress(key))

    per_turn = [t / 15 for t in timed(turns, repeat * 100)]
    rows.append(row("engine turn (one key → events)", per_turn, "µs", 1e6))

    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    calls = [flow.start()[0] for _ in range(10_000)]
    for call in calls:
        flow.handle(call, KeyPress("1"))
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    used = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    rows.append(f"| memory per live call (10,000 calls) | | {used / len(calls):.0f} | | bytes |")

    print(f"Machine: {platform.machine()}, Python {platform.python_version()}, {repeat} repeats\n")
    print("| measure | min | median | max | unit |\n|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
