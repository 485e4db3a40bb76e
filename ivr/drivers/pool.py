"""Many calls in one process: one clock, one heap of timers, no thread per call.

`Session` (ivr/drivers/session.py) drives one call and blocks while it waits. `CallPool` drives any
number of calls on one clock with the same rules, event by event:

- Prompts are said one after another, each reported when it starts; how long one takes
  is the ``duration`` function's (default `ivr.prompts.player.estimated_duration`).
- The no-input timer starts when the last queued prompt ends.
- A key (or an utterance) while a prompt is said stops it (barge-in) and drops the prompts
  queued after it; a hang-up stops it without a barge-in event.
- An answer (``Phase.PLAYING``) gets `PromptsFinished` once its prompts have been said.
- Events that follow prompts (a transfer, a goto after too many failures, the end of the
  call) are reported once those prompts have been said.

Per call the pool keeps the engine's `Call`, the events still to be reported (prompts
still to be said among them), the prompt being said and when it ends, and the time the
caller has been listening since. Each call waits for one thing at a time: the end of the
prompt being said, or its no-input deadline. That wait is one entry in the heap; the
caller's next action, if it has planned one before that moment, is another. An entry made
for a wait that is over (the caller pressed a key first) is dropped when it comes up.

Callers are `CallerPlan`s, asked what they will do each time a call starts to wait, as the
session asks its caller (`ScriptPlan` follows a key script exactly as the scripted caller
of ``ivr call --keys`` does; `RandomCaller` walks random paths). Inputs can also be
scheduled from outside with `CallPool.press`, `CallPool.hang_up` and `CallPool.send`.

Time: events are reported at their call time on the pool's clock (the moment they are
due), so a run on a `RealClock` that falls behind still times its calls exactly; how far
behind the pool was when it handled an input is what ``on_turn`` receives. With a
`VirtualClock` the run takes no real time at all. The pool is not thread-safe: schedule
from the thread that runs it (listeners and hooks may schedule).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from ivr.callers.scripted import ScriptedAction, parse_script
from ivr.clock import Clock, VirtualClock
from ivr.engine.events import CallEvent, EventType
from ivr.engine.flow import Call, CallFlow, Phase
from ivr.engine.inputs import (
    CallerAction,
    CallInput,
    HangUp,
    KeyPress,
    NoInput,
    PromptsFinished,
    SpeechStarted,
)
from ivr.prompts.player import estimated_duration

log = logging.getLogger(__name__)

Listener = Callable[[int, CallEvent, float], None]
"""Receives every event of every call: (call id, event, call time)."""

EndListener = Callable[[int, Call, float], None]
"""Told when a call is over, its last event reported: (call id, the call, call time)."""

TurnListener = Callable[[int, CallerAction, float, float], None]
"""Told after each caller input has been handled and what follows started:
(call id, the input, when it was due, the clock's time when done). On a real clock the
difference is the pool's processing lag; on a virtual clock it is 0."""

Plan = tuple[float, CallerAction]
"""A caller's next action and the call time at which it happens."""


class CallerPlan(Protocol):
    """One caller, asked each time the hotline starts to wait."""

    def next_input(self, now: float, until: float, listening: bool) -> Plan | None:
        """What the caller does between ``now`` and call time ``until``, if anything.

        ``listening`` is False while a prompt is being said (``until`` is its end) and
        True while the no-input timer runs (``until`` is its deadline). An action at
        ``until`` or before it is taken; a later one, or None, lets the wait run out, and
        the caller is asked again at the next wait.
        """
        ...


_START, _INPUT, _TIMER = 0, 1, 2
"""Heap entry ranks: at the same moment a call is answered, then inputs, then timers (a
key due exactly at the end of a prompt is still a barge-in, as with a session's caller)."""

_IDLE, _SAYING, _LISTENING, _CLOSING = 0, 1, 2, 3
"""What a call waits for: nothing (not answered yet, or over), the end of the prompt
being said, the no-input deadline, the last prompts after the call ended."""

_ALWAYS = -1
"""Generation of an input scheduled from outside: valid whatever the call waits for."""


class _Line:
    """The pool's state of one call (the session's fields, plus the wait)."""

    __slots__ = (
        "call",
        "caller",
        "gen",
        "id",
        "listening_since",
        "queue",
        "speaking",
        "until",
        "wait",
        "words_coming",
    )

    def __init__(self, call_id: int, caller: CallerPlan | None) -> None:
        self.id = call_id
        self.caller = caller
        self.call: Call | None = None
        self.queue: list[CallEvent] = []
        """Events still to report, prompts (still to be said) among them; short."""
        self.speaking: CallEvent | None = None
        self.until = 0.0
        """When the prompt being said ends."""
        self.listening_since = 0.0
        self.words_coming = False
        """Speech stopped an answer: its words, not the answer's end, decide what follows."""
        self.wait = _IDLE
        self.gen = 0
        """Counts the waits: entries made for an earlier wait are stale."""


_Entry = tuple[float, int, int, _Line, int, CallerAction | None]
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
    ) -> None:
        self.flow = flow
        self.clock: Clock = clock if clock is not None else VirtualClock()
        self.duration = duration
        self.listeners = list(listeners)
        self.on_end = on_end
        self.on_turn = on_turn
        self._now: float | None = None
        self._heap: list[_Entry] = []
        self._lines: dict[int, _Line] = {}
        self._ids = itertools.count()
        self._sequence = itertools.count()
        self._durations: dict[str, float] = {}
        self._timeouts = {
            node.id: node.settings.no_input_timeout for node in flow.menu.nodes.values()
        }
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

    def start(self, caller: CallerPlan | None = None, at: float | None = None) -> int:
        """Schedule a call to be answered at call time ``at`` (default: now); its id."""
        call_id = next(self._ids)
        line = _Line(call_id, caller)
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
        while True:
            self._drop_stale()
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

    def _drop_stale(self) -> None:
        """Pop the entries made for waits that are over, so no clock waits for them."""
        heap = self._heap
        while heap:
            _, rank, _, line, gen, _ = heap[0]
            if rank == _START or (line.wait != _IDLE if gen == _ALWAYS else gen == line.gen):
                return
            if gen == _ALWAYS and line.call is None:
                return  # for a call not answered yet: it is dropped when due
            heapq.heappop(heap)

    def _push(
        self, at: float, rank: int, line: _Line, gen: int, action: CallerAction | None
    ) -> None:
        heapq.heappush(self._heap, (at, rank, next(self._sequence), line, gen, action))

    # -- one call: the session's rules, event by event ---------------------------------

    def _answer(self, line: _Line) -> None:
        call, events = self.flow.start()
        line.call = call
        line.queue.extend(events)
        line.listening_since = self.now
        self.answered += 1
        self._advance(line)

    def _timer(self, line: _Line) -> None:
        """The wait ran out: the prompt ended, or the no-input deadline passed."""
        assert line.call is not None
        wait = line.wait
        if wait == _LISTENING:
            line.words_coming = False
            # Nothing said after all: a question times out, an answer was just cut short.
            playing = line.call.phase is Phase.PLAYING
            self._handle(line, PromptsFinished() if playing else NoInput())
        else:
            line.speaking = None
            if wait == _SAYING:
                line.listening_since = self.now
        self._advance(line)

    def _receive(self, line: _Line, action: CallerAction, due: float) -> None:
        wait = line.wait
        if isinstance(action, SpeechStarted):
            if wait == _SAYING:
                self._barge_in(line, action)
                line.listening_since = self.now
                line.words_coming = True  # the words follow; the prompt is stopped already
                self._advance(line)
            elif wait == _LISTENING:
                self._advance(line)  # the no-input timer runs on until words are recognized
            return
        if wait == _SAYING:
            self._barge_in(line, action)
        elif wait != _LISTENING:
            return  # not answered yet, or over: nobody is listening
        self._handle(line, action)
        self._advance(line)
        if self.on_turn is not None:
            self.on_turn(line.id, action, due, self.clock.now())

    def _advance(self, line: _Line) -> None:
        """Go on with a call until it waits: report, start prompts, handle what follows."""
        call = line.call
        assert call is not None
        queue = line.queue
        now = self.now
        while True:
            while queue and queue[0].type is not EventType.PROMPT:
                if line.speaking is not None:
                    break  # they follow the prompt being said
                self._report(line, queue.pop(0))
            if line.speaking is None and queue:
                prompt = queue.pop(0)
                self._report(line, prompt)
                line.speaking = prompt
                line.until = now + self._duration(prompt.text or "")
                continue
            if call.ended:
                if line.speaking is not None:
                    self._wait(line, _CLOSING, line.until)
                else:
                    self._close(line)
                return
            if line.speaking is not None:
                self._wait(line, _SAYING, line.until)
                return
            if call.phase is Phase.PLAYING and not line.words_coming:
                self._handle(line, PromptsFinished())
                continue
            self._wait(line, _LISTENING, line.listening_since + self._timeouts[call.state])
            return

    def _wait(self, line: _Line, wait: int, until: float) -> None:
        line.wait = wait
        line.gen += 1
        self._push(until, _TIMER, line, line.gen, None)
        if wait == _CLOSING or line.caller is None:
            return
        plan = line.caller.next_input(self.now, until, wait == _LISTENING)
        if plan is not None and plan[0] <= until:
            self._push(max(plan[0], self.now), _INPUT, line, line.gen, plan[1])

    def _handle(self, line: _Line, received: CallInput) -> None:
        call = line.call
        assert call is not None
        line.words_coming = False
        if isinstance(received, KeyPress):
            self._report(line, CallEvent(EventType.KEY, call.state, key=received.key))
        line.queue.extend(self.flow.handle(call, received))
        line.listening_since = self.now

    def _barge_in(self, line: _Line, received: CallerAction) -> None:
        """Stop the prompt being said and drop the ones queued after it."""
        stopped = line.speaking
        line.speaking = None
        if stopped is not None and not isinstance(received, HangUp):
            key = received.key if isinstance(received, KeyPress) else None
            barge = CallEvent(
                EventType.BARGE_IN,
                stopped.state,
                text=stopped.text,
                key=key,
                reason="speech" if key is None else "key",
            )
            self._report(line, barge)
        line.queue = [e for e in line.queue if e.type is not EventType.PROMPT]

    def _close(self, line: _Line) -> None:
        line.wait = _IDLE
        line.gen += 1
        del self._lines[line.id]
        self.finished += 1
        if self.on_end is not None:
            assert line.call is not None
            self.on_end(line.id, line.call, self.now)

    def _duration(self, text: str) -> float:
        seconds = self._durations.get(text)
        if seconds is None:
            seconds = self._durations[text] = self.duration(text)
        return seconds

    def _report(self, line: _Line, event: CallEvent) -> None:
        for listener in self.listeners:
            try:
                listener(line.id, event, self.now)
            except Exception:  # a broken listener must not stop the other calls
                log.exception("listener %r failed on %s", listener, event.type)


