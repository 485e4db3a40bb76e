"""Many calls in one process: one clock, one heap of timers, no thread per call.

`Session` (ivr/drivers/session.py) drives one call and blocks while it waits. `CallPool` drives any
number of calls on one clock. The rules of a call's time (prompts in order, barge-in, when
the no-input timer starts, `PromptsFinished`, events after prompts) are not here: each call
is a `CallTimeline` (ivr/drivers/timeline.py), the same as a session's, and the pool is its loop.

Each call waits for one thing at a time (the end of the prompt being said, or its no-input
deadline): that wait is one entry in the heap; the caller's next action, if it has planned
one by that moment, is another. An entry made for a wait that is over (the caller pressed
a key first) is dropped when it comes up. At the same moment inputs come before timers,
so a key due exactly when a wait ends is heard, as a session's caller is.

Callers are `CallerPlan`s, asked what they will do each time a call starts to wait, as the
session asks its caller (`ivr.callers.scripted.ScriptPlan` follows a key script exactly as
``ivr call --keys`` does; `RandomCaller` walks random paths). Inputs can also be scheduled
from outside with `CallPool.press`, `CallPool.hang_up` and `CallPool.send`. How long a
prompt takes is the ``duration`` function's (default `ivr.prompts.player.estimated_duration`).

Time: events are reported at their call time on the pool's clock (the moment they are
due), so a run on a `RealClock` that falls behind still times its calls exactly; how far
behind the pool was when it handled an input is what ``on_turn`` receives. With a
`VirtualClock` the run takes no real time at all. The pool is not thread-safe: schedule
from the thread that runs it (listeners and hooks may schedule).
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ivr.callers.plan import CallerPlan, Plan
from ivr.clock import Clock, VirtualClock
from ivr.drivers.centre import Answered
from ivr.drivers.timeline import CLOSING, IDLE, LISTENING, CallTimeline, perform
from ivr.engine.backoffice import BackOffice, Reply, Request
from ivr.engine.events import CallEvent
from ivr.engine.flow import Call, CallFlow
from ivr.engine.inputs import CallerAction, HangUp, KeyPress, SpeechStarted
from ivr.prompts.player import estimated_duration

if TYPE_CHECKING:
    from ivr.drivers.centre import SimulatedCentre

log = logging.getLogger(__name__)

DEFAULT_START = dt.datetime(2026, 3, 16, 10, 0)
"""Call time 0 of a pool's contact centre when none is given: a Monday morning."""

Listener = Callable[[int, CallEvent, float], None]
"""Receives every event of every call: (call id, event, call time)."""

EndListener = Callable[[int, Call, float], None]
"""Told when a call is over, its last event reported: (call id, the call, call time)."""

TurnListener = Callable[[int, CallerAction, float, float], None]
"""Told after each caller input has been handled and what follows started:
(call id, the input, when it was due, the clock's time when done). On a real clock the
difference is the pool's processing lag; on a virtual clock it is 0."""

_START, _INPUT, _TIMER = 0, 1, 2
"""Heap entry ranks: at the same moment a call is answered, then inputs, then timers (an
input due exactly when a wait ends is heard, as a session's caller is)."""

_ALWAYS = -1
"""Generation of an input scheduled from outside: valid whatever the call waits for."""


class _PooledCall(CallTimeline):
    """One call in the pool: its timeline, its caller and the count of its waits."""

    __slots__ = ("caller", "gen")

    def __init__(
        self,
        pool: CallPool,
        call_id: int,
        caller: CallerPlan[CallerAction] | None,
        caller_id: str | None = None,
    ) -> None:
        variables = {"caller_id": caller_id} if caller_id else None
        super().__init__(pool, call_id, variables=variables, centre=pool.centre)
        self.caller = caller
        self.gen = 0
        """Counts the waits: entries made for an earlier wait are stale."""


_Entry = tuple[float, int, int, _PooledCall, int, CallerAction | None]
"""(due, rank, sequence, line, generation, input): the sequence number makes every
entry unique, so tuples never compare further."""


