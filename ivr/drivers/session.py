"""Drives one call: the clock, the caller, the prompt player and the listeners.

The engine says *what* happens; the call's timeline (ivr/drivers/timeline.py) says *when*: prompts
in order, barge-in, when the no-input timer starts, events after prompts. The session is
the timeline's loop for one call: it asks its caller what happens until the timeline's
wait runs out (blocking on a live device, or moving a virtual clock), hands it to the
timeline, and says the prompts and reports the events the timeline gives it.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol

from ivr.clock import Clock
from ivr.drivers.timeline import (
    BACKOFFICE,
    CLOSING,
    IDLE,
    LISTENING,
    QUEUE,
    SAYING,
    CallTimeline,
    perform,
)
from ivr.engine.backoffice import BackOffice, Reply, Request
from ivr.engine.events import CallEvent, Outcome
from ivr.engine.flow import Call, CallFlow
from ivr.engine.inputs import CallerAction, SpeechStarted
from ivr.errors import IvrError
from ivr.prompts.player import PromptPlayer

if TYPE_CHECKING:
    from ivr.drivers.centre import SimulatedCentre

log = logging.getLogger(__name__)

Listener = Callable[[CallEvent, float], None]
"""Receives every event with its call time: the console view and the call log."""

SPEAKING, LISTENING_NOW, RECOGNIZING, CLOSING_NOW, ENDED, WORKING = (
    "speaking",
    "listening",
    "recognizing",
    "closing",
    "ended",
    "working",
)
"""What the hotline is doing, as a `Watcher` is told it (plain words: ``ivr.outputs`` may
not import the drivers)."""


class Watcher(Protocol):
    """Follows what the call waits for, beside the events (the console's status line).

    Not a listener: a status is not an event of the call, and the call log stays as it is.
    """

    def status(self, activity: str, now: float, until: float, call: Call) -> None:
        """At call time ``now`` the hotline is ``activity`` (`SPEAKING` until the prompt's
        end, `LISTENING_NOW` until the no-input deadline, `RECOGNIZING` speech heard before
        that deadline, `CLOSING_NOW` its last words, `WORKING` the back office until its
        reply is due, `ENDED` with ``until`` = ``now``);
        ``call`` holds the node and its no-input and no-match counts. Called when any of
        these changes."""
        ...


class Caller(Protocol):
    """The caller's side of the line: a keypad, a script, a microphone, recordings."""

    def next_input(self, until: float, listening: bool) -> CallerAction | None:
        """Wait for the caller until call time ``until``.

        Returns what the caller did, with the clock at that moment, or None with the clock
        at ``until``. ``listening`` is False while a prompt is still being said.
        """
        ...

    def expect(self, phrases: tuple[str, ...], end_of_speech: float | None) -> None:
        """The phrases valid from now on, and the silence that ends an utterance here."""
        ...


class Session:
    """One call from answer to hang-up."""

    def __init__(
        self,
        flow: CallFlow,
        caller: Caller,
        player: PromptPlayer,
        clock: Clock,
        listeners: Iterable[Listener] = (),
        *,
        watchers: Iterable[Watcher] = (),
        start: str | None = None,
        speed: float = 1.0,
        backoffice: BackOffice | None = None,
        caller_id: str | None = None,
        centre: SimulatedCentre | None = None,
        keeps_audio: bool = False,
    ) -> None:
        self.flow = flow
        self.centre = centre
        """The contact centre a transfer queues in; a menu that declares one and none
        given: a simulated one with the declared load (`simulated_centre`)."""
        if centre is None and flow.menu.contact_centre is not None:
            self.centre = simulated_centre(flow)
        self.caller = caller
        self.player = player
        self.clock = clock
        self.listeners = list(listeners)
        self.watchers = list(watchers)
        self.start = start
        """The node the call begins in (None: the menu's start, after the greeting)."""
        self.speed = speed
        """Durations pass this many times faster (the timeline's rule; text-only calls)."""
        self.backoffice = backoffice
        """Performs the action nodes' requests (None: each is an ``error``)."""
        self.caller_id = caller_id
        """The calling number: the call variable ``caller_id``."""
        self.keeps_audio = keeps_audio
        """The front end writes the call's audio (``CallAudio``) after the call: only then
        is a voice message given a file reference (`CallTimeline.keeps_audio`)."""
        self._heard: tuple[tuple[str, ...], float | None] | None = None
        """The grammar and end of speech the caller was last given."""
        self._failed: list[object] = []
        """Listeners and watchers that raised: each is reported once (and still called)."""
        self._shown: tuple[object, ...] | None = None
        """The status the watchers were last told."""

    def run(self) -> Call:
        """Play the call to its end and return it (its outcome is set).

        A KeyboardInterrupt (Ctrl-C, or a signal the command turns into one) ends the call
        as the caller hanging up, so the listeners (the log) see it end, and is raised
        again: a live call treats it as the hang-up, anything else stops there.
        """
        variables = {"caller_id": self.caller_id} if self.caller_id else None
        line = CallTimeline(
            self,
            speed=self.speed,
            variables=variables,
            centre=self.centre,
            keeps_audio=self.keeps_audio,
        )
        clock, caller = self.clock, self.caller
        try:
            line.answer(clock.now(), self.start)
            self._watch(line, clock.now())
            while (wait := line.wait) is not IDLE:
                if wait is CLOSING:  # the call is over: its last prompts are said to the end
                    clock.sleep_until(line.until)
                    line.time_out(clock.now())
                    self._watch(line, clock.now())
                    continue
                until = line.until
                due = self._centre_due(line)
                early = due is not None and due < until and wait is not LISTENING
                bound = due if early and due is not None else until
                received = caller.next_input(bound, listening=wait is LISTENING)
                if received is not None:
                    line.receive(received, clock.now())
                elif not early:  # else the centre's moment came first: its news below
                    line.time_out(clock.now())
                self._centre_news(line, clock.now())
                self._watch(line, clock.now(), hearing=isinstance(received, SpeechStarted))
        except KeyboardInterrupt:
            if line.call is not None:
                line.drop(clock.now())
                self._watch(line, clock.now())
            raise
        assert line.call is not None
        return line.call

    def _centre_due(self, line: CallTimeline) -> float | None:
        """When the centre next has news while the call waits in its queue. A caller's
        turn (the callback offer) is not cut short for it: a plan asked about a shorter
        turn would take it as the whole turn."""
        queued = line.queued
        if self.centre is None or queued is None or queued.left:
            return None
        return self.centre.next_due()

    def _centre_news(self, line: CallTimeline, now: float) -> None:
        """Play the centre up to ``now`` and tell the call what concerns it."""
        queued = line.queued
        if self.centre is None or queued is None or queued.left:
            return
        from ivr.drivers.centre import Answered

        for news in self.centre.advance(now):
            if news.line is not line:
                continue
            if isinstance(news, Answered):
                line.connect(now, news.waited)
            else:
                line.moved(now, news.position)

    def _watch(self, line: CallTimeline, now: float, hearing: bool = False) -> None:
        """Tell the watchers what the call waits for now, if that changed."""
        call = line.call
        if not self.watchers or call is None:
            return
        wait = line.wait
        if wait is SAYING:
            activity, until = SPEAKING, line.until
        elif wait is LISTENING:
            activity, until = (RECOGNIZING if hearing else LISTENING_NOW), line.until
        elif wait is CLOSING:
            activity, until = CLOSING_NOW, line.until
        elif wait is BACKOFFICE or wait is QUEUE:
            activity, until = WORKING, line.until
        else:
            activity, until = ENDED, now
        shown = (activity, until, call.state, call.no_input_count, call.no_match_count)
        if shown == self._shown:
            return
        self._shown = shown
        for watcher in self.watchers:
            try:
                watcher.status(activity, now, until, call)
            except Exception as error:  # a broken view must not end the call
                self._failed_once(watcher, f"status {activity}", error)

    # -- the timeline's driver ---------------------------------------------------------

    def say(self, line: CallTimeline, text: str, now: float) -> float:
        """The player says the prompt; it ends its duration after it has started (a player
        that renders first starts late, and the prompt ends late with it)."""
        duration = self.player.start(text)
        return self.clock.now() + duration

    def hush(self, line: CallTimeline) -> None:
        self.player.stop()

    def ask(
        self, line: CallTimeline, request: Request, now: float
    ) -> tuple[Reply, float, str | None]:
        """The back office answers while the call waits: on a real clock the time it took
        counts, plus any latency the back office simulates."""
        reply, delay, reason = perform(self.backoffice, request)
        return reply, max(self.clock.now() - now, 0.0) + delay, reason

    def report(self, line: CallTimeline, event: CallEvent, now: float) -> None:
        for listener in self.listeners:
            try:
                listener(event, now)
            except Exception as error:  # a broken view must not end the call or lose the log
                self._failed_once(listener, event.type, error)

    def _failed_once(self, listener: object, what: str, error: Exception) -> None:
        """Say so once per listener: a view that fails on every event (a closed pipe, a
        gone terminal) must not bury the console in hundreds of tracebacks."""
        if any(failed is listener for failed in self._failed):
            return
        self._failed.append(listener)
        if isinstance(error, OSError):  # the environment, not a bug: one line
            log.warning("listener %r stopped working on %s: %s", listener, what, error)
        else:
            log.exception("listener %r failed on %s", listener, what)

    def changed(self, line: CallTimeline) -> None:
        """Give the caller the phrases valid now and the silence that ends an utterance here,
        when they change."""
        call = line.call
        assert call is not None
        heard = (self.flow.grammar(call), self.flow.node(call).settings.end_of_speech)
        if heard != self._heard:
            self._heard = heard
            self.caller.expect(*heard)


TIME_VARIABLE = "IVR_TIME"
"""When single calls are made, for their contact centre (``2026-03-16T14:00``)."""


def call_time() -> dt.datetime | None:
    """The moment ``$IVR_TIME`` names, or None when it is not set."""
    raw = os.environ.get(TIME_VARIABLE, "").strip()
    if not raw:
        return None
    try:
        return dt.datetime.fromisoformat(raw)
    except ValueError:
        example = "2026-03-16T14:00"
        raise IvrError(f"{TIME_VARIABLE}={raw!r} is not a date and time ({example})") from None


def simulated_centre(
    flow: CallFlow, at: dt.datetime | None = None, seed: int = 0
) -> SimulatedCentre:
    """A single call's contact centre: the menu's, with its declared load around the call,
    call time 0 being ``at`` (default: ``$IVR_TIME``, an ISO local time in the centre's
    zone, else now), so ``ivr call`` and ``ivr serve`` can be pinned to a moment."""
    from ivr.drivers.centre import SimulatedCentre
    from ivr.engine.queueing import zone

    spec = flow.menu.contact_centre
    assert spec is not None
    moment = at if at is not None else call_time() or dt.datetime.now(zone(spec.time_zone))
    return SimulatedCentre(spec, moment, random.Random(seed), background=True)


def outcome_of(call: Call) -> Outcome:
    return call.outcome or Outcome.ABANDONED
