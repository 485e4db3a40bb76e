"""Keypad-path figures: how fast a scripted call runs, what a turn and a call cost.

Run: python benchmarks/keypad.py [--repeat N]. Prints a Markdown table (min/median/max).
Not a test: nothing here fails on a slow machine.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from ivr.drivers.testing import run_script
from ivr.engine.flow import CallFlow
from ivr.engine.inputs import KeyPress
from ivr.menu.model import load

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import Figure, arguments, report

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


def main() -> None:
    args = arguments(__doc__ or "").parse_args()
    repeat = 1 if args.quick else 10  # quick: one `ivr call` process (~0.5 CPU-s each)
    # --quick proves the measures work (tests/test_benchmarks.py): far fewer engine turns
    # and calls, whose figures mean nothing anyway on a test run
    turn_runs = 20 if args.quick else repeat * 100
    many = 1_000 if args.quick else 10_000
    menu = load(WALLET)
    flow = CallFlow(menu)
    cli = [sys.executable, "-m", "ivr.cli", "call", "--keys", SCRIPT, "--quiet", "--log"]
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "call.jsonl"
        process = timed(lambda: subprocess.run([*cli, str(log)], check=True), repeat)
    call_seconds = run_script(flow, SCRIPT).events[-1][0]
    in_process = timed(lambda: run_script(flow, SCRIPT), repeat * 10)

    def turns() -> None:
        call, _ = flow.start()
        for key in "1*#2*#3*#4*#5*#":
            flow.handle(call, KeyPress(key))

    per_turn = [t / 15 * 1e6 for t in timed(turns, turn_runs)]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    calls = [flow.start()[0] for _ in range(many)]
    for call in calls:
        flow.handle(call, KeyPress("1"))
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    used = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    report([
        Figure(f"`ivr call --keys {SCRIPT} --log` as a process ({call_seconds:.0f} s of call)",
               "ms", [t * 1e3 for t in process], target="well under a second",
               met=max(process) < 1.0),
        Figure("the same scripted call in-process", "ms", [t * 1e3 for t in in_process]),
        Figure("load and check the wallet menu", "ms",
               [t * 1e3 for t in timed(lambda: load(WALLET), repeat)]),
        Figure("build the CallFlow", "ms",
               [t * 1e3 for t in timed(lambda: CallFlow(menu), repeat)]),
        Figure("engine turn (a key to its events)", "µs", per_turn),
        Figure(f"engine state per call (Call object, {many:,} calls)", "bytes",
               [used / len(calls)]),
    ], args)  # fmt: skip


if __name__ == "__main__":
    main()
