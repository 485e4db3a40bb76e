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
- In a collect node the caller's turn is timed by the first-digit timeout until a digit
  comes (default: the no-input timeout), then by the inter-digit timeout from each digit;
  when it runs out with digits typed the entry is over (the engine takes it), without
  any, it is a no-input.
- An action node's request is performed by the driver (`Driver.ask`) when the prompts
  before it have been said; the call waits for the back office (`Wait.BACKOFFICE`) until
  the reply's call time, or the node's ``timeout`` (then the result is ``error``). If the
  reply takes longer than ``hold_after``, the ``hold_prompt`` is said then, and the reply
  is taken once it has been said. Keys and speech meanwhile are not heard (the hotline is
  busy); a hang-up is.
- A record node's recording starts when its prompt and beep have been said (speech over
  them is not heard: the caller waits for the beep; a key cuts them short). It is the
  caller's turn (`Wait.LISTENING`) and ends at the first of: the terminator key, the
  final silence after the caller's last words (`Utterance`; a `SpeechStarted` holds it
  open), the maximum length, or, with nothing said, the node's no-input timeout (then
  ``no-input``). The skip key is heard until the caller has spoken; other keys are
  logged and do nothing. A hang-up ends it first (``hangup``), then the call.
- Every event is reported masked (`CallEvent.masked`): what a sensitive entry keyed or
  said never leaves the timeline in clear, and a request's values never leave it at all.

The caller's side is a `CallerPlan`: asked each time the call starts to wait, it says what
the caller does next (a key, a hang-up, a clip of `Speech`) and at what call time. The pool
runs plans on its heap; `PlannedCaller` runs one as a session's caller on a virtual clock,
feeding speech to the recognizer 20 ms at a time. Key scripts, recorded utterances,
scenarios and the pool's random callers are all plans.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import replace
from enum import Enum
from typing import Protocol

from ivr.engine.backoffice import ERROR, BackOffice, BackOfficeUnavailable, Reply, Request, Value
from ivr.engine.events import CallEvent, EventType, PromptKind
from ivr.engine.flow import REQUEST_CALLBACK, Call, CallFlow, Phase
from ivr.engine.inputs import (
    BackOfficeReply,
    CallerAction,
    CallInput,
    HangUp,
    KeyPress,
    NoInput,
    PromptsFinished,
    QueueNews,
    RecordingOver,
    SpeechStarted,
    Utterance,
)
from ivr.menu.model import BACKOFFICE_TIMEOUT, HOLD_AFTER, Record

log = logging.getLogger(__name__)

PROMPT = EventType.PROMPT
REQUEST = EventType.REQUEST


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
    BACKOFFICE = "backoffice"
    """The back office's reply (or the hold prompt's time); the caller can only hang up."""
    QUEUE = "queue"
    """An agent, on hold: until the next announcement, offer or hold prompt, or the centre's
    news (`CallTimeline.connect`, `moved`). The caller can hang up, and once a callback is
    offered press its key."""


IDLE, SAYING, LISTENING, CLOSING = Wait.IDLE, Wait.SAYING, Wait.LISTENING, Wait.CLOSING
BACKOFFICE, QUEUE = Wait.BACKOFFICE, Wait.QUEUE

_QUEUE_WAITS = frozenset({Phase.QUEUED, Phase.OFFERED})


class Centre(Protocol):
    """The contact centre a call queues in (`ivr.drivers.centre.SimulatedCentre`)."""

    def join(self, line: object, now: float) -> QueueNews:
        """``line`` asks for an agent at ``now``: closed, full, an agent at once, or queued."""
        ...

    def leave(self, line: object, now: float) -> None:
        """``line`` leaves the queue (hung up, or a callback stored)."""
        ...

    def estimate(self, position: int, now: float) -> float:
        """The expected wait in seconds at ``position`` (1: next)."""
        ...


class InQueue:
    """A call's place in the queue, as the timeline times it."""

    __slots__ = (
        "announced",
        "hold_at",
        "joined",
        "left",
        "next_announce",
        "offer_at",
        "offer_turn",
        "position",
    )

    def __init__(self, joined: float, position: int) -> None:
        self.joined = joined
        self.position = position
        """Where the call waits now (1: next), as the centre last said."""
        self.announced = position
        """The position last announced."""
        self.next_announce = joined
        self.offer_at: float | None = None
        """When the callback offer is due (None: made, or never)."""
        self.hold_at: float | None = None
        """When the hold prompt is due (None: none before the next announcement)."""
        self.offer_turn = False
        """The callback offer was just said: the caller's turn, one no-input timeout."""
        self.left = False
        """The centre no longer holds the call (answered, or told it left)."""


