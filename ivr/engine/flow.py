"""The call flow: a `transitions` state machine over the menu, plus the IVR rules.

The engine is pure: it takes an input and returns events, and never speaks, sleeps or reads
a device. One `CallFlow` is built per menu and shared by every call; each call's state
lives in its own small `Call` object, so ten thousand calls cost ten thousand `Call`s.

Rules (defaults from FreeSWITCH / VoiceXML practice, all configurable in the menu file):

- No-input and no-match are separate counters; either reaching its maximum runs the
  node's ``on_max_failures`` action (transfer, hangup or goto).
- Entering a node resets both counters; a recognized input in the same node (repeat, a
  step key) resets the no-match counter only.
- The first prompt of a menu is the long one; reprompts after a failure are the short one.
- Global keys work in every node: agent, repeat, back (in the start menu: repeat), main.
- An answer (and a procedure's closing advice) plays, then the caller is back in the parent
  menu. A key pressed while it plays is barge-in: a global key acts on the answer, a step
  key skips the closing advice, any other key is taken as a choice in the parent menu, as
  a caller who knows the menu expects.

Self-service nodes (see docs/design.md, "Self-service nodes"):

- A collect node gathers digits into a call variable (``Call.digits`` while typed). Digits
  are digits there, even a global key's (the field's grammar wins, as in VoiceXML and
  FreeSWITCH ``play_and_get_digits``); the terminator (``#``) ends the entry, and so does
  the inter-digit timeout (the timeline's: a `NoInput` with digits typed); ``max_length``
  ends it at once only without a terminator (with one, the caller was told to end with it:
  VoiceXML's ``termtimeout`` waits for it, and a digit beyond the maximum is a no-match);
  ``*`` clears the entry and asks again; other global keys keep their meaning. An
  entry of the wrong length or pattern is a no-match. Spoken digits (幺三八…) are one whole
  entry. In a sensitive node every event that holds what the caller keyed or said is
  marked ``sensitive`` (`CallEvent.masked`).
- An action node says nothing: it returns a ``request`` event and waits
  (`Phase.WAITING`); the driver performs the request and hands back a `BackOfficeReply`,
  whose values become call variables and whose result chooses the next node.
- A switch node moves on at once by a variable's value.
- A record node says its prompt and a beep (`Phase.RECORDING`, ``step`` 0), then records
  (``step`` 1): the timeline times the recording and tells the engine how it ended
  (`RecordingOver`). A message kept sets its reference (``""`` when the call's audio is
  not kept: no file will hold it) and ``<store>_seconds`` and goes to ``next``; the skip
  key (before the caller spoke) leaves none (``""``, ``""``); nothing said is a no-input,
  counted and reprompted with the beep again, unless ``skip_if_silent``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Any

from transitions import Machine, State

from ivr.engine.backoffice import ERROR, OPERATIONS, Reply, Request, Value
from ivr.engine.digits import GRAMMAR, spoken_digits
from ivr.engine.events import CallEvent, EventType, Outcome, PromptKind
from ivr.engine.inputs import (
    BackOfficeReply,
    CallInput,
    HangUp,
    KeyPress,
    NoInput,
    PromptsFinished,
    QueueNews,
    RecordingOver,
    Utterance,
)
from ivr.engine.matching import Action, ActionKind, Choice, Verdict, decide, match
from ivr.menu.model import (
    BEEP,
    ContactCentre,
    FailureActionKind,
    GlobalAction,
    Menu,
    Node,
    NodeKind,
)
from ivr.menu.phrases import normalize
from ivr.menu.templates import fields, is_template, parse

logging.getLogger("transitions").setLevel(logging.WARNING)

_END_STATES = {outcome: f"end:{outcome}" for outcome in Outcome}

REQUEST_CALLBACK = "request_callback"
"""The back-office operation that stores a callback (the queue's, not an action node's)."""

TRAIL = 40
"""How many entries of a call's trail a transfer's context keeps (the latest)."""

_NOT_CONTEXT = frozenset({"account_id", "attempts_left", "verified", "masked_phone"})
"""Values a reply gives that the transfer context says otherwise (or not at all)."""
"""Final machine states; ':' cannot occur in a node id, so they never clash with one."""


class Phase(StrEnum):
    LISTENING = "listening"
    """Prompts end with a question: the no-input timer runs after them."""
    PLAYING = "playing"
    """An answer is being said: when it ends the call moves on by itself."""
    CONFIRMING = "confirming"
    """An uncertain spoken choice waits for yes or no."""
    WAITING = "waiting"
    """An action node waits for the back office's reply (or the queue's callback request)."""
    QUEUED = "queued"
    """Waiting for an agent in the contact centre's queue (keys are not heard)."""
    OFFERED = "offered"
    """In the queue, a callback offered: the callback key is heard."""
    NO_AGENT = "no-agent"
    """Closed or full: self-service or a callback offered, the caller's turn."""
    RECORDING = "recording"
    """A record node: its prompt and beep (``step`` 0), then the recording (``step`` 1),
    which the timeline times and ends (`RecordingOver`)."""
    ENDED = "ended"


@dataclass(slots=True)
class Call:
    """The state of one call: where it is and how often the caller has failed there."""

    state: str
    phase: Phase = Phase.LISTENING
    step: int = 0
    no_input_count: int = 0
    no_match_count: int = 0
    outcome: Outcome | None = None
    pending: Action | None = None
    """The spoken choice being confirmed."""
    digits: str = ""
    """A collect node's entry so far."""
    variables: dict[str, Value] | None = None
    """The call's variables (collected digits, back-office values, ``caller_id``); None
    until the first is set, so a call of a menu without them stays small."""
    trail: list[str] | None = None
    """In a menu with action nodes: the nodes entered, and ``@operation:result`` for each
    reply, so a transfer can tell the agent the path taken and the case looked up (the
    last ``TRAIL`` entries); None in other menus."""

    @property
    def ended(self) -> bool:
        return self.phase is Phase.ENDED


