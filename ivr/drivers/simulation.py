"""``ivr simulate``: a caller population through a menu on a virtual clock.

Callers (`PopulationCaller`) arrive at random at the population's rate and are placed in
one `CallPool`: the real engine, timers, the menu's contact centre (one queue shared by
every call, `SimulatedCentre`) and the in-memory back office (its demo data). Each call's
events are written as one block of JSON lines, every line with the call's id (``call``) and
its call time (``t``, seconds since that call was answered); the call's ``call-start`` line
also has ``at``, seconds from the start of the simulation (docs/call-log.md). The same seed
gives the same callers, in the same order, with the same habits, through any menu: that is
what ``--compare`` compares.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from ivr.clock import VirtualClock
from ivr.drivers.centre import SimulatedCentre
from ivr.drivers.memory import demo
from ivr.drivers.pool import CallPool
from ivr.drivers.population import AGENT, Population, PopulationCaller, key_paths
from ivr.engine.events import CallEvent, EventType, Outcome
from ivr.engine.flow import Call, CallFlow
from ivr.menu.model import Menu

SERVICE_SECONDS = 20.0
"""The service level's threshold: answered within this many seconds in the queue."""

BATCH = 1000
"""Callers placed in the pool at a time (the pool holds only the calls in progress)."""


@dataclass
class Summary:
    """What a simulation measured."""

    menu: str
    calls: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    offered: int = 0
    """Calls that reached the agents: a free agent at once, or the queue."""
    queued: int = 0
    """Calls that joined the queue."""
    answered: int = 0
    """Calls an agent took (at once or after a wait)."""
    answered_in_time: int = 0
    """Of those, within ``SERVICE_SECONDS``."""
    wait_total: float = 0.0
    """Seconds in the queue of the calls answered."""
    abandoned_in_queue: int = 0
    callbacks: int = 0
    closed: int = 0
    full: int = 0
    reached: Counter[str] = field(default_factory=Counter)
    """Intent target -> calls that reached it."""
    time_to_reach: dict[str, float] = field(default_factory=dict)
    """Intent target -> total seconds from answer to reaching it."""
    wall: float = 0.0
    """Seconds the simulation took here."""

    @property
    def contained(self) -> int:
        """Calls that ended without an agent or a callback."""
        return self.calls - self.outcomes[Outcome.TRANSFERRED] - self.outcomes[Outcome.CALLBACK]

    @property
    def mean_wait(self) -> float:
        return self.wait_total / self.answered if self.answered else 0.0

    @property
    def service_level(self) -> float:
        """Answered within ``SERVICE_SECONDS`` over the calls offered to the agents (a call
        abandoned in the queue or called back was not answered in time), as ``ivr report``
        counts it (docs/call-log.md: an ``agent`` event with 0 s is a free agent at once)."""
        return self.answered_in_time / self.offered if self.offered else 0.0

    def rows(self) -> list[tuple[str, str]]:
        """The summary as (measure, value) rows."""
        calls = max(self.calls, 1)

        def share(count: int) -> str:
            return f"{count:,} ({100 * count / calls:.1f} %)"

        rows = [
            ("calls", f"{self.calls:,}"),
            ("contained (no agent)", share(self.contained)),
            *[(f"outcome {name}", share(self.outcomes[name])) for name in sorted(self.outcomes)],
            ("offered to the agents", share(self.offered)),
            ("joined the queue", share(self.queued)),
            ("answered by an agent", share(self.answered)),
            ("mean wait for an agent", f"{self.mean_wait:.1f} s"),
            (f"service level ({SERVICE_SECONDS:g} s)", f"{100 * self.service_level:.1f} %"),
            ("abandoned in the queue", share(self.abandoned_in_queue)),
            ("callbacks", share(self.callbacks)),
            ("closed / queue full", f"{self.closed:,} / {self.full:,}"),
        ]
        for target in sorted(self.reached):
            count = self.reached[target]
            mean = self.time_to_reach[target] / count
            rows.append((f"reached {target}", f"{count:,}, after {mean:.1f} s"))
        rows.append(("calls per second (here)", f"{self.calls / max(self.wall, 1e-9):,.0f}"))
        return rows


