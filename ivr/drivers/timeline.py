"""The call's timeline: when each thing in a call happens, the same for every driver.

The engine (ivr/engine/flow.py) says *what* happens; the timeline says *when*. It holds the
call's timing rules in one place and has no clock: each method is given the call time
``now``, reports what happens then through its `Driver`, and leaves the call waiting for
one thing (`wait`) until a call time (`until`). A `Session` (one call, blocking on live
devices or a virtual clock) and a `CallPool` (thousands of calls on one heap) both drive
it and keep only their loop: wait for the caller until ``until``, then `receive` what the
caller did or `time_out`.

The rules:

- Prompts are said one after another, each reported when it starts; how long one takes is
  the driver's to say (`Driver.say`: a player, or an estimate).
- A call's ``speed`` (text-only calls: ``ivr call --speed N``) divides every duration:
  each prompt's and the no-input timeout. At speed 1 nothing is computed differently.
- The no-input timer starts when the last queued prompt has ended.
- A key (or the start of speech) while a prompt is said stops it (barge-in) and drops the
  prompts queued after it; a hang-up stops it without a barge-in event.
- Speech that stops an answer leaves it to the words: the answer's end no longer moves the
  call on, and the no-input timer runs on until words are recognized.
- An answer (``Phase.PLAYING``) gets `PromptsFinished` once its prompts have been said.
- Events that follow prompts (a transfer, a goto after too many failures, the end of the
  call) are reported once those prompts have been said.
- What the caller does at the very moment a wait ends is still heard: a key due exactly at
  the end of a prompt is a barge-in, and a key exactly at the no-input deadline is a key
  (only one after it is silence). Drivers ask the caller before they let a wait run out.

The caller's side is a `CallerPlan`: asked each time the call starts to wait, it says what
the caller does next (a key, a hang-up, a clip of `Speech`) and at what call time. The pool
runs plans on its heap; `PlannedCaller` runs one as a session's caller on a virtual clock,
feeding speech to the recognizer 20 ms at a time. Key scripts, recorded utterances,
scenarios and the pool's random callers are all plans.
"""

from __future__ import annotations

from enum import Enum
from typing import Protocol

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
    Utterance,
)

PROMPT = EventType.PROMPT
"""Speech reaches the recognizer in chunks this long, as from a phone line."""


class Wait(Enum):
    """What a call waits for."""

    IDLE = "idle"
    """Nothing: the call is not answered yet, or it is over."""
    SAYING = "saying"
    """The end of the prompt being said; the caller may barge in."""
    LISTENING = "listening"
    """The no-input deadline; the caller's turn."""
    CLOSING = "closing"
    """The end of the last prompts of a call that has ended; nobody listens any more."""


IDLE, SAYING, LISTENING, CLOSING = Wait.IDLE, Wait.SAYING, Wait.LISTENING, Wait.CLOSING


class Driver(Protocol):
    """What a timeline needs from the loop that drives it."""

    @property
    def flow(self) -> CallFlow:
        """The hotline's rules, for every call this driver drives."""
        ...

    def say(self, line: CallTimeline, text: str, now: float) -> float:
        """Start saying a prompt at call time ``now``; the call time it will end."""
        ...

    def hush(self, line: CallTimeline) -> None:
        """Stop the prompt being said, at once: the caller barged in or hung up."""
        ...

    def report(self, line: CallTimeline, event: CallEvent, now: float) -> None:
        """One event of the call, at its call time."""
        ...

    def changed(self, line: CallTimeline) -> None:
        """The engine moved the call on (its answer, or an input) and it goes on: what the
        caller may say can have changed (a session gives its caller the new grammar)."""
        ...