class CallFlow:
    """The hotline's rules over a menu; `start` a call, then `handle` each input."""

    def __init__(self, menu: Menu) -> None:
        self.menu = menu
        self.machine = self._build_machine(menu)
        # The phrases of each (node, phase), worked out when a call first needs them: a call
        # visits a few nodes, and building all of them cost 0.15 s per `ivr call` start.
        self._choices: dict[tuple[str, Phase], tuple[Choice, ...]] = {}
        self._grammars: dict[tuple[str, Phase], tuple[str, ...]] = {}
        self._patterns = {
            node.id: re.compile(node.collect.pattern)
            for node in menu.nodes.values()
            if node.collect is not None and node.collect.pattern is not None
        }
        self.hidden = frozenset(
            node.collect.store
            for node in menu.nodes.values()
            if node.collect is not None and node.collect.sensitive
        )
        """The sensitive variables: never said, logged or shown."""
        self.tracks = any(node.kind is NodeKind.ACTION for node in menu.nodes.values())
        """Calls keep a trail (`Call.trail`) for the transfer's context."""

    def _choices_for(self, node_id: str, phase: Phase) -> list[Choice]:
        """Every phrase valid in a node and phase; the earlier of two equal phrases wins."""
        menu = self.menu
        node = menu.nodes[node_id]
        found: list[Choice] = []
        if phase is Phase.CONFIRMING:
            found += _commands(menu.confirm_phrases, ActionKind.CONFIRM)
        elif node.kind is NodeKind.PROCEDURE:
            found += _commands(menu.step_phrases, ActionKind.STEP)
        found += _commands(menu.global_phrases, ActionKind.GLOBAL)
        if phase is Phase.LISTENING and node.kind is NodeKind.MENU:
            found += self._menu_choices(node, parent=False)
        if phase is Phase.PLAYING and node.parent is not None:
            found += self._menu_choices(menu.nodes[node.parent], parent=True)
        return found

    def _menu_choices(self, node: Node, parent: bool) -> list[Choice]:
        menu = self.menu
        found = [
            Choice(phrase, Action(ActionKind.SELECT, key, parent))
            for key, target in node.options.items()
            for phrase in menu.nodes[target].phrases
        ]
        if node.shortcuts:
            offered = set(node.options.values())
            found += [
                Choice(phrase, Action(ActionKind.SHORTCUT, leaf.id, parent))
                for leaf in menu.descendants(node.id)
                if leaf.id not in offered
                for phrase in leaf.phrases
            ]
        return found

    @staticmethod
    def _build_machine(menu: Menu) -> Machine:
        """Every edge a call can take, declared once: the graph coverage and diagrams use.

        Menus with the same graph share one machine (`_machine`): a machine costs ~6 ms
        to declare on the wallet menu (~600 transitions), and every scenario, ``ivr call``
        and web call builds its own `CallFlow`, from a menu loaded afresh."""
        return _machine(_graph(menu))

    # -- public API -------------------------------------------------------------------

    def start(
        self, at: str | None = None, variables: Mapping[str, Value] | None = None
    ) -> tuple[Call, list[CallEvent]]:
        """Answer a call: the greeting, then the start menu.

        ``at`` begins the call in that node instead (``ivr call --start``), without the
        greeting: a designer walking to a deep node wants its prompts at once. Its parent,
        back and main keys work as if the caller had come there by the menu. ``variables``
        are the call's variables from the start (``caller_id``).
        """
        if at is not None and at not in self.menu.nodes:
            raise KeyError(at)
        call = Call(state=at or self.menu.start)
        if variables:
            call.variables = dict(variables)
        if self.tracks:
            call.trail = [call.state]
        events = [CallEvent(EventType.CALL_START, call.state, sensitive=self._secret(call))]
        events += self._enter(call, greeting=call.state == self.menu.start)
        return call, self._switched(call, events)

    def handle(self, call: Call, received: CallInput) -> list[CallEvent]:
        """Apply one input to a call and say what happened."""
        if call.ended:
            return []
        return self._switched(call, self._handle(call, received))

    def _switched(self, call: Call, events: list[CallEvent]) -> list[CallEvent]:
        """A switch node entered moves on at once, by its variable (one move at a time, so
        each is an edge of its own: ivr check forbids loops of switches alone)."""
        while not call.ended and self.node(call).kind is NodeKind.SWITCH:
            events += self._move(call, self._switch_trigger(call))
        return events

    def _handle(self, call: Call, received: CallInput) -> list[CallEvent]:
        match received:
            case HangUp():
                hangup = CallEvent(EventType.HANGUP, call.state, reason="caller")
                return [hangup, *self._end(call, Outcome.ABANDONED)]
            case KeyPress(key=key):
                return self._key(call, key)
            case Utterance():
                return self._utterance(call, received)
            case NoInput():
                if call.phase in _QUEUE_WAITS:
                    return []  # the callback offer was not taken: the caller waits on
                if call.phase is Phase.NO_AGENT:
                    return self._no_agent_failure(call, no_input=True)
                if call.phase in (Phase.PLAYING, Phase.WAITING):
                    return []
                if call.digits and call.phase is Phase.LISTENING:
                    return self._complete(call, "timeout")  # the inter-digit timeout
                return self._no_input(call)
            case PromptsFinished():
                if call.phase is Phase.RECORDING:
                    return self._record_start(call)
                return self._finish(call) if call.phase is Phase.PLAYING else []
            case RecordingOver():
                if call.phase is not Phase.RECORDING:
                    return []
                return self._recorded(call, received)
            case BackOfficeReply():
                if call.phase is not Phase.WAITING:
                    return []
                if received.operation == REQUEST_CALLBACK:
                    return self._callback_reply(call, received)
                return self._reply(call, received)
            case QueueNews():
                return self._queue_news(call, received)
        raise TypeError(f"not a call input: {received!r}")

    def node(self, call: Call) -> Node:
        return self.menu.nodes[call.state]

    def sensitive(self, call: Call) -> bool:
        """Whether what the caller keys or says now is a sensitive entry's (masked)."""
        collect = self.menu.nodes[call.state].collect
        return collect is not None and collect.sensitive and not call.ended

    def _secret(self, call: Call) -> bool | None:
        """An event's ``sensitive`` field: True, or None (not recorded)."""
        return True if self.sensitive(call) else None

    # -- keys and speech: both become an Action ----------------------------------------

    def choices(self, call: Call) -> tuple[Choice, ...]:
        """The phrases a caller may say now, and what each does."""
        return self._choices_at(call.state, call.phase)

    def grammar(self, call: Call) -> tuple[str, ...]:
        """The phrases for the recognizer's closed grammar in the call's current state."""
        return self._grammar_at(call.state, call.phase)

    def all_grammars(self) -> list[tuple[str, ...]]:
        """Every grammar a call can need, for checking phrases against a model."""
        nodes = self.menu.nodes.values()
        heard = [(node.id, phase) for node in nodes for phase in _HEARD_IN[:3]]
        heard += [(node.id, Phase.WAITING) for node in nodes if node.kind is NodeKind.ACTION]
        return list(dict.fromkeys(self._grammar_at(*where) for where in heard))

    def _choices_at(self, node_id: str, phase: Phase) -> tuple[Choice, ...]:
        where = (node_id, phase)
        found = self._choices.get(where)
        if found is None:
            node = self.menu.nodes.get(node_id)
            heard = node is not None and phase in _HEARD_IN
            if node is not None and phase is Phase.WAITING and node.kind is not NodeKind.ACTION:
                heard = False
            found = tuple(_unique_phrases(self._choices_for(node_id, phase))) if heard else ()
            self._choices[where] = found
        return found

    def _grammar_at(self, node_id: str, phase: Phase) -> tuple[str, ...]:
        where = (node_id, phase)
        found = self._grammars.get(where)
        if found is None:
            found = tuple(choice.phrase for choice in self._choices_at(node_id, phase))
            node = self.menu.nodes.get(node_id)
            collects = node is not None and node.kind is NodeKind.COLLECT
            if collects and phase is Phase.LISTENING:  # digit words, then the commands
                found = (*GRAMMAR, *found)
            self._grammars[where] = found
        return found

    def _key(self, call: Call, key: str) -> list[CallEvent]:
        if call.phase is Phase.WAITING:
            return []  # the driver does not pass keys while the back office works
        if call.phase in _QUEUE_PHASES:
            return self._queue_key(call, key)
        if call.phase is Phase.RECORDING:
            return self._record_key(call, key)
        if call.phase is Phase.LISTENING and self.node(call).kind is NodeKind.COLLECT:
            return self._collect_key(call, key)
        action = self._key_action(call, key)
        if action is not None:
            return self._apply(call, action)
        if call.phase is Phase.PLAYING:
            # Not for the answer: leave it and let the parent menu judge the key.
            return self._move(call, "finish", announce=False) + self._key(call, key)
        return self._no_match(call, key=key)

    def _key_action(self, call: Call, key: str) -> Action | None:
        menu = self.menu
        node = self.node(call)
        global_action = menu.global_keys.get(key)
        if call.phase is Phase.CONFIRMING:
            answers = {menu.confirm_keys.yes: "yes", menu.confirm_keys.no: "no"}
            if key in answers:
                return Action(ActionKind.CONFIRM, answers[key])
        elif node.kind is NodeKind.PROCEDURE and (step := self._step_action(key)) is not None:
            return Action(ActionKind.STEP, step)
        if global_action is not None:
            return Action(ActionKind.GLOBAL, global_action)
        if call.phase is Phase.LISTENING and key in node.options:
            return Action(ActionKind.SELECT, key)
        parent = self.menu.nodes.get(node.parent or "")
        if call.phase is Phase.PLAYING and parent is not None and key in parent.options:
            return Action(ActionKind.SELECT, key, parent=True)
        return None

    def _step_action(self, key: str) -> str | None:
        keys = self.menu.step_keys
        return {keys.next: "next", keys.repeat: "repeat", keys.previous: "previous"}.get(key)

    def _utterance(self, call: Call, said: Utterance) -> list[CallEvent]:
        speech = self.menu.speech
        if call.phase in (Phase.WAITING, Phase.RECORDING) or call.phase in _QUEUE_PHASES:
            return []  # the queue's offers take keys only; a message is not a command
        if call.phase is Phase.LISTENING and self.node(call).kind is NodeKind.COLLECT:
            digits = spoken_digits(said.text)
            if digits is not None:
                return self._spoken_entry(call, said, digits)
        found = match(said.text, self.choices(call))
        decision = decide(found, said.confidence, speech.accept, speech.confirm)
        heard = CallEvent(
            EventType.UTTERANCE,
            call.state,
            text=said.text,
            confidence=round(said.confidence, 3),
            decision=decision.verdict,
            score=decision.score,
            phrase=found.choice.phrase if found else None,
            sensitive=self._secret(call),
        )
        if decision.match is None or decision.verdict is Verdict.REJECT:
            if call.phase is Phase.PLAYING:
                return [heard, *self._move(call, "finish", announce=False), *self._no_match(call)]
            return [heard, *self._no_match(call)]
        action = decision.match.choice.action
        if decision.verdict is Verdict.ACCEPT:
            return [heard, *self._apply(call, action)]
        events = [heard]
        if action.parent:
            events += self._move(call, "finish", announce=False)
            action = replace(action, parent=False)
        return events + self._ask_confirmation(call, action)

    def _apply(self, call: Call, action: Action) -> list[CallEvent]:
        """Do what the caller chose, by key or by voice."""
        call.no_match_count = 0
        if action.parent:
            events = self._move(call, "finish", announce=False)
            return events + self._apply(call, replace(action, parent=False))
        match action.kind:
            case ActionKind.GLOBAL:
                return self._global(call, GlobalAction(action.value))
            case ActionKind.STEP:
                if call.phase is Phase.PLAYING:
                    return self._finish(call)  # a step key during the closing: go on
                return self._step(call, action.value)
            case ActionKind.SELECT:
                return self._move(call, f"select:{action.value}")
            case ActionKind.SHORTCUT:
                return self._move(call, f"shortcut:{action.value}")
            case ActionKind.CONFIRM:
                return self._confirmed(call, action.value == "yes")
        raise ValueError(f"unknown action {action!r}")

    # -- confirmation -----------------------------------------------------------------

    def _ask_confirmation(self, call: Call, action: Action) -> list[CallEvent]:
        call.pending = action
        call.phase = Phase.CONFIRMING
        return [self._confirm_prompt(call)]

    def _confirm_prompt(self, call: Call) -> CallEvent:
        assert call.pending is not None
        text = self.menu.messages.confirm.format(title=self._describe(call, call.pending))
        return self._prompt(call, text, PromptKind.CONFIRM)

    def _describe(self, call: Call, action: Action) -> str:
        """What an action is called when the caller is asked to confirm it."""
        menu = self.menu
        if action.kind is ActionKind.SELECT:
            return menu.nodes[self.node(call).options[action.value]].title
        if action.kind is ActionKind.SHORTCUT:
            return menu.nodes[action.value].title
        phrases = menu.global_phrases if action.kind is ActionKind.GLOBAL else menu.step_phrases
        return phrases.get(action.value, (action.value,))[0]

    def _confirmed(self, call: Call, yes: bool) -> list[CallEvent]:
        action = call.pending
        call.pending = None
        call.phase = Phase.LISTENING
        if yes and action is not None:
            return self._apply(call, action)
        return self._reprompt(call, self.menu.messages.declined)

    def _global(self, call: Call, action: GlobalAction) -> list[CallEvent]:
        node = self.node(call)
        if action is GlobalAction.AGENT:
            return self._transfer(call, [self.menu.messages.transfer], reason="caller")
        if action is GlobalAction.HANGUP:
            return self._hang_up(call, [], reason="caller-key")
        if action is GlobalAction.BACK and node.parent is not None:
            return self._move(call, "back")
        if action is GlobalAction.MAIN and call.state != self.menu.start:
            return self._move(call, "main")
        return self._repeat(call)

    def _repeat(self, call: Call) -> list[CallEvent]:
        node = self.node(call)
        if call.phase is Phase.CONFIRMING:
            return [self._confirm_prompt(call)]
        if node.kind is NodeKind.MENU:
            return [self._say(call, node.prompt, PromptKind.MENU)]
        if node.kind is NodeKind.COLLECT:
            call.digits = ""
            return [self._say(call, node.prompt, PromptKind.COLLECT)]
        if node.kind is NodeKind.RECORD:
            return self._record_prompts(call, [self._say(call, node.prompt, PromptKind.RECORD)])
        if node.kind is NodeKind.ANSWER:
            return [self._say(call, node.answer, PromptKind.ANSWER)]
        if call.phase is Phase.PLAYING:
            return [self._say(call, node.closing, PromptKind.CLOSING)]
        return self._step_prompts(call)

    # -- procedures -------------------------------------------------------------------

    def _step(self, call: Call, action: str) -> list[CallEvent]:
        node = self.node(call)
        events: list[CallEvent] = []
        if action == "next":
            if call.step + 1 >= len(node.steps):
                return self._after_last_step(call)
            call.step += 1
        elif action == "previous":
            if call.step == 0:
                events.append(self._prompt(call, self.menu.messages.first_step, PromptKind.NOTICE))
            else:
                call.step -= 1
        return events + self._step_prompts(call)

    def _after_last_step(self, call: Call) -> list[CallEvent]:
        node = self.node(call)
        if not node.closing:
            return self._move(call, "finish")
        call.phase = Phase.PLAYING
        return [self._say(call, node.closing, PromptKind.CLOSING)]

    def _step_prompts(self, call: Call) -> list[CallEvent]:
        node = self.node(call)
        return [
            self._prompt(call, self.menu.step_text(node, call.step), PromptKind.STEP),
            self._prompt(call, self.menu.messages.step_hint, PromptKind.HINT),
        ]

    # -- failures ---------------------------------------------------------------------

    def _no_input(self, call: Call) -> list[CallEvent]:
        call.no_input_count += 1
        event = CallEvent(EventType.NO_INPUT, call.state, count=call.no_input_count)
        if call.no_input_count >= self.node(call).settings.max_no_input:
            return [event, *self._max_failures(call)]
        return [event, *self._reprompt(call, self.menu.messages.no_input)]

    def _no_match(
        self, call: Call, key: str | None = None, entry: str | None = None
    ) -> list[CallEvent]:
        call.no_match_count += 1
        call.digits = ""
        event = CallEvent(
            EventType.NO_MATCH,
            call.state,
            text=entry,
            key=key,
            count=call.no_match_count,
            reason=None if entry is None else "invalid-entry",
            sensitive=self._secret(call),
        )
        if call.no_match_count >= self.node(call).settings.max_no_match:
            return [event, *self._max_failures(call)]
        return [event, *self._reprompt(call, self.menu.messages.no_match)]

    def _reprompt(self, call: Call, notice: str) -> list[CallEvent]:
        node = self.node(call)
        events = [self._prompt(call, notice, PromptKind.NOTICE)]
        if call.phase is Phase.CONFIRMING:
            events.append(self._confirm_prompt(call))
        elif node.kind is NodeKind.MENU:
            events.append(self._say(call, node.short_prompt, PromptKind.REPROMPT))
        elif node.kind is NodeKind.COLLECT:
            call.digits = ""
            events.append(self._say(call, node.short_prompt, PromptKind.REPROMPT))
        elif node.kind is NodeKind.RECORD:
            events[0] = self._prompt(call, self.menu.messages.no_message, PromptKind.NOTICE)
            return self._record_prompts(
                call, [*events, self._say(call, node.short_prompt, PromptKind.REPROMPT)]
            )
        else:
            events.append(self._prompt(call, self.menu.messages.step_hint, PromptKind.HINT))
        return events

    def _max_failures(self, call: Call) -> list[CallEvent]:
        failure = self.node(call).settings.on_max_failures
        notice = failure.prompt or self.menu.messages.max_failures
        if failure.action is FailureActionKind.TRANSFER:
            return self._transfer(call, [notice, self.menu.messages.transfer], "max-failures")
        if failure.action is FailureActionKind.HANGUP:
            return self._hang_up(call, [notice], reason="max-failures")
        announcement = self._prompt(call, notice, PromptKind.NOTICE)
        return [announcement, *self._move(call, f"goto:{failure.target}")]

    # -- moving and ending ------------------------------------------------------------

    def _move(self, call: Call, trigger: str, *, announce: bool = True) -> list[CallEvent]:
        """Take a declared edge of the machine, then enter the node it leads to."""
        self.machine.events[trigger].trigger(call)
        node = self.node(call)
        self._track(call, node.id)
        events = [
            CallEvent(EventType.STATE, call.state, text=node.title, sensitive=self._secret(call))
        ]
        entered = self._enter(call)  # resets the counters and phase even when not announced
        return events + entered if announce else events

    def _finish(self, call: Call) -> list[CallEvent]:
        return self._move(call, "finish")

    def _enter(self, call: Call, *, greeting: bool = False) -> list[CallEvent]:
        node = self.node(call)
        call.step = call.no_input_count = call.no_match_count = 0
        call.phase = Phase.LISTENING
        call.pending = None
        call.digits = ""
        events = []
        if greeting and self.menu.greeting:
            events.append(self._prompt(call, self.menu.greeting, PromptKind.GREETING))
        if node.kind is NodeKind.MENU:
            events.append(self._say(call, node.prompt, PromptKind.MENU))
        elif node.kind is NodeKind.ANSWER:
            call.phase = Phase.PLAYING
            events.append(self._say(call, node.answer, PromptKind.ANSWER))
        elif node.kind is NodeKind.COLLECT:
            events.append(self._say(call, node.prompt, PromptKind.COLLECT))
        elif node.kind is NodeKind.RECORD:
            events = self._record_prompts(
                call, [*events, self._say(call, node.prompt, PromptKind.RECORD)]
            )
        elif node.kind is NodeKind.ACTION:
            call.phase = Phase.WAITING
            events.append(self._request(call, node))
        elif node.kind is NodeKind.SWITCH:
            pass  # it moves on at once (`_switched`)
        else:
            if node.intro:
                events.append(self._say(call, node.intro, PromptKind.INTRO))
            events += self._step_prompts(call)
        return events

    def _transfer(self, call: Call, notices: list[str], reason: str) -> list[CallEvent]:
        events = [self._prompt(call, text, PromptKind.NOTICE) for text in notices]
        context = self._context(call)
        events.append(CallEvent(EventType.TRANSFER, call.state, reason=reason, context=context))
        if self.menu.contact_centre is not None:
            call.phase = Phase.QUEUED  # the timeline joins the queue once these are said
            call.pending = None
            call.digits = ""
            return events
        return events + self._end(call, Outcome.TRANSFERRED)

    # -- the contact centre's queue ---------------------------------------------------------

    @property
    def centre(self) -> ContactCentre:
        centre = self.menu.contact_centre
        assert centre is not None
        return centre

    def callback_number(self, call: Call) -> str | None:
        """The number to call back: the first of ``callback_number``'s variables set."""
        variables = call.variables or {}
        for name in self.centre.callback_number:
            value = variables.get(name)
            if value is not None and str(value):
                return str(value)
        return None

    def _queue_news(self, call: Call, news: QueueNews) -> list[CallEvent]:
        """Say what the contact centre says about the call (the timeline's news)."""
        if call.phase not in _QUEUE_WAITS and not (
            call.phase is Phase.WAITING and news.kind == "agent"
        ):
            return []
        prompts = self.centre.prompts
        here = call.state
        kind = news.kind
        if kind in ("enter", "position"):
            assert news.position is not None and news.seconds is not None
            from ivr.engine.queueing import spoken_minutes

            text = prompts.position.format(
                position=news.position, minutes=spoken_minutes(news.seconds)
            )
            queued = CallEvent(
                EventType.QUEUE, here, reason=kind, count=news.position, seconds=news.seconds
            )
            return [queued, self._prompt(call, text, PromptKind.QUEUE)]
        if kind in ("closed", "full"):
            said = (
                prompts.closed.format(opens=news.opens or "") if kind == "closed" else prompts.full
            )
            call.phase = Phase.NO_AGENT
            call.no_input_count = call.no_match_count = 0
            return [
                CallEvent(EventType.QUEUE, here, reason=kind),
                self._prompt(call, said, PromptKind.QUEUE),
                self._offer(call),
            ]
        if kind == "offer":
            if self.callback_number(call) is None:
                return []
            call.phase = Phase.OFFERED
            return [self._prompt(call, prompts.callback_offer.format(), PromptKind.QUEUE)]
        if kind == "hold":
            return [self._prompt(call, prompts.hold.format(), PromptKind.HOLD)]
        if kind == "agent":
            answered = CallEvent(EventType.AGENT, here, seconds=news.seconds)
            return [answered, *self._end(call, Outcome.TRANSFERRED)]
        raise ValueError(f"unknown queue news {kind!r}")

    def _offer(self, call: Call) -> CallEvent:
        prompts = self.centre.prompts
        known = self.callback_number(call) is not None
        text = prompts.offer if known else prompts.offer_without_callback
        return self._prompt(call, text.format(), PromptKind.QUEUE)

    def _queue_key(self, call: Call, key: str) -> list[CallEvent]:
        """In the queue only the callback key does anything (once offered); with no agent
        to be had, the self-service and callback keys, anything else is a no-match."""
        centre = self.centre
        if call.phase is Phase.QUEUED:
            return []
        if key == centre.callback_key and self.callback_number(call) is not None:
            return self._request_callback(call)
        if call.phase is Phase.OFFERED:
            return []
        if key == centre.self_service_key:
            return self._move(call, "self-service")
        return self._no_agent_failure(call, no_input=False, key=key)

    def _no_agent_failure(
        self, call: Call, *, no_input: bool, key: str | None = None
    ) -> list[CallEvent]:
        """Silence or a wrong key at the offer: the offer again, up to the node's maxima,
        then goodbye (a transfer would only meet the closed queue again)."""
        settings = self.node(call).settings
        if no_input:
            call.no_input_count += 1
            event = CallEvent(EventType.NO_INPUT, call.state, count=call.no_input_count)
            over = call.no_input_count >= settings.max_no_input
            notice = self.menu.messages.no_input
        else:
            call.no_match_count += 1
            event = CallEvent(EventType.NO_MATCH, call.state, key=key, count=call.no_match_count)
            over = call.no_match_count >= settings.max_no_match
            notice = self.menu.messages.no_match
        if over:
            return [event, *self._hang_up(call, [], reason="no-agent")]
        return [event, self._prompt(call, notice, PromptKind.NOTICE), self._offer(call)]

    def _request_callback(self, call: Call) -> list[CallEvent]:
        """Ask the back office to store the callback; ``step`` remembers where from (1: the
        queue, so a failure goes back to waiting; 0: the offer with no agent)."""
        call.step = 1 if call.phase is Phase.OFFERED else 0
        call.phase = Phase.WAITING
        request = Request(
            REQUEST_CALLBACK,
            {"number": self.callback_number(call)},
            call_id="",
            caller_id=_text((call.variables or {}).get("caller_id")),
        )
        return [
            CallEvent(EventType.REQUEST, call.state, operation=REQUEST_CALLBACK, request=request)
        ]

    def _callback_reply(self, call: Call, received: BackOfficeReply) -> list[CallEvent]:
        prompts = self.centre.prompts
        result = received.reply.result
        answered = CallEvent(
            EventType.REPLY,
            call.state,
            operation=REQUEST_CALLBACK,
            result=result,
            reason=received.reason,
        )
        if result == "stored":
            confirm = self._prompt(call, prompts.callback_confirm.format(), PromptKind.QUEUE)
            stored = CallEvent(EventType.CALLBACK, call.state)
            return [answered, stored, confirm, *self._end(call, Outcome.CALLBACK)]
        failed = self._prompt(call, prompts.callback_failed.format(), PromptKind.QUEUE)
        if call.step == 1:
            call.phase = Phase.QUEUED
            return [answered, failed]
        call.phase = Phase.NO_AGENT
        return [
            answered,
            failed,
            self._prompt(call, prompts.offer_without_callback.format(), PromptKind.QUEUE),
        ]

    @staticmethod
    def _track(call: Call, entry: str) -> None:
        trail = call.trail
        if trail is not None:
            trail.append(entry)
            if len(trail) > 2 * TRAIL:
                del trail[:-TRAIL]

    def _context(self, call: Call) -> tuple[tuple[str, str], ...] | None:
        """What the agent taking the call needs (self-service menus): whether the caller
        was verified, the masked account, the path taken, the last case looked up and what
        it gave. Never a sensitive value, the caller's number or a typed phone number."""
        trail = call.trail
        if trail is None:
            return None
        from ivr.engine.backoffice import VERIFIED

        variables = call.variables or {}
        verified = variables.get("verified") == VERIFIED
        context = [("verified", "yes" if verified else "no")]
        account = variables.get("masked_phone")
        if account is not None:
            context.append(("account", str(account)))
        recent = trail[-TRAIL:]
        titles = [self.menu.nodes[e].title for e in recent if e in self.menu.nodes]
        context.append(("path", " › ".join(titles)))
        lookups = [e[1:] for e in recent if e.startswith("@")]
        if lookups:
            operation, _, result = lookups[-1].partition(":")
            context.append(("case", f"{operation}: {result}"))
            if verified or operation in ("find_account", "file_ticket"):
                for name in OPERATIONS[operation].gives:
                    value = variables.get(name)
                    if value is not None and name not in _NOT_CONTEXT | self.hidden:
                        context.append((name, str(value)))
        return tuple(context)

    def _hang_up(self, call: Call, notices: list[str], reason: str) -> list[CallEvent]:
        events = [self._prompt(call, text, PromptKind.NOTICE) for text in notices]
        events.append(self._prompt(call, self.menu.messages.goodbye, PromptKind.GOODBYE))
        events.append(CallEvent(EventType.HANGUP, call.state, reason=reason))
        return events + self._end(call, Outcome.DISCONNECTED)

    def _end(self, call: Call, outcome: Outcome) -> list[CallEvent]:
        """End the call where it is; the end event names the node, not the final state."""
        where = call.state
        self.machine.events[f"end:{outcome}"].trigger(call)
        call.phase = Phase.ENDED
        call.outcome = outcome
        return [CallEvent(EventType.CALL_END, where, outcome=outcome)]

    @staticmethod
    def _prompt(call: Call, text: str, kind: PromptKind) -> CallEvent:
        return CallEvent(EventType.PROMPT, call.state, text=text, kind=kind)

    def _say(self, call: Call, text: str, kind: PromptKind) -> CallEvent:
        """A node's own text, its template (if any) filled with the call's variables."""
        if is_template(text):
            from ivr.engine.readings import fill

            text = fill(text, call.variables or {}, self.hidden)
        return CallEvent(EventType.PROMPT, call.state, text=text, kind=kind)

    # -- collect nodes --------------------------------------------------------------------

    def _collect_key(self, call: Call, key: str) -> list[CallEvent]:
        node = self.node(call)
        collect = node.collect
        assert collect is not None
        if key == collect.terminator:
            if not call.digits:
                return self._no_match(call, key=key)
            return self._complete(call, "terminator")
        if key.isdigit():
            call.digits += key
            if len(call.digits) > collect.max_length:  # waiting for the terminator
                return self._no_match(call, entry=call.digits)
            if len(call.digits) == collect.max_length and collect.terminator is None:
                return self._complete(call, "max-length")
            return []
        if key == "*":  # start the entry again
            call.no_match_count = 0
            return self._repeat(call)
        global_action = self.menu.global_keys.get(key)
        if global_action is not None:
            call.digits = ""
            return self._apply(call, Action(ActionKind.GLOBAL, global_action))
        return self._no_match(call, key=key)

    def _spoken_entry(self, call: Call, said: Utterance, digits: str) -> list[CallEvent]:
        """Digits said as words: the whole entry at once, taken if the recognizer is sure."""
        confidence = round(said.confidence, 3)
        accepted = confidence >= self.menu.speech.accept
        heard = CallEvent(
            EventType.UTTERANCE,
            call.state,
            text=said.text,
            confidence=confidence,
            decision=Verdict.ACCEPT if accepted else Verdict.REJECT,
            score=confidence,
            phrase=digits,
            sensitive=self._secret(call),
        )
        if not accepted:
            return [heard, *self._no_match(call)]
        call.digits = digits
        return [heard, *self._complete(call, "speech")]

    def _complete(self, call: Call, how: str) -> list[CallEvent]:
        """The entry is over: store it and go on, or a no-match if it is not valid."""
        node = self.node(call)
        collect = node.collect
        assert collect is not None
        entry, call.digits = call.digits, ""
        pattern = self._patterns.get(node.id)
        if not (
            collect.min_length <= len(entry) <= collect.max_length
            and (pattern is None or pattern.fullmatch(entry))
        ):
            return self._no_match(call, entry=entry)
        self._set(call, collect.store, entry)
        done = CallEvent(
            EventType.DIGITS, call.state, text=entry, reason=how, sensitive=self._secret(call)
        )
        return [done, *self._move(call, "next")]

    @staticmethod
    def _set(call: Call, name: str, value: Value) -> None:
        if call.variables is None:
            call.variables = {}
        call.variables[name] = value

    # -- record nodes -----------------------------------------------------------------------

    def _record_prompts(self, call: Call, events: list[CallEvent]) -> list[CallEvent]:
        """The prompts before a recording, then the beep; the recording starts after them."""
        record = self.node(call).record
        assert record is not None
        call.phase = Phase.RECORDING
        call.step = 0
        if record.beep:
            events.append(self._prompt(call, BEEP, PromptKind.BEEP))
        return events

    def _record_start(self, call: Call) -> list[CallEvent]:
        """The prompts and the beep are said: the recording starts (the timeline times it)."""
        if call.step == 1:
            return []
        call.step = 1
        return [CallEvent(EventType.RECORD, call.state, reason="start")]

    def _record_key(self, call: Call, key: str) -> list[CallEvent]:
        """A key before the recording (it stopped the prompt): the skip key leaves no
        message, any other key only cuts the prompt short: the beep, then the recording.
        During the recording the timeline takes the keys (terminator, skip key)."""
        record = self.node(call).record
        assert record is not None
        if call.step == 1:
            return []
        if key == record.skip_key:
            return self._recorded(call, RecordingOver("skipped"))
        return self._record_prompts(call, [])

    def _recorded(self, call: Call, over: RecordingOver) -> list[CallEvent]:
        """The recording ended: keep the message and go on, skip it, or count a no-input."""
        record = self.node(call).record
        assert record is not None
        seconds = round(over.seconds, 3)
        reason = over.reason
        kept = reason in ("terminator", "silence", "max-length")
        done = CallEvent(
            EventType.RECORD,
            call.state,
            reason=reason,
            seconds=seconds if reason != "skipped" else None,
            text=over.reference if kept and over.reference else None,
        )
        if reason == "hangup":
            return [done]  # the hang-up follows; no message is kept from an abandoned call
        if reason == "no-input" and not record.skip_if_silent:
            call.step = 0
            return [done, *self._no_input(call)]
        self._set(call, record.store, over.reference if kept else "")
        # Skipped: both empty, "no message"; a kept message always has its length (0 s
        # too: the caller chose to end it), with or without a file to refer to.
        self._set(call, record.seconds_variable, Decimal(f"{seconds:.3f}") if kept else "")
        return [done, *self._move(call, "next")]

    # -- action and switch nodes ------------------------------------------------------------

    def _request(self, call: Call, node: Node) -> CallEvent:
        """What to ask the back office; the driver fills in the call's id."""
        action = node.action
        assert action is not None
        operation = OPERATIONS[action.operation]
        variables = call.variables or {}
        values: dict[str, Value] = {}
        sensitive = set(operation.sensitive)
        for name, template in action.values.items():
            values[name] = self._value(template, variables)
            if any(field.name in self.hidden for field in fields(template)):
                sensitive.add(name)
        caller_id = variables.get("caller_id")
        request = Request(
            operation.name,
            values,
            call_id="",
            caller_id=caller_id if isinstance(caller_id, str) else None,
            sensitive=frozenset(sensitive),
        )
        return CallEvent(EventType.REQUEST, call.state, operation=operation.name, request=request)

    def _value(self, template: str, variables: Mapping[str, Value]) -> Value:
        """A ``with:`` value: one variable as it is (``"{account_id}"``), else the text."""
        parts = parse(template)
        if len(parts) == 1 and parts[0][0] == "" and parts[0][1] is not None:
            return variables.get(parts[0][1].name)
        from ivr.engine.readings import fill

        return fill(template, variables)

    def _reply(self, call: Call, received: BackOfficeReply) -> list[CallEvent]:
        node = self.node(call)
        action = node.action
        assert action is not None
        reply: Reply = received.reply
        reason = received.reason
        result = reply.result
        if result not in action.results:
            reason = reason or f"unexpected result {result!r}"
            result = ERROR
        gives = OPERATIONS[action.operation].gives
        for name, value in reply.values.items():
            if name in gives and name not in self.hidden:
                self._set(call, name, value)
        call.phase = Phase.LISTENING
        self._track(call, f"@{action.operation}:{result}")
        answered = CallEvent(
            EventType.REPLY, call.state, operation=action.operation, result=result, reason=reason
        )
        if result not in action.results:  # no branch for error (ivr check forbids it)
            return [answered, *self._transfer(call, [self.menu.messages.transfer], "error")]
        return [answered, *self._move(call, f"result:{result}")]

    def _switch_trigger(self, call: Call) -> str:
        switch = self.node(call).switch
        assert switch is not None
        value: Any = (call.variables or {}).get(switch.variable)
        said = None if value is None else str(value)
        return f"case:{said}" if said is not None and said in switch.cases else "default"


