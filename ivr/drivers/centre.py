"""A simulated contact centre: agents answering one queue, first come first served.

The menu declares the centre (``contact_centre:``); this is its simulation on call time,
shared by every call of a `CallPool` (each call a real caller) or, for a single call
(`Session`), filled with callers of its own from the declared ``calls_per_hour`` so the
one real caller meets a realistic queue. It has no clock: the driver says what the time is
(`advance`) and asks when it next has news (`next_due`).

The rules:

- Agents on duty follow the declared hours and time-of-day table (``agents_at``); call time
  0 is ``start`` (a local date and time). An agent handles a call for an exponentially
  distributed time with the declared mean (the Erlang C model's assumption), then takes the
  head of the queue.
- A caller who asks for an agent outside business hours hears ``closed`` (with the next
  opening); one who finds ``max_queue`` callers waiting hears ``full``; one who finds a free
  agent and nobody waiting is answered at once (an ``agent`` event after 0 s); anyone else
  joins the end of the queue and hears their position and the estimate
  (`ivr.engine.queueing.position_wait`).
- A caller who leaves (hangs up, takes a callback) moves everyone behind them up; each
  waiting caller whose position changed is told (`advance` returns it), so the timeline
  can announce it.
- The single call's simulated callers are patient. Their arrivals start an hour of call time
  before the real call (``warmup``), so the queue it meets is in its steady state.
"""

from __future__ import annotations

import datetime as dt
import heapq
import random
from collections import deque
from dataclasses import dataclass

from ivr.engine import queueing
from ivr.engine.inputs import QueueNews
from ivr.menu.model import WEEKDAYS, ContactCentre

WARMUP = 3600.0
"""Seconds of simulated load before call time 0 in a single call's centre."""


@dataclass(slots=True)
class _Waiter:
    line: object | None
    """The call's timeline; None for a simulated caller of the background load."""
    joined: float
    told: int = 0
    """The position the call was last told (0: none yet)."""


@dataclass(frozen=True, slots=True)
class Answered:
    """An agent took ``line`` at call time ``at`` after ``waited`` seconds."""

    line: object
    at: float
    waited: float


@dataclass(frozen=True, slots=True)
class Moved:
    """``line`` is now at ``position`` (1: next)."""

    line: object
    position: int