def simulate(
    menu: Menu,
    population: Population,
    calls: int,
    seed: int = 0,
    log: IO[str] | None = None,
) -> Summary:
    """Run ``calls`` callers of ``population`` through ``menu``; the summary, and each
    call's events as JSON lines into ``log``."""
    began = time.perf_counter()
    flow = CallFlow(menu)
    paths = key_paths(menu, population)
    spec = menu.contact_centre
    centre = (
        SimulatedCentre(spec, population.start, random.Random(seed + 1))
        if spec is not None
        else None
    )
    summary = Summary(str(menu.path))
    events: dict[int, list[tuple[float, CallEvent]]] = {}
    starts: dict[int, float] = {}
    targets: dict[int, str] = {}

    def listen(call_id: int, event: CallEvent, now: float) -> None:
        events[call_id].append((now, event))

    if log is not None:

        def ended_logged(call_id: int, call: Call, now: float) -> None:
            records = events.pop(call_id)
            _account(summary, records, starts[call_id], targets.pop(call_id), call)
            _write(log, call_id, starts.pop(call_id), records)

        on_end = ended_logged
    else:

        def ended_plain(call_id: int, call: Call, now: float) -> None:
            _account(summary, events.pop(call_id), starts.pop(call_id), targets.pop(call_id), call)

        on_end = ended_plain
    pool = CallPool(
        flow, VirtualClock(), listeners=[listen], on_end=on_end, backoffice=demo(), centre=centre
    )
    rng = random.Random(seed)
    start_keys = menu.nodes[menu.start].options
    wrong = "".join(k for k in "123456789" if k not in start_keys and k not in menu.global_keys)
    callback_key = spec.callback_key if spec is not None else None
    weights = [intent.share for intent in population.intents]
    mean_gap = 3600 / population.arrivals_per_hour
    arrival = 0.0
    placed = 0
    while placed < calls:
        for _ in range(min(BATCH, calls - placed)):
            arrival += rng.expovariate(1 / mean_gap)
            intent = rng.choices(population.intents, weights)[0]
            caller_rng = random.Random(rng.getrandbits(64))
            phone = f"13{rng.randrange(10**9):09d}"
            plan = PopulationCaller(
                population,
                paths[intent.target],
                caller_rng,
                arrival,
                wrong,
                callback_key if intent.target == AGENT else None,
            )
            call_id = pool.start(plan, at=arrival, caller_id=phone)
            events[call_id] = []
            starts[call_id] = arrival
            targets[call_id] = intent.target
            placed += 1
        pool.run(until=arrival)
    pool.run()
    summary.wall = time.perf_counter() - began
    return summary


def _account(
    summary: Summary,
    records: list[tuple[float, CallEvent]],
    start: float,
    target: str,
    call: Call,
) -> None:
    summary.calls += 1
    summary.outcomes[str(call.outcome or Outcome.ABANDONED)] += 1
    reached = offered = False
    for moment, event in records:
        kind = event.type
        if kind is EventType.STATE and event.state == target and not reached:
            reached = True
            summary.reached[target] += 1
            summary.time_to_reach[target] = summary.time_to_reach.get(target, 0.0) + moment - start
        elif kind is EventType.QUEUE:
            if event.reason == "enter":
                summary.queued += 1
                offered = True
            elif event.reason == "closed":
                summary.closed += 1
            elif event.reason == "full":
                summary.full += 1
        elif kind is EventType.AGENT:
            offered = True
            waited = event.seconds or 0.0
            summary.answered += 1
            summary.wait_total += waited
            summary.answered_in_time += waited <= SERVICE_SECONDS
            if target == AGENT and not reached:
                reached = True
                summary.reached[target] += 1
                summary.time_to_reach[target] = (
                    summary.time_to_reach.get(target, 0.0) + moment - start
                )
        elif kind is EventType.CALLBACK:
            summary.callbacks += 1
        elif kind is EventType.HANGUP and event.seconds is not None:
            summary.abandoned_in_queue += 1
    summary.offered += offered


def _write(
    log: IO[str], call_id: int, start: float, records: list[tuple[float, CallEvent]]
) -> None:
    name = str(call_id)
    lines = []
    for moment, event in records:
        record: dict[str, object] = {"call": name, "t": round(moment - start, 3)}
        record.update(event.to_record())
        if event.type is EventType.CALL_START:
            record["at"] = round(start, 3)
        lines.append(json.dumps(record, ensure_ascii=False))
    log.write("\n".join(lines) + "\n")


def write_summary(summaries: list[Summary]) -> str:
    """One or two summaries as a plain table, side by side."""
    names = ["measure", *[Path(s.menu).name for s in summaries]]
    table = [names]
    rows = [dict(s.rows()) for s in summaries]
    measures = list(dict.fromkeys(name for s in summaries for name, _ in s.rows()))
    for measure in measures:
        table.append([measure, *[row.get(measure, "-") for row in rows]])
    widths = [max(_width(row[i]) for row in table) for i in range(len(names))]
    return "\n".join(
        "  ".join(cell + " " * (widths[i] - _width(cell)) for i, cell in enumerate(row)).rstrip()
        for row in table
    )


def _width(text: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