_Edge = tuple[str, tuple[str, ...], str]
"""A declared transition: its trigger, the nodes it leaves, the state it leads to."""


@dataclass(frozen=True, slots=True)
class _Graph:
    """What a menu's machine is made of, nothing else: menus equal here share one."""

    states: tuple[str, ...]
    finals: tuple[str, ...]
    initial: str
    edges: tuple[_Edge, ...]


def _graph(menu: Menu) -> _Graph:
    """The machine's states and declared edges, in declaration order (the diagrams' and
    coverage's order)."""
    ends = {
        outcome: state
        for outcome, state in _END_STATES.items()
        if outcome is not Outcome.CALLBACK or menu.contact_centre is not None
    }
    edges: list[_Edge] = []
    for node in menu.nodes.values():
        here = (node.id,)
        for key, target in node.options.items():
            edges.append((f"select:{key}", here, target))
        if node.parent is not None and node.kind not in (NodeKind.ACTION, NodeKind.SWITCH):
            edges.append(("back", here, node.parent))
            if node.kind in (NodeKind.ANSWER, NodeKind.PROCEDURE):
                edges.append(("finish", here, node.parent))
        if node.collect is not None:
            edges.append(("next", here, node.collect.next))
        if node.record is not None:
            edges.append(("next", here, node.record.next))
        if node.action is not None:
            for result, target in node.action.results.items():
                edges.append((f"result:{result}", here, target))
        if node.switch is not None:
            for value, target in node.switch.cases.items():
                edges.append((f"case:{value}", here, target))
            edges.append(("default", here, node.switch.default))
        if node.shortcuts:
            for leaf in menu.descendants(node.id):
                edges.append((f"shortcut:{leaf.id}", here, leaf.id))
        failure = node.settings.on_max_failures
        if failure.action is FailureActionKind.GOTO and failure.target is not None:
            edges.append((f"goto:{failure.target}", here, failure.target))
    below_start = tuple(
        node.id
        for node in menu.nodes.values()
        if node.id != menu.start and node.kind not in (NodeKind.ACTION, NodeKind.SWITCH)
    )
    edges.append(("main", below_start, menu.start))
    nodes = tuple(menu.nodes)
    for outcome, end_state in ends.items():
        edges.append((f"end:{outcome}", nodes, end_state))
    if menu.contact_centre is not None:  # no agent now: back to the start menu
        edges.append(("self-service", nodes, menu.start))
    return _Graph(nodes, tuple(ends.values()), menu.start, tuple(edges))


