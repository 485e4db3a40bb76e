"""Load: 10,000 simultaneous keypad callers on the wallet menu, in one process, in real time.

Callers arrive spread over the first seconds (``--ramp``) and are driven by one `CallPool`
on a real clock. Each presses random keys 1-4 s after the prompts end, or barges in
during a prompt now and then, walks random paths and hangs up after a random number of
keys; a caller whose call ends is replaced at once by a new one, so ``--calls`` callers
stay in the call. The run is bounded (``--seconds``, default 60).

Turn latency: from the moment a key is due to the moment the engine has handled it and
what follows (the next prompt) has been started, i.e. how far behind its clock the pool
is. Memory per call is measured twice: the RSS growth of this process divided by the
calls held, and with tracemalloc (a separate run on a virtual clock, as tracing slows
Python down). CPU is this process's CPU time over wall time (100% = one core).

Run: python benchmarks/load.py [--quick] [--json FILE] [--calls N] [--seconds S]
"""

from __future__ import annotations

import gc
import platform
import random
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # benchmarks.common

from benchmarks.common import Figure, arguments, percentile, report
from ivr.clock import Clock, RealClock, VirtualClock
from ivr.drivers.pool import CallerHabits, CallPool, RandomCaller
from ivr.engine.events import CallEvent, EventType
from ivr.engine.flow import Call, CallFlow
from ivr.engine.inputs import CallerAction, KeyPress
from ivr.menu.model import load

ROOT = Path(__file__).resolve().parent.parent
WALLET = ROOT / "menus" / "wallet.zh-CN.yaml"

LATENCY_TARGET_MS = 50.0
MEMORY_TARGET_KIB = 50.0
CALLS_TARGET = 10_000


def rss_kib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return float(line.split()[1])
    return float("nan")


class Load:
    """A pool kept at ``calls`` callers: each one that ends is replaced at once."""

    def __init__(self, flow: CallFlow, clock: Clock, calls: int, ramp: float, seed: int) -> None:
        self.rng = random.Random(seed)
        self.habits = CallerHabits()
        self.lags: list[float] = []
        self.events = dict.fromkeys(EventType, 0)
        self.recording = True
        self.pool = CallPool(
            flow, clock, listeners=[self.count], on_end=self.replace, on_turn=self.turn
        )
        for at in sorted(self.rng.uniform(0, ramp) for _ in range(calls)):
            self.pool.start(RandomCaller(self.rng, self.habits), at=at)

    def count(self, call_id: int, event: CallEvent, moment: float) -> None:
        """What a minimal listener costs: one count per event."""
        self.events[event.type] += 1

    def replace(self, call_id: int, call: Call, moment: float) -> None:
        self.pool.start(RandomCaller(self.rng, self.habits), at=moment)

    def turn(self, call_id: int, action: CallerAction, due: float, done: float) -> None:
        if self.recording and isinstance(action, KeyPress):
            self.lags.append(done - due)


def real_time(
    flow: CallFlow, calls: int, seconds: float, ramp: float, seed: int
) -> dict[str, list[float]]:
    """Run the load on a real clock; per-second samples and every key's lag."""
    gc.collect()
    rss_before = rss_kib()
    clock = RealClock()
    run = Load(flow, clock, calls, ramp, seed)
    held: list[float] = []
    rss_delta: list[float] = []
    cpu: list[float] = []
    turns: list[float] = []
    wall, used = time.monotonic(), time.process_time()
    keys = 0
    tick = 1.0
    while tick <= seconds:
        run.pool.run(until=tick)
        now_wall, now_used = time.monotonic(), time.process_time()
        if tick > ramp:  # steady state: every caller has arrived
            held.append(run.pool.active)
            rss_delta.append((rss_kib() - rss_before) / max(run.pool.active, 1))
            cpu.append(100 * (now_used - used) / (now_wall - wall))
            turns.append(len(run.lags) - keys)
        wall, used, keys = now_wall, now_used, len(run.lags)
        tick += 1.0
    late = max(0.0, clock.now() - seconds)
    return {
        "lags": run.lags,
        "held": held,
        "rss": rss_delta,
        "cpu": cpu,
        "turns": turns,
        "late": [late],
        "calls ended": [float(run.pool.finished)],
        "barge-ins": [float(run.events[EventType.BARGE_IN])],
    }