class SimulatedCentre:
    """Agents and one FIFO queue on call time (see the module's rules)."""

    def __init__(
        self,
        spec: ContactCentre,
        start: dt.datetime,
        rng: random.Random | None = None,
        *,
        background: bool = False,
    ) -> None:
        self.spec = spec
        self.start = queueing.local(spec, start)
        self.rng = rng or random.Random(0)
        self.background = background
        """Simulate the declared load around the real calls (a single call's centre)."""
        self._now = -WARMUP if background else 0.0
        self._free: list[float] = []
        """When each busy agent is free again (a heap)."""
        self._waiting: deque[_Waiter] = deque()
        self._arrival: float | None = None
        self._dirty = False
        """Someone left the queue: positions changed, to be told at the next `advance`."""
        self._news: list[Answered | Moved] = []
        self._capacity_cache: tuple[float, float, int] = (1.0, 0.0, 0)
        """(from, until, agents): the agents on duty over a span of call time."""
        self.answered = 0
        """Real calls answered by an agent."""
        if background:
            self._arrival = self._next_arrival(self._now)

    # -- time --------------------------------------------------------------------------------

    def moment(self, now: float) -> dt.datetime:
        """The local date and time at call time ``now``."""
        return self.start + dt.timedelta(seconds=now)

    def agents(self, now: float) -> int:
        """Agents on duty at call time ``now`` (cached until the next change of the tables)."""
        since, until, count = self._capacity_cache
        if since <= now < until:
            return count
        count = queueing.agents_at(self.spec, self.moment(now))
        until = now + self._seconds_to_change(now)
        self._capacity_cache = (now, until, count)
        return count

    def _seconds_to_change(self, now: float) -> float:
        """Seconds from ``now`` to the next time of day the agents or hours may change."""
        here = self.moment(now)
        minute = here.hour * 60 + here.minute + here.second / 60 + here.microsecond / 6e7
        spec = self.spec
        marks = {start for start, _ in spec.agents} | {start for start, _ in spec.calls_per_hour}
        for start, end in spec.hours.get(WEEKDAYS[here.weekday()], ()):
            marks |= {start, end}
        later = [mark for mark in marks if mark > minute + 1e-9]
        return (min(later, default=1440) - minute) * 60

    def _next_arrival(self, after: float) -> float | None:
        """The next simulated caller after ``after`` (thinned Poisson over the day's load)."""
        at = after
        for _ in range(10_000):
            peak = max((rate for _, rate in self.spec.calls_per_hour), default=0.0)
            if peak <= 0:
                return None
            at += self.rng.expovariate(peak / 3600)
            rate = queueing.calls_per_hour_at(self.spec, self.moment(at))
            if self.rng.random() * peak < rate:
                return at
        return None

    # -- the queue ---------------------------------------------------------------------------

    def join(self, line: object, now: float) -> QueueNews:
        """``line`` asks for an agent at ``now``: closed, full, answered at once, or queued.
        What happened to the others by then stays for the next `advance`."""
        self._news = self.advance(now)
        moment = self.moment(now)
        if not queueing.is_open(self.spec, moment):
            opens = queueing.next_opening(self.spec, moment)
            said = None if opens is None else queueing.say_opening(opens, moment)
            return QueueNews("closed", opens=said)
        if not self._waiting and len(self._free) < self.agents(now):
            self._take(now)
            self.answered += 1
            return QueueNews("agent", seconds=0.0)
        if len(self._waiting) >= self.spec.max_queue:
            return QueueNews("full")
        self._waiting.append(_Waiter(line, now))
        position = len(self._waiting)
        self._waiting[-1].told = position
        return QueueNews("enter", position, round(self.estimate(position, now), 3))

    def leave(self, line: object, now: float) -> None:
        """``line`` leaves the queue (hung up, or took a callback); the others move up."""
        for index, waiter in enumerate(self._waiting):
            if waiter.line is line:
                del self._waiting[index]
                self._dirty = index < len(self._waiting) or self._dirty
                return

    def position(self, line: object) -> int | None:
        """Where ``line`` waits (1: next), or None."""
        for index, waiter in enumerate(self._waiting):
            if waiter.line is line:
                return index + 1
        return None

    def estimate(self, position: int, now: float) -> float:
        """Expected seconds until an agent takes the caller at ``position`` (Erlang C's
        model: every agent busy, departures at agents / handle time)."""
        return queueing.position_wait(position, self.agents(now), self.spec.handle_time)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def next_due(self) -> float | None:
        """When the centre next has news (an agent free with someone waiting, a caller of
        the background load, a change of shift, positions to tell); None: nothing to do."""
        if self._dirty or self._news:
            return self._now
        due: list[float] = []
        if self._arrival is not None:
            due.append(self._arrival)
        if self._waiting:
            if len(self._free) < self.agents(self._now):
                due.append(self._now)
            elif self._free:
                due.append(self._free[0])
            until = self._capacity_cache[1]
            due.append(until)
        elif self._free and self.background:
            due.append(self._free[0])
        return min(due) if due else None

    def advance(self, now: float) -> list[Answered | Moved]:
        """Play the centre up to call time ``now``: agents free up and take the head of the
        queue, simulated callers arrive. The real calls answered, in order, and then those
        whose position changed."""
        news = self._news
        while True:
            step = self._step_due(now)
            if step is None:
                break
            self._now = step
            self._settle(step)
        self._now = max(self._now, now)
        self._settle(self._now)
        for index, waiter in enumerate(self._waiting):
            position = index + 1
            if waiter.line is not None and waiter.told != position:
                waiter.told = position
                news.append(Moved(waiter.line, position))
        self._dirty = False
        self._news = []
        return news

    def _step_due(self, now: float) -> float | None:
        """The next moment up to ``now`` at which something happens, or None."""
        candidates = []
        if self._free and self._free[0] <= now:
            candidates.append(self._free[0])
        if self._arrival is not None and self._arrival <= now:
            candidates.append(self._arrival)
        if self._waiting:
            _, until, _ = self._capacity_cache
            if until <= now:
                candidates.append(until)
        step = min(candidates, default=None)
        return None if step is None or step < self._now - 1e-9 else max(step, self._now)

    def _settle(self, now: float) -> None:
        """At ``now``: free the agents done, let simulated callers in, take waiting calls."""
        free = self._free
        while free and free[0] <= now:
            heapq.heappop(free)
        while self._arrival is not None and self._arrival <= now:
            if len(self._waiting) < self.spec.max_queue:  # a full queue turns them away
                self._waiting.append(_Waiter(None, self._arrival))
            self._arrival = self._next_arrival(self._arrival)
        capacity = self.agents(now)
        while self._waiting and len(free) < capacity:
            waiter = self._waiting.popleft()
            self._take(now)
            if waiter.line is not None:
                self.answered += 1
                self._news.append(Answered(waiter.line, now, now - waiter.joined))

    def _take(self, now: float) -> None:
        heapq.heappush(self._free, now + self.rng.expovariate(1 / self.spec.handle_time))