@lru_cache(maxsize=32)
def _machine(graph: _Graph) -> Machine:
    """The `transitions` machine of a graph, built once per process and shared by every
    `CallFlow` with that graph, in any thread. Sharing is safe because the machine keeps
    nothing of a call: calls are not its models (each trigger is given the `Call`), it has
    no callbacks, and it is not ``queued`` (a queued machine keeps one queue of pending
    triggers for all its models: a trigger made while another call's is under way, from
    another thread, would wait in that queue and return before moving its call)."""
    states: list[str | State] = list(graph.states)
    states += [State(name, final=True) for name in graph.finals]
    machine = Machine(
        model=None,
        states=states,
        initial=graph.initial,
        auto_transitions=False,
        model_override=True,
        queued=False,
    )
    for trigger, sources, dest in graph.edges:
        machine.add_transition(trigger, list(sources), dest)
    return machine


_HEARD_IN = (Phase.LISTENING, Phase.PLAYING, Phase.CONFIRMING, Phase.WAITING)
"""The phases with a grammar (WAITING: an action node's, the hold while the back office
answers)."""

_QUEUE_WAITS = frozenset({Phase.QUEUED, Phase.OFFERED})
"""Waiting for an agent."""
_QUEUE_PHASES = frozenset({Phase.QUEUED, Phase.OFFERED, Phase.NO_AGENT})


def _text(value: Value) -> str | None:
    return value if isinstance(value, str) else None


def _commands(phrases: Mapping[str, tuple[str, ...]], kind: ActionKind) -> list[Choice]:
    return [Choice(phrase, Action(kind, name)) for name, said in phrases.items() for phrase in said]


def _unique_phrases(choices: list[Choice]) -> list[Choice]:
    """Keep the first choice for each phrase, compared in normal form."""
    seen: set[str] = set()
    unique = []
    for choice in choices:
        form = normalize(choice.phrase)
        if form and form not in seen:
            seen.add(form)
            unique.append(choice)
    return unique