class CallPool:
    """Drives many calls of one `CallFlow` on one clock."""

    def __init__(
        self,
        flow: CallFlow,
        clock: Clock | None = None,
        *,
        duration: Callable[[str], float] = estimated_duration,
        listeners: Iterable[Listener] = (),
        on_end: EndListener | None = None,
        on_turn: TurnListener | None = None,
        backoffice: BackOffice | None = None,
        centre: SimulatedCentre | None = None,
    ) -> None:
        self.flow = flow
        self.backoffice = backoffice
        self.centre = centre
        """The contact centre every call of the pool queues in (one queue, shared); a menu
        that declares one and none given: simulated from Monday 2026-03-16 10:00, with no
        load but the pool's calls."""
        if centre is None and flow.menu.contact_centre is not None:
            from ivr.drivers.centre import SimulatedCentre

            self.centre = SimulatedCentre(flow.menu.contact_centre, DEFAULT_START)
        """Performs the action nodes' requests (None: each is an ``error``)."""
        self.clock: Clock = clock if clock is not None else VirtualClock()
        self.duration = duration
        self.listeners = list(listeners)
        self.on_end = on_end
        self.on_turn = on_turn
        self._now: float | None = None
        self._heap: list[_Entry] = []
        self._lines: dict[int, _PooledCall] = {}
        self._ids = itertools.count()
        self._sequence = itertools.count()
        self._durations: dict[str, float] = {}
        self.answered = 0
        """Calls answered so far."""
        self.finished = 0
        """Calls over, their last event reported."""

    @property
    def now(self) -> float:
        """Call time of what is being (or was last) handled; the clock's before the first.

        It never goes back: an entry due earlier (the pool fell behind a real clock, or
        it was scheduled in the past) is handled at its due time or, if that is before
        the time of an entry already handled, at that time.
        """
        return self.clock.now() if self._now is None else self._now

    # -- scheduling -------------------------------------------------------------------

    def start(
        self,
        caller: CallerPlan[CallerAction] | None = None,
        at: float | None = None,
        caller_id: str | None = None,
    ) -> int:
        """Schedule a call to be answered at call time ``at`` (default: now); its id.
        ``caller_id``: the calling number (the call variable ``caller_id``)."""
        call_id = next(self._ids)
        line = _PooledCall(self, call_id, caller, caller_id)
        self._lines[call_id] = line
        self._push(self.now if at is None else at, _START, line, 0, None)
        return call_id

    def send(self, call_id: int, action: CallerAction, at: float | None = None) -> None:
        """The caller of ``call_id`` does ``action`` at call time ``at`` (default: now).

        Ignored if the call is over by then, or has not been answered yet.
        """
        line = self._lines.get(call_id)
        if line is not None:
            self._push(self.now if at is None else at, _INPUT, line, _ALWAYS, action)

    def press(self, call_id: int, key: str, at: float | None = None) -> None:
        self.send(call_id, KeyPress(key), at)

    def hang_up(self, call_id: int, at: float | None = None) -> None:
        self.send(call_id, HangUp(), at)

    # -- looking -----------------------------------------------------------------------

    @property
    def active(self) -> int:
        """Calls answered and not over."""
        return self.answered - self.finished

    @property
    def scheduled(self) -> int:
        """Calls scheduled and not over (answered or not)."""
        return len(self._lines)

    def call(self, call_id: int) -> Call | None:
        """The engine's state of a call in progress (None before it is answered or after)."""
        line = self._lines.get(call_id)
        return None if line is None else line.call

    def next_due(self) -> float | None:
        """When the next entry is due (None: nothing left to do)."""
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    # -- running ----------------------------------------------------------------------

    def run(self, until: float | None = None) -> None:
        """Handle everything due up to call time ``until`` (None: until no call is left).

        On a real clock this sleeps between entries, so it returns at ``until``.
        """
        heap = self._heap
        clock = self.clock
        pop = heapq.heappop
        centre = self.centre
        while True:
            self._drop_stale()
            if centre is not None:
                due = centre.next_due()
                if (
                    due is not None
                    and (not heap or due < heap[0][0])
                    and (until is None or due <= until)
                ):
                    clock.sleep_until(due)
                    if self._now is None or due > self._now:
                        self._now = due
                    self._centre_news(centre)
                    continue
            if not heap or (until is not None and heap[0][0] > until):
                break
            due = heap[0][0]
            clock.sleep_until(due)
            _, rank, _, line, _, action = pop(heap)
            if self._now is None or due > self._now:
                self._now = due
            if rank == _TIMER:
                self._timer(line)
            elif rank == _INPUT:
                assert action is not None
                self._receive(line, action, due)
            else:
                self._answer(line)
        if until is not None:
            clock.sleep_until(until)
            self._now = until if self._now is None else max(self._now, until)

    def _centre_news(self, centre: SimulatedCentre) -> None:
        """The centre's agents took calls, or positions changed: tell those calls."""
        now = self.now
        for news in centre.advance(now):
            line = news.line
            assert isinstance(line, _PooledCall)
            if isinstance(news, Answered):
                line.connect(now, news.waited)
                self._schedule(line)
            elif line.moved(now, news.position):
                self._schedule(line)

    def _drop_stale(self) -> None:
        """Pop the entries made for waits that are over, so no clock waits for them."""
        heap = self._heap
        while heap:
            _, rank, _, line, gen, _ = heap[0]
            if rank == _START or (line.wait is not IDLE if gen == _ALWAYS else gen == line.gen):
                return
            if gen == _ALWAYS and line.call is None:
                return  # for a call not answered yet: it is dropped when due
            heapq.heappop(heap)

    def _push(
        self, at: float, rank: int, line: _PooledCall, gen: int, action: CallerAction | None
    ) -> None:
        heapq.heappush(self._heap, (at, rank, next(self._sequence), line, gen, action))

    # -- one call: its timeline, then what it waits for ------------------------------

    def _answer(self, line: _PooledCall) -> None:
        line.answer(self.now)
        self.answered += 1
        self._schedule(line)

    def _timer(self, line: _PooledCall) -> None:
        """The wait ran out: the prompt ended, or the no-input deadline passed."""
        line.time_out(self.now)
        self._schedule(line)

    def _receive(self, line: _PooledCall, action: CallerAction, due: float) -> None:
        if not line.receive(action, self.now):
            return  # not answered yet, or over: nobody is listening
        self._schedule(line)
        if self.on_turn is not None and not isinstance(action, SpeechStarted):
            self.on_turn(line.id, action, due, self.clock.now())

    def _schedule(self, line: _PooledCall) -> None:
        """Put what the call now waits for in the heap, and its caller's next action."""
        wait = line.wait
        if wait is IDLE:
            self._close(line)
            return
        until = line.until
        line.gen += 1
        self._push(until, _TIMER, line, line.gen, None)
        if wait is CLOSING or line.caller is None:
            return
        now = self.now
        plan = line.caller.next_input(now, until, wait is LISTENING)
        if plan is not None and plan[0] <= until:
            self._push(max(plan[0], now), _INPUT, line, line.gen, plan[1])

    def _close(self, line: _PooledCall) -> None:
        line.gen += 1
        del self._lines[line.id]
        self.finished += 1
        if self.on_end is not None:
            assert line.call is not None
            self.on_end(line.id, line.call, self.now)

    # -- the timeline's driver ---------------------------------------------------------

    def say(self, line: CallTimeline, text: str, now: float) -> float:
        """Prompts take the ``duration`` function's time (cached per text)."""
        seconds = self._durations.get(text)
        if seconds is None:
            seconds = self._durations[text] = self.duration(text)
        return now + seconds

    def hush(self, line: CallTimeline) -> None:
        """Nothing to stop: the pool's prompts are only timed."""

    def ask(
        self, line: CallTimeline, request: Request, now: float
    ) -> tuple[Reply, float, str | None]:
        """The back office answers at once in the pool's time, plus any latency it
        simulates (the real time it took is the pool's lag, as for any turn)."""
        return perform(self.backoffice, request)

    def report(self, line: CallTimeline, event: CallEvent, now: float) -> None:
        for listener in self.listeners:
            try:
                listener(line.id, event, now)
            except Exception:  # a broken listener must not stop the other calls
                log.exception("listener %r failed on %s", listener, event.type)

    def changed(self, line: CallTimeline) -> None:
        """The pool's callers are plans: they need no grammar."""


