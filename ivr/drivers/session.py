"""Drives one call: the clock, the caller, the engine, the prompt player and the listeners.

The engine says *what* happens; the session decides *when*. Prompts are said one after
another; each is reported to the listeners when it starts. The no-input timer starts when
the last prompt has finished. A key pressed while a prompt plays stops it at once
(barge-in) and the rest of the queued prompts are dropped. Events that follow prompts in
the engine's answer (a transfer, the end of the call) are reported once those prompts
have been said.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable
from typing import Protocol

from ivr.clock import Clock
from ivr.engine.events import CallEvent, EventType, Outcome
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
from ivr.prompts.player import PromptPlayer

log = logging.getLogger(__name__)

Listener = Callable[[CallEvent, float], None]
"""Receives every event with its call time: the console view and the call log."""


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
    ) -> None:
        self.flow = flow
        self.caller = caller
        self.player = player
        self.clock = clock
        self.listeners = list(listeners)
        self._queue: deque[CallEvent] = deque()
        self._speaking: CallEvent | None = None
        self._speaking_until = 0.0
        self._listening_since = 0.0
        self._grammar: tuple[str, ...] = ()
        self._words_coming = False
        """Speech stopped an answer: its words, not the answer's end, decide what follows."""
        self._end_of_speech: float | None = None
        self._failed: list[Listener] = []
        """Listeners that raised: each is reported once (and still called)."""

    def run(self) -> Call:
        """Play the call to its end and return it (its outcome is set).

        A KeyboardInterrupt (Ctrl-C, or a signal the command turns into one) ends the call
        as the caller hanging up, so the listeners (the log) see it end, and is raised
        again: a live call treats it as the hang-up, anything else stops there.
        """
        call, events = self.flow.start()
        self._queue.extend(events)
        self._grammar = self.flow.grammar(call)
        self._end_of_speech = self.flow.node(call).settings.end_of_speech
        self.caller.expect(self._grammar, self._end_of_speech)
        try:
            while self._step(call):
                pass
        except KeyboardInterrupt:
            self.player.stop()
            if not call.ended:
                self._report_all(self.flow.handle(call, HangUp()))
            raise
        return call

    def _step(self, call: Call) -> bool:
        """Advance the call by one thing: a prompt, an event or an input. False at the end."""
        self._report_until_prompt()
        if self._speaking is None and self._queue:
            self._start_prompt(self._queue.popleft())
            return True
        if call.ended:
            if self._speaking is not None:
                self.clock.sleep_until(self._speaking_until)
                self._speaking = None
                return True
            return False
        if self._speaking is not None:
            received = self.caller.next_input(self._speaking_until, listening=False)
            if received is None:
                self._speaking = None
                self._listening_since = self.clock.now()
                return True
            self._barge_in(received)
            if isinstance(received, SpeechStarted):
                self._listening_since = self.clock.now()
                self._words_coming = True
                return True  # the words follow; the prompt is stopped already
        elif call.phase is Phase.PLAYING and not self._words_coming:
            self._handle(call, PromptsFinished())
            return True
        else:
            deadline = self._listening_since + self.flow.node(call).settings.no_input_timeout
            received = self.caller.next_input(deadline, listening=True)
            if received is None:
                self._words_coming = False
                # Nothing said after all: a question times out, an answer was just cut short.
                self._handle(call, PromptsFinished() if call.phase is Phase.PLAYING else NoInput())
                return True
            if isinstance(received, SpeechStarted):
                return True  # the no-input timer runs on until words are recognized
        self._handle(call, received)
        return True

    def _handle(self, call: Call, received: CallInput) -> None:
        self._words_coming = False
        if isinstance(received, KeyPress):
            self._report(CallEvent(EventType.KEY, call.state, key=received.key))
        self._queue.extend(self.flow.handle(call, received))
        self._listening_since = self.clock.now()
        if call.ended:
            return
        grammar = self.flow.grammar(call)
        end_of_speech = self.flow.node(call).settings.end_of_speech
        if (grammar, end_of_speech) != (self._grammar, self._end_of_speech):
            self._grammar, self._end_of_speech = grammar, end_of_speech
            self.caller.expect(grammar, end_of_speech)

    def _start_prompt(self, event: CallEvent) -> None:
        self._report(event)
        duration = self.player.start(event.text or "")
        self._speaking = event
        self._speaking_until = self.clock.now() + duration

    def _barge_in(self, received: CallerAction) -> None:
        """Stop the prompt being said and drop the ones queued after it."""
        self.player.stop()
        stopped = self._speaking
        self._speaking = None
        if stopped is not None and not isinstance(received, HangUp):
            key = received.key if isinstance(received, KeyPress) else None
            barge = CallEvent(
                EventType.BARGE_IN,
                stopped.state,
                text=stopped.text,
                key=key,
                reason="speech" if key is None else "key",
            )
            self._report(barge)
        self._queue = deque(e for e in self._queue if e.type is not EventType.PROMPT)

    def _report_until_prompt(self) -> None:
        """Report queued events up to the next prompt; they happen now."""
        while self._queue and self._queue[0].type is not EventType.PROMPT:
            if self._speaking is not None:
                return  # they follow the prompt being said
            self._report(self._queue.popleft())

    def _report_all(self, events: Iterable[CallEvent]) -> None:
        for event in events:
            if event.type is not EventType.PROMPT:
                self._report(event)

    def _report(self, event: CallEvent) -> None:
        moment = self.clock.now()
        for listener in self.listeners:
            try:
                listener(event, moment)
            except Exception as error:  # a broken view must not end the call or lose the log
                self._listener_failed(listener, event, error)

    def _listener_failed(self, listener: Listener, event: CallEvent, error: Exception) -> None:
        """Say so once per listener: a view that fails on every event (a closed pipe, a
        gone terminal) must not bury the console in hundreds of tracebacks."""
        if any(failed is listener for failed in self._failed):
            return
        self._failed.append(listener)
        if isinstance(error, OSError):  # the environment, not a bug: one line
            log.warning("listener %r stopped working on %s: %s", listener, event.type, error)
        else:
            log.exception("listener %r failed on %s", listener, event.type)


def outcome_of(call: Call) -> Outcome:
    return call.outcome or Outcome.ABANDONED