# -- callers ---------------------------------------------------------------------------


class ScriptPlan:
    """A caller following a key script (see ivr.callers.scripted), exactly as `ScriptedCaller`.

    Each key is pressed ``think_time`` after the hotline starts listening (a key that
    would come after the no-input deadline is a silence); ``!`` presses the key
    ``barge_in_delay`` into the next prompt (at most half way through it); ``_`` stays
    silent until the deadline. When the script runs out the caller hangs up as soon as
    the hotline waits for them.
    """

    __slots__ = ("actions", "barge_in_delay", "think_time")

    def __init__(self, script: str, think_time: float = 0.5, barge_in_delay: float = 1.0) -> None:
        self.actions: deque[ScriptedAction] = deque(parse_script(script))
        self.think_time = think_time
        self.barge_in_delay = barge_in_delay

    def next_input(self, now: float, until: float, listening: bool) -> Plan | None:
        if not self.actions:
            return (now, HangUp()) if listening else None
        action = self.actions[0]
        if action.key is not None and action.barge_in and not listening:
            self.actions.popleft()
            return min(now + self.barge_in_delay, (now + until) / 2), KeyPress(action.key)
        if not listening:
            return None
        self.actions.popleft()
        if action.key is None or now + self.think_time > until:
            return None  # a key due exactly at the deadline is pressed, as by ScriptedCaller
        return now + self.think_time, KeyPress(action.key)


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


class PlannedCaller:
    """A `CallerPlan` as a session's caller on a virtual clock: run the same caller alone
    in a `Session`, to compare with the pool (the tests do)."""

    def __init__(self, plan: CallerPlan, clock: VirtualClock) -> None:
        self.plan = plan
        self.clock = clock

    def expect(self, phrases: tuple[str, ...], end_of_speech: float | None) -> None:
        """Planned callers need no grammar."""

    def next_input(self, until: float, listening: bool) -> CallerAction | None:
        now = self.clock.now()
        plan = self.plan.next_input(now, until, listening)
        if plan is None or plan[0] > until:
            self.clock.sleep_until(until)
            return None
        self.clock.sleep_until(max(plan[0], now))
        return plan[1]