_WAITED = frozenset({EventType.HANGUP, EventType.CALLBACK})


class Recording:
    """A record node's recording in progress, as the timeline times it."""

    __slots__ = ("heard", "speaking", "start", "voice_end")

    def __init__(self, start: float) -> None:
        self.start = start
        """When the recording began: the end of the beep."""
        self.heard = False
        """The caller has spoken (speech started, or words recognized)."""
        self.speaking = False
        """Speech started and its words have not ended yet: no silence is counted."""
        self.voice_end = start
        """When the caller's last words ended: the final silence runs from here."""

    def deadline(self, record: Record, no_input: float, speed: float) -> float:
        """When the recording ends unless the caller acts: the maximum length, the final
        silence after the last words, or (nothing said yet) the no-input timeout."""
        longest = self.start + record.max_length / speed
        if self.speaking:
            return longest
        if self.heard:
            return min(longest, self.voice_end + record.final_silence / speed)
        return min(longest, self.start + no_input / speed)

    def ended_by(self, record: Record, now: float, speed: float) -> tuple[str, float]:
        """Why the recording ended at its deadline ``now``, and the message's length: a
        message ended by silence lasts to the last words (the silence is not kept)."""
        if not self.heard:
            return "no-input", now - self.start
        if now >= self.start + record.max_length / speed:
            return "max-length", now - self.start
        return "silence", self.voice_end - self.start


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

    def ask(
        self, line: CallTimeline, request: Request, now: float
    ) -> tuple[Reply, float, str | None]:
        """Perform a back-office request at call time ``now``: the reply, the seconds of
        call time it takes, and why it is ``error`` if the back office failed
        (`perform` does it for a `BackOffice`)."""
        ...


def perform(backoffice: BackOffice | None, request: Request) -> tuple[Reply, float, str | None]:
    """Ask ``backoffice``: (reply, simulated delay, failure). An unavailable or broken back
    office (or none) is an ``error`` reply with the failure (the timeline logs it once per
    call); a back office with a ``delay(request)`` method (the in-memory one) says how long
    the reply takes."""
    if backoffice is None:
        return Reply(ERROR), 0.0, "no back office"
    try:
        reply = backoffice.perform(request)
    except BackOfficeUnavailable as error:
        return Reply(ERROR), 0.0, f"unavailable: {error}"
    except Exception as error:  # a bug in the back office must not end the call
        log.debug("back office failed on %s", request.operation, exc_info=True)
        return Reply(ERROR), 0.0, f"failed: {type(error).__name__}"
    delay = getattr(backoffice, "delay", None)
    return reply, float(delay(request)) if callable(delay) else 0.0, None