# -- callers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CallerHabits:
    """How `RandomCaller`s behave; times in seconds."""

    think: tuple[float, float] = (1.0, 4.0)
    """A key this long after the prompts end (uniform)."""
    barge_in: float = 0.3
    """Chance of pressing a key while a prompt is said, rather than waiting for its end."""
    barge_in_after: tuple[float, float] = (1.0, 4.0)
    """When a barge-in comes, after the prompt starts (none if the prompt is shorter)."""
    turns: tuple[int, int] = (2, 12)
    """Keys pressed before hanging up (uniform, inclusive)."""
    keys: str = "1111222333445*#0"
    """Keys drawn from (with repeats as weights): mostly menu choices, sometimes the agent."""
    silence: float = 0.03
    """Chance of staying silent through a no-input timeout instead of pressing."""


class RandomCaller:
    """A caller who presses random keys with think times, barges in now and then, and
    hangs up after a random number of keys (while listening or in the middle of a prompt).

    ``rng`` may be shared by many callers (one process, one thread); give each its own
    seeded `random.Random` to replay a call exactly.
    """

    __slots__ = ("habits", "rng", "turns_left")

    def __init__(self, rng: random.Random, habits: CallerHabits | None = None) -> None:
        self.rng = rng
        self.habits = habits or CallerHabits()
        low, high = self.habits.turns
        self.turns_left = rng.randint(low, high)

    def next_input(self, now: float, until: float, listening: bool) -> Plan | None:
        rng, habits = self.rng, self.habits
        if listening:
            if rng.random() < habits.silence:
                return None
            at = now + rng.uniform(*habits.think)
        else:
            if rng.random() >= habits.barge_in:
                return None
            at = now + rng.uniform(*habits.barge_in_after)
            if at >= until:
                return None
        if self.turns_left <= 0:
            return at, HangUp()
        self.turns_left -= 1
        return at, KeyPress(rng.choice(habits.keys))