def traced_memory(flow: CallFlow, calls: int, ramp: float, seed: int) -> float:
    """Bytes per call held, by tracemalloc, on a virtual clock after ``ramp`` + 30 s."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    run = Load(flow, VirtualClock(), calls, ramp, seed)
    run.recording = False
    run.pool.run(until=ramp + 30.0)
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - before
    held = run.pool.active
    tracemalloc.stop()
    del run
    return used / held


def capacity(flow: CallFlow, calls: int, ramp: float, seed: int, span: float) -> dict[str, float]:
    """The same load on a virtual clock, as fast as it goes: what one core can drive."""
    run = Load(flow, VirtualClock(), calls, ramp, seed)
    run.pool.run(until=ramp)  # everyone has arrived
    keys, events = len(run.lags), sum(run.events.values())
    used = time.process_time()
    run.pool.run(until=ramp + span)
    used = time.process_time() - used
    return {
        "keys per cpu second": (len(run.lags) - keys) / used,
        "events per cpu second": (sum(run.events.values()) - events) / used,
        "real time factor": used / span,
    }


def figures_of(
    measured: dict[str, list[float]],
    traced: float,
    most: dict[str, float],
    calls: int,
    seconds: float,
    ramp: float,
) -> list[Figure]:
    lags_ms = [lag * 1e3 for lag in measured["lags"]] or [float("nan")]
    common = f"{calls:,} callers, {seconds:g} s, arrivals over {ramp:g} s, wallet menu"
    p = {q: percentile(lags_ms, q / 100) for q in (50, 95, 99)}
    figures = [
        Figure("turn latency p50", "ms", [p[50]], notes=[common]),
        Figure("turn latency p95", "ms", [p[95]]),
        Figure(
            "turn latency p99",
            "ms",
            [p[99]],
            target=f"<= {LATENCY_TARGET_MS:g} ms (p99)",
            met=p[99] <= LATENCY_TARGET_MS,
            notes=[f"{len(lags_ms):,} keys"],
        ),
        Figure("turn latency max", "ms", [max(lags_ms)]),
        Figure(
            "simultaneous calls held (per second, after the ramp)",
            "calls",
            measured["held"] or [0.0],
            target=f">= {calls:,} (the issue: {CALLS_TARGET:,})",
            met=bool(measured["held"]) and min(measured["held"]) >= calls,
        ),
        Figure("keys handled per second (after the ramp)", "turns/s", measured["turns"] or [0.0]),
        Figure(
            "memory per call held (RSS growth / calls)",
            "KiB",
            measured["rss"] or [float("nan")],
            target=f"<= {MEMORY_TARGET_KIB:g} KiB",
            met=bool(measured["rss"]) and max(measured["rss"]) <= MEMORY_TARGET_KIB,
        ),
        Figure(
            "memory per call held (tracemalloc)",
            "KiB",
            [traced / 1024],
            target=f"<= {MEMORY_TARGET_KIB:g} KiB",
            met=traced / 1024 <= MEMORY_TARGET_KIB,
            notes=["virtual clock, 30 s after the ramp"],
        ),
        Figure(
            "keys the pool handles per CPU second (virtual clock, same load)",
            "turns/s",
            [most["keys per cpu second"]],
            anchor=f"needed here: {statistics.median(measured['turns'] or [0.0]):.0f}/s (median)",
            notes=[f"{most['events per cpu second']:,.0f} events per CPU second"],
        ),
        Figure(
            "CPU (per second, after the ramp)",
            "% of one core",
            measured["cpu"] or [0.0],
            anchor="2 cores",
        ),
        Figure(
            "run overshoot (clock past the end when the run returned)",
            "ms",
            [measured["late"][0] * 1e3],
        ),
        Figure(
            "calls ended and replaced",
            "calls",
            measured["calls ended"],
            notes=[f"{measured['barge-ins'][0]:.0f} barge-ins"],
        ),
    ]
    return figures


def main() -> None:
    parser = arguments(__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, help=f"simultaneous callers (default {CALLS_TARGET})")
    parser.add_argument("--seconds", type=float, help="length of the real-time run (default 60)")
    parser.add_argument("--ramp", type=float, help="callers arrive over this many seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", type=Path, help="write a pyinstrument HTML profile here")
    args = parser.parse_args()
    calls = args.calls or (500 if args.quick else CALLS_TARGET)
    seconds = args.seconds or (3.0 if args.quick else 60.0)
    ramp = args.ramp if args.ramp is not None else (1.0 if args.quick else 10.0)
    if ramp >= seconds:
        parser.error("--ramp must be shorter than --seconds")
    flow = CallFlow(load(WALLET))

    def measure() -> dict[str, list[float]]:
        return real_time(flow, calls, seconds, ramp, args.seed)

    if args.profile is not None:
        from pyinstrument import Profiler

        with Profiler() as profiler:
            measured = measure()
        args.profile.write_text(profiler.output_html(), "utf-8")
    else:
        measured = measure()
    traced = traced_memory(flow, calls, ramp, args.seed)
    most = capacity(flow, calls, ramp, args.seed, span=10.0 if args.quick else 120.0)
    print(
        f"Machine: {platform.machine()}, Python {platform.python_version()}; "
        f"{calls:,} callers for {seconds:g} s; median CPU "
        f"{statistics.median(measured['cpu'] or [0.0]):.0f}% of one core\n"
    )
    report(figures_of(measured, traced, most, calls, seconds, ramp), args)


if __name__ == "__main__":
    main()