class CallTimeline:
    """One call's time: what it waits for and until when. Small: a pool holds thousands."""

    __slots__ = (
        "call",
        "call_key",
        "centre",
        "complained",
        "driver",
        "hold_at",
        "id",
        "keeps_audio",
        "listening_since",
        "queue",
        "queued",
        "recording",
        "reply",
        "reply_at",
        "speaking",
        "speed",
        "until",
        "variables",
        "wait",
        "words_coming",
    )

    def __init__(
        self,
        driver: Driver,
        call_id: int = 0,
        speed: float = 1.0,
        variables: Mapping[str, Value] | None = None,
        centre: Centre | None = None,
        keeps_audio: bool = False,
    ) -> None:
        self.driver = driver
        self.keeps_audio = keeps_audio
        """The call's audio is kept (a call WAV and its voice messages are written after
        it): only then does a voice message get a file reference, so a ticket never names
        a file that was never written."""
        self.centre = centre
        """The contact centre behind a transfer (a menu that declares one)."""
        self.queued: InQueue | None = None
        """The call's place in the queue, once it joined."""
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
        self.variables = variables
        """The call's variables from the start (``caller_id``)."""
        self.call_key = ""
        """The call's id for the back office (its idempotency key), made at the first request."""
        self.reply: BackOfficeReply | None = None
        """The back office's reply being waited for, and when it comes and the hold prompt."""
        self.reply_at = 0.0
        self.hold_at: float | None = None
        self.complained = False
        """The back office's failure was logged for this call (once: not on every request)."""
        self.recording: Recording | None = None
        """A record node's recording in progress."""

    @property
    def barge_in_by_speech(self) -> bool:
        """Whether speech stops a prompt (the menu's ``speech.barge_in``); keys always do."""
        return self.driver.flow.menu.speech.barge_in

    def answer(self, now: float, at: str | None = None) -> None:
        """Answer the call at ``now``: the greeting starts (or node ``at`` is entered)."""
        call, events = self.driver.flow.start(at, self.variables)
        self.call = call
        self.queue.extend(events)
        self.listening_since = now
        self.driver.changed(self)
        self._advance(now)

    def receive(self, action: CallerAction, now: float) -> bool:
        """The caller did ``action`` at ``now``; False if nobody heard it (the call is not
        answered yet, or it is over), and nothing changed."""
        wait = self.wait
        if self.reply is not None:  # the back office is working: only a hang-up is heard
            if not isinstance(action, HangUp):
                return False
            self.reply = self.hold_at = None
            if wait is SAYING:
                self._barge_in(action, now)
            self._handle(action, now)
            self._advance(now)
            return True
        if wait is QUEUE:  # on hold: a hang-up, or a key once the callback is offered
            assert self.call is not None
            offered = self.call.phase is Phase.OFFERED and isinstance(action, KeyPress)
            if not (offered or isinstance(action, HangUp)):
                return False
            assert isinstance(action, KeyPress | HangUp)
            self._handle(action, now)
            self._advance(now)
            return True
        if self.recording is not None and wait is LISTENING:
            self._while_recording(self.recording, action, now)
            return True
        if wait is SAYING:
            if isinstance(action, SpeechStarted | Utterance) and (
                not self.barge_in_by_speech or self._before_recording()
            ):
                return False  # speech barge-in off, or words before the beep: not heard
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
        if wait is LISTENING and self.recording is not None:
            self._stop_recording(*self._recording_end(self.recording, now), now)
            return
        if wait is LISTENING:
            assert self.call is not None
            self.words_coming = False
            if self.queued is not None:
                self.queued.offer_turn = False  # the callback offer not taken: hold again
            # Nothing said after all: a question times out, an answer was just cut short.
            playing = self.call.phase is Phase.PLAYING
            self._handle(PromptsFinished() if playing else NoInput(), now)
        elif wait is SAYING:
            self.speaking = None
            self.listening_since = now
        elif wait is CLOSING:
            self.speaking = None
        elif wait is not BACKOFFICE and wait is not QUEUE:
            return
        self._advance(now)

    def connect(self, now: float, waited: float) -> None:
        """The centre's agent takes the call at ``now`` after ``waited`` seconds in the
        queue: whatever is being said stops, and the call ends ``transferred``."""
        call = self.call
        if call is None or call.ended:
            return
        if self.speaking is not None:
            self.driver.hush(self)
            self.speaking = None
        self.queue = [event for event in self.queue if event.type is not PROMPT]
        self.reply = self.hold_at = None
        if self.queued is not None:
            self.queued.left = True
        self._handle(QueueNews("agent", seconds=round(waited, 3)), now)
        self._advance(now)

    def moved(self, now: float, position: int) -> bool:
        """The centre says the call waits at ``position`` now; announced at once when on
        hold, else when the hold resumes. True if what the call waits for changed."""
        queued = self.queued
        if queued is None or self.call is None or self.call.ended:
            return False
        queued.position = position
        if self.wait is not QUEUE:
            return False
        self._advance(now)
        return True

    def drop(self, now: float) -> None:
        """The line went dead (Ctrl-C in a live call): the prompt stops and the call ends
        as the caller's hang-up, its events reported and nothing more said."""
        self.driver.hush(self)
        call = self.call
        if call is not None and not call.ended and self.recording is not None:
            reason, seconds = "hangup", now - self.recording.start
            self.recording = None
            for event in self.driver.flow.handle(call, self._over(reason, seconds)):
                self._report(event, now)
        if call is not None and not call.ended:
            for event in self.driver.flow.handle(call, HangUp()):
                if event.type is not PROMPT:
                    self._report(event, now)
        self.speaking = None
        self.queue = []
        self.reply = self.hold_at = None
        self._leave_queue(now)
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
                event = queue.pop(0)
                self._report(event, now)
                if event.type is REQUEST:
                    self._ask(event, now)
            if self.speaking is None and queue:
                prompt = queue.pop(0)
                self._report(prompt, now)
                self.speaking = prompt
                end = driver.say(self, prompt.text or "", now)
                self.until = end if self.speed == 1.0 else now + (end - now) / self.speed
                continue
            if call.ended:
                self._leave_queue(now)
                self.wait = IDLE if self.speaking is None else CLOSING
                return
            if self.speaking is not None:
                self.wait = SAYING
                return
            if self.reply is not None:
                if self.hold_at is not None:
                    if now < self.hold_at:
                        self.wait, self.until = BACKOFFICE, self.hold_at
                        return
                    self.hold_at = None
                    queue.append(self._hold_prompt(call))
                    continue
                if now < self.reply_at:
                    self.wait, self.until = BACKOFFICE, self.reply_at
                    return
                reply, self.reply = self.reply, None
                self._handle(reply, now)
                continue
            if call.phase is Phase.PLAYING and not self.words_coming:
                self._handle(PromptsFinished(), now)
                continue
            if call.phase is Phase.RECORDING and self.recording is None:
                self.recording = Recording(now)  # the prompt and the beep are said
                self._handle(PromptsFinished(), now)
                continue
            if call.phase in _QUEUE_WAITS and not (self.queued and self.queued.offer_turn):
                if self._queue_step(call, now):
                    continue
                return
            self.wait = LISTENING
            if self.recording is not None:
                self.until = self._recording_deadline(self.recording, call)
                return
            self.until = self.listening_since + self._turn_timeout(call) / self.speed
            return

    def _queue_step(self, call: Call, now: float) -> bool:
        """Waiting for an agent and nothing is said: join the queue, announce the position
        (changed, or at the interval), offer the callback, say the hold prompt, and True;
        or wait on hold (`QUEUE`) for the next of them, and False."""
        centre = self.centre
        assert centre is not None, "a menu with a contact centre needs one to queue in"
        spec = self.driver.flow.menu.contact_centre
        assert spec is not None
        queued = self.queued
        if queued is None:
            news = centre.join(self, now)
            if news.kind == "enter":
                assert news.position is not None
                self.queued = queued = InQueue(now, news.position)
                queued.left = False
                self._schedule_announcement(queued, spec.announce_every, spec.prompts.hold, now)
                if spec.callback_after is not None:
                    queued.offer_at = now + spec.callback_after / self.speed
            self._handle(news, now)
            return True
        if queued.position != queued.announced:
            self._announce(queued, now)
            return True
        due = queued.next_announce
        if queued.offer_at is not None and queued.offer_at < due:
            due = queued.offer_at
        if queued.hold_at is not None and queued.hold_at < due:
            due = queued.hold_at
        if now < due:
            self.wait, self.until = QUEUE, due
            return False
        if due == queued.offer_at:
            queued.offer_at = None
            self._handle(QueueNews("offer"), now)
            queued.offer_turn = call.phase is Phase.OFFERED
        elif due == queued.hold_at:
            queued.hold_at = None
            self._handle(QueueNews("hold"), now)
        else:
            self._announce(queued, now)
        return True

    def _announce(self, queued: InQueue, now: float) -> None:
        spec = self.driver.flow.menu.contact_centre
        assert spec is not None and self.centre is not None
        queued.announced = position = queued.position
        self._schedule_announcement(queued, spec.announce_every, spec.prompts.hold, now)
        estimate = round(self.centre.estimate(position, now), 3)
        self._handle(QueueNews("position", position, estimate), now)

    def _schedule_announcement(self, queued: InQueue, every: float, hold: str, now: float) -> None:
        queued.next_announce = now + every / self.speed
        queued.hold_at = now + every / 2 / self.speed if hold else None

    def _leave_queue(self, now: float) -> None:
        """The call ended while the centre holds it: it leaves the queue."""
        queued = self.queued
        if queued is not None and not queued.left:
            queued.left = True
            assert self.centre is not None
            self.centre.leave(self, now)

    # -- record nodes ----------------------------------------------------------------------

    def _record(self, call: Call) -> Record:
        record = self.driver.flow.node(call).record
        assert record is not None
        return record

    def _before_recording(self) -> bool:
        """A record node's prompt or beep is being said: the recording has not started."""
        call = self.call
        return call is not None and call.phase is Phase.RECORDING and self.recording is None

    def _recording_deadline(self, recording: Recording, call: Call) -> float:
        no_input = self.driver.flow.node(call).settings.no_input_timeout
        return recording.deadline(self._record(call), no_input, self.speed)

    def _recording_end(self, recording: Recording, now: float) -> tuple[str, float]:
        assert self.call is not None
        return recording.ended_by(self._record(self.call), now, self.speed)

    def _while_recording(self, recording: Recording, action: CallerAction, now: float) -> None:
        """The caller acts while being recorded: words keep it going, the terminator ends
        it, the skip key (before any words) drops it, a hang-up ends it and the call."""
        call = self.call
        assert call is not None
        record = self._record(call)
        if isinstance(action, SpeechStarted):
            recording.heard = recording.speaking = True
        elif isinstance(action, Utterance):
            recording.heard, recording.speaking = True, False
            recording.voice_end = now
        elif isinstance(action, HangUp):
            self._stop_recording("hangup", now - recording.start, now)
            self._handle(action, now)
        else:
            self._report(CallEvent(EventType.KEY, call.state, key=action.key), now)
            if action.key == record.terminator:
                self._stop_recording("terminator", now - recording.start, now)
                return
            if action.key == record.skip_key and not recording.heard:
                self._stop_recording("skipped", 0.0, now)
                return
        self._advance(now)

    def _stop_recording(self, reason: str, seconds: float, now: float) -> None:
        """The recording is over: the engine keeps the message, skips it or counts a
        no-input; the call goes on (a hang-up is handled after it)."""
        self.recording = None
        self._handle(self._over(reason, seconds), now)
        if reason != "hangup":
            self._advance(now)

    def _over(self, reason: str, seconds: float) -> RecordingOver:
        """How the recording ended, with the reference the message is kept under: a file
        named by the call's id, the same id its ticket is filed with, when the call's audio
        is kept (else no reference: its length alone is true)."""
        if not self.keeps_audio:
            return RecordingOver(reason, max(seconds, 0.0))
        if not self.call_key:
            self.call_key = uuid.uuid4().hex
        return RecordingOver(reason, max(seconds, 0.0), f"{self.call_key}-message.wav")

    def _turn_timeout(self, call: Call) -> float:
        """The seconds the caller has from the start of their turn: in a collect node the
        first-digit timeout until a digit comes, then the inter-digit timeout from each
        digit; elsewhere the node's no-input timeout."""
        node = self.driver.flow.node(call)
        collect = node.collect
        if collect is None or call.phase is not Phase.LISTENING:
            return node.settings.no_input_timeout
        if call.digits:
            return collect.inter_digit_timeout
        return collect.first_digit_timeout or node.settings.no_input_timeout

    def _ask(self, event: CallEvent, now: float) -> None:
        """Have the driver perform an action node's request; wait for its reply (at most
        the node's timeout), with the hold prompt if it is slow."""
        assert event.request is not None and self.call is not None
        operation = event.operation or ""
        action = None if operation == REQUEST_CALLBACK else self.driver.flow.node(self.call).action
        timeout = BACKOFFICE_TIMEOUT if action is None else action.timeout
        hold_prompt = "" if action is None else action.hold_prompt
        hold_after = HOLD_AFTER if action is None else action.hold_after
        if not self.call_key:
            self.call_key = uuid.uuid4().hex
        request = replace(event.request, call_id=self.call_key)
        reply, delay, reason = self.driver.ask(self, request, now)
        if reason is not None and not self.complained:
            self.complained = True
            log.warning("back office: %s (call %s, %s)", reason, self.call_key, request.operation)
        if delay > timeout:
            reply, delay, reason = Reply(ERROR), timeout, "timeout"
        self.reply = BackOfficeReply(reply, reason, operation)
        self.reply_at = now + delay / self.speed
        slow = hold_prompt and delay > hold_after
        self.hold_at = now + hold_after / self.speed if slow else None

    def _hold_prompt(self, call: Call) -> CallEvent:
        action = self.driver.flow.node(call).action
        assert action is not None
        return CallEvent(PROMPT, call.state, text=action.hold_prompt, kind=PromptKind.HOLD)

    def _report(self, event: CallEvent, now: float) -> None:
        """Every event leaves the timeline masked (`CallEvent.masked`)."""
        self.driver.report(self, event.masked(), now)

    def _handle(self, received: CallInput, now: float) -> None:
        call = self.call
        assert call is not None
        self.words_coming = False
        if isinstance(received, KeyPress):
            sensitive = True if self.driver.flow.sensitive(call) else None
            key = CallEvent(EventType.KEY, call.state, key=received.key, sensitive=sensitive)
            self._report(key, now)
        events = self.driver.flow.handle(call, received)
        queued = self.queued
        if queued is not None or self.centre is not None:  # the wait on its last events
            waited = 0.0 if queued is None else round(now - queued.joined, 3)
            events = (
                [
                    replace(event, seconds=waited)
                    if event.type is EventType.CALLBACK and event.seconds is None
                    else event
                    for event in events
                ]
                if queued is None
                else [
                    replace(event, seconds=waited)
                    if event.type in _WAITED and event.seconds is None
                    else event
                    for event in events
                ]
            )
        self.queue.extend(events)
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
            assert self.call is not None
            barge = CallEvent(
                EventType.BARGE_IN,
                stopped.state,
                text=stopped.text,
                key=key,
                reason="speech" if key is None else "key",
                sensitive=True if self.driver.flow.sensitive(self.call) else None,
            )
            self._report(barge, now)
        self.queue = [event for event in self.queue if event.type is not PROMPT]