class CallTimeline:
    """One call's time: what it waits for and until when. Small: a pool holds thousands."""

    __slots__ = (
        "call",
        "driver",
        "id",
        "listening_since",
        "queue",
        "speaking",
        "speed",
        "until",
        "wait",
        "words_coming",
    )

    def __init__(self, driver: Driver, call_id: int = 0, speed: float = 1.0) -> None:
        self.driver = driver
        """Says the prompts, reports the events, and holds the flow (one per driver)."""
        self.id = call_id
        """The driver's name for the call (a pool's call id)."""
        self.call: Call | None = None
        """The engine's state of the call, once answered."""
        self.queue: list[CallEvent] = []
        """Events still to report, prompts still to be said among them; short."""
        self.speaking: CallEvent | None = None
        """The prompt being said."""
        self.listening_since = 0.0
        """When the caller's turn began: the no-input timer runs from here."""
        self.words_coming = False
        """Speech stopped an answer: its words, not the answer's end, decide what follows."""
        self.wait = IDLE
        self.until = 0.0
        """When the wait runs out: the end of the prompt being said, or the deadline."""
        self.speed = speed
        """How many times faster than real time the call's durations pass (text only)."""

    @property
    def barge_in_by_speech(self) -> bool:
        """Whether speech stops a prompt (the menu's ``speech.barge_in``); keys always do."""
        return self.driver.flow.menu.speech.barge_in

    def answer(self, now: float, at: str | None = None) -> None:
        """Answer the call at ``now``: the greeting starts (or node ``at`` is entered)."""
        call, events = self.driver.flow.start(at)
        self.call = call
        self.queue.extend(events)
        self.listening_since = now
        self.driver.changed(self)
        self._advance(now)

    def receive(self, action: CallerAction, now: float) -> bool:
        """The caller did ``action`` at ``now``; False if nobody heard it (the call is not
        answered yet, or it is over), and nothing changed."""
        wait = self.wait
        if wait is SAYING:
            if isinstance(action, SpeechStarted | Utterance) and not self.barge_in_by_speech:
                return False  # the menu turns speech barge-in off: words over a prompt
            self._barge_in(action, now)
            if isinstance(action, SpeechStarted):
                self.listening_since = now
                self.words_coming = True  # the words follow; the prompt is stopped already
                self._advance(now)
                return True
        elif wait is not LISTENING:
            return False
        elif isinstance(action, SpeechStarted):
            self._advance(now)  # the no-input timer runs on until words are recognized
            return True
        self._handle(action, now)
        self._advance(now)
        return True

    def time_out(self, now: float) -> None:
        """The wait ran out at ``now``: the prompt ended, or the no-input deadline passed."""
        wait = self.wait
        if wait is LISTENING:
            assert self.call is not None
            self.words_coming = False
            # Nothing said after all: a question times out, an answer was just cut short.
            playing = self.call.phase is Phase.PLAYING
            self._handle(PromptsFinished() if playing else NoInput(), now)
        elif wait is SAYING:
            self.speaking = None
            self.listening_since = now
        elif wait is CLOSING:
            self.speaking = None
        else:
            return
        self._advance(now)

    def drop(self, now: float) -> None:
        """The line went dead (Ctrl-C in a live call): the prompt stops and the call ends
        as the caller's hang-up, its events reported and nothing more said."""
        self.driver.hush(self)
        call = self.call
        if call is not None and not call.ended:
            for event in self.driver.flow.handle(call, HangUp()):
                if event.type is not PROMPT:
                    self.driver.report(self, event, now)
        self.speaking = None
        self.queue = []
        self.wait = IDLE

    def _advance(self, now: float) -> None:
        """Go on with the call until it waits: report, start prompts, handle what follows."""
        call = self.call
        assert call is not None
        queue = self.queue
        driver = self.driver
        while True:
            while queue and queue[0].type is not PROMPT:
                if self.speaking is not None:
                    break  # they follow the prompt being said
                driver.report(self, queue.pop(0), now)
            if self.speaking is None and queue:
                prompt = queue.pop(0)
                driver.report(self, prompt, now)
                self.speaking = prompt
                end = driver.say(self, prompt.text or "", now)
                self.until = end if self.speed == 1.0 else now + (end - now) / self.speed
                continue
            if call.ended:
                self.wait = IDLE if self.speaking is None else CLOSING
                return
            if self.speaking is not None:
                self.wait = SAYING
                return
            if call.phase is Phase.PLAYING and not self.words_coming:
                self._handle(PromptsFinished(), now)
                continue
            self.wait = LISTENING
            timeout = self.driver.flow.node(call).settings.no_input_timeout
            self.until = self.listening_since + timeout / self.speed
            return

    def _handle(self, received: CallInput, now: float) -> None:
        call = self.call
        assert call is not None
        self.words_coming = False
        if isinstance(received, KeyPress):
            key = CallEvent(EventType.KEY, call.state, key=received.key)
            self.driver.report(self, key, now)
        self.queue.extend(self.driver.flow.handle(call, received))
        self.listening_since = now
        if not call.ended:
            self.driver.changed(self)

    def _barge_in(self, received: CallerAction, now: float) -> None:
        """Stop the prompt being said and drop the ones queued after it."""
        self.driver.hush(self)
        stopped = self.speaking
        self.speaking = None
        if stopped is not None and not isinstance(received, HangUp):
            key = received.key if isinstance(received, KeyPress) else None
            barge = CallEvent(
                EventType.BARGE_IN,
                stopped.state,
                text=stopped.text,
                key=key,
                reason="speech" if key is None else "key",
            )
            self.driver.report(self, barge, now)
        self.queue = [event for event in self.queue if event.type is not PROMPT]
