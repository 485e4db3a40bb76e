"""The menu file as frozen dataclasses: what the engine plays and the checker validates.

A menu is a tree of nodes. A node with ``options`` is a menu, one with ``answer`` a short
spoken answer, one with ``steps`` a procedure read step by step; the self-service nodes
gather and act: ``collect`` gathers digits into a call variable, ``operation`` asks the back
office and branches on its result, ``switch`` branches on a variable's value. Every node but
the start has a parent: the first menu (in breadth-first order from the start) that offers
it, which is where "返回上一级" and the end of an answer lead; a node reached through a
collect, action or switch node has that node's parent (the flow is one step of its menu).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from ivr.menu.phrases import (
    DEFAULT_CONFIRM_PHRASES,
    DEFAULT_GLOBAL_PHRASES,
    DEFAULT_STEP_PHRASES,
    Phrases,
)
from ivr.menu.templates import is_template
from ivr.menu.tree import find_parents, tree_leaves


class NodeKind(StrEnum):
    MENU = "menu"
    ANSWER = "answer"
    PROCEDURE = "procedure"
    COLLECT = "collect"
    """Gathers digits (keyed or spoken) into a call variable, then goes to ``next``."""
    ACTION = "action"
    """Asks the back office to perform an operation and branches on its result."""
    SWITCH = "switch"
    """Branches on a call variable's value at once (nothing is said)."""
    RECORD = "record"
    """Records the caller's message after a beep into a call variable, then goes to ``next``."""


FLOW_KINDS = frozenset({NodeKind.COLLECT, NodeKind.ACTION, NodeKind.SWITCH, NodeKind.RECORD})
"""Nodes that lead on by themselves (``next``, ``results``, ``cases``), not by options."""

MASK = "******"
"""What a sensitive value (a PIN, a code) is written and shown as, everywhere."""

INTER_DIGIT_TIMEOUT = 3.0
"""Seconds between two digits before the entry counts as finished: VoiceXML platforms use
1-3 s, FreeSWITCH half the no-input timeout (2.5 s at 5 s); 3 s gives a caller reading an
11-digit number off a card time to find the next digit."""
BACKOFFICE_TIMEOUT = 5.0
"""Seconds an action waits for the back office before its result is ``error``."""
HOLD_AFTER = 1.0
"""Seconds of silence before an action's ``hold_prompt`` is said (a reply sooner: none)."""
RECORD_MAX_LENGTH = 60.0
"""Seconds a voice message may last unless the node says otherwise: a minute is what
voicemail-style complaint lines commonly allow (Twilio's own default, 3600 s, is a
platform ceiling, not a prompt a caller hears)."""
FINAL_SILENCE = 3.0
"""Seconds of silence after speech that end a message: VoiceXML's ``finalsilence`` is the
platform's (commonly 2-5 s), Twilio's ``timeout`` 5 s; 3 s lets a caller pause for
thought without waiting long after the last word."""
BEEP = "嘀"
"""The prompt text that stands for the beep before a recording: players and the call WAV
play it as a tone (`ivr.prompts.cache`), the log and transcript show it as this text."""


@dataclass(frozen=True)
class Collect:
    """A collect node's entry: how many digits, how it ends, how it is checked and kept."""

    store: str
    """The call variable the digits are stored in."""
    next: str
    """The node the call goes to once a valid entry is stored."""
    min_length: int = 1
    max_length: int = 20
    """Reaching it ends the entry at once (FreeSWITCH ``max_digits``)."""
    terminator: str | None = "#"
    """The key that ends the entry early; None: only the length or the timeout end it."""
    first_digit_timeout: float | None = None
    """Seconds for the first digit after the prompt; None: the node's no-input timeout."""
    inter_digit_timeout: float = INTER_DIGIT_TIMEOUT
    pattern: str | None = None
    """A regular expression the whole entry must match (``1[3-9][0-9]{9}``)."""
    sensitive: bool = False
    """A PIN, code or ID number: never said back, logged or shown in clear (``MASK``)."""


@dataclass(frozen=True)
class Record:
    """A record node's message: where it is kept, how it ends, what silence means.

    VoiceXML ``<record>`` (``maxtime``, ``finalsilence``, ``dtmfterm``, ``beep``) and
    Twilio ``<Record>`` (``maxLength``, ``timeout``, ``finishOnKey``, ``playBeep``)."""

    store: str
    """The call variable for the message's reference (``<call-id>-message.wav``, or ""
    when skipped or when the call's audio is not kept, so no file holds it);
    ``<store>_seconds`` holds its length in seconds (a kept message has one, even
    without a file; ``""`` when skipped: no message)."""
    next: str
    """The node the call goes to once the message is recorded (or skipped)."""
    max_length: float = RECORD_MAX_LENGTH
    """Seconds the message may last; reaching it ends the recording."""
    final_silence: float = FINAL_SILENCE
    """Seconds of silence after speech that end the recording."""
    terminator: str | None = "#"
    """The key that ends the recording (not part of the message); None: none does."""
    skip_key: str | None = None
    """A key that leaves no message, heard before the caller has spoken (the prompt says
    it: "不留言请按1"); None: a message is asked for."""
    skip_if_silent: bool = False
    """Nothing said within the no-input timeout after the beep leaves no message; False: a
    no-input, counted and reprompted like any other."""
    beep: bool = True
    """A beep after the prompt marks where the recording starts."""

    @property
    def seconds_variable(self) -> str:
        return f"{self.store}_seconds"


@dataclass(frozen=True)
class BackOfficeAction:
    """An action node: the operation, the values it is given, where each result leads."""

    operation: str
    values: Mapping[str, str]
    """Name the operation takes -> a template of call variables (``"{account_id}"``)."""
    results: Mapping[str, str]
    """Result (and ``error``) -> node."""
    timeout: float = BACKOFFICE_TIMEOUT
    hold_prompt: str = ""
    hold_after: float = HOLD_AFTER


@dataclass(frozen=True)
class Switch:
    """A switch node: the variable, the node for each of its values, and the default."""

    variable: str
    cases: Mapping[str, str]
    default: str


class GlobalAction(StrEnum):
    """What a global key does, in every menu and procedure."""

    AGENT = "agent"
    REPEAT = "repeat"
    BACK = "back"
    MAIN = "main"
    HANGUP = "hangup"


class FailureActionKind(StrEnum):
    TRANSFER = "transfer"
    HANGUP = "hangup"
    GOTO = "goto"


@dataclass(frozen=True)
class FailureAction:
    """What happens when a caller exhausts the no-input or no-match retries."""

    action: FailureActionKind = FailureActionKind.TRANSFER
    target: str | None = None
    """The node to go to, for ``goto``."""
    prompt: str | None = None
    """Said before the action; None means ``messages.max_failures``."""


@dataclass(frozen=True)
class Settings:
    """Timers and retry limits; defaults are the common contact-centre ones."""

    no_input_timeout: float = 5.0
    max_no_input: int = 3
    max_no_match: int = 3
    on_max_failures: FailureAction = field(default_factory=FailureAction)
    end_of_speech: float | None = None
    """Seconds of silence after speech that end an utterance; None: the model's rules."""


@dataclass(frozen=True)
class Voice:
    id: str = "sit/cmn"
    """espeak-ng voice id."""
    rate: int = 170
    """Words per minute."""


@dataclass(frozen=True)
class StepKeys:
    next: str = "1"
    repeat: str = "2"
    previous: str = "3"


@dataclass(frozen=True)
class ConfirmKeys:
    yes: str = "1"
    no: str = "2"


@dataclass(frozen=True)
class Speech:
    """How spoken input is recognized and judged."""

    model: str | None = None
    """Default model directory name for the menu's language (see ``ivr models``)."""
    accept: float = 0.7
    """A spoken choice scoring at least this is taken at once."""
    confirm: float = 0.45
    """At least this (and below ``accept``): the caller is asked to confirm."""
    calibrated_for: str | None = None
    """The model ``accept`` and ``confirm`` were measured for (``ivr speech-eval``)."""
    second_pass: bool = False
    """Check each result against a syllable loop (``Rejection.second_pass()``): it turns
    out-of-grammar speech away, but only for phrases the loop explains worse than the menu
    does, so it is on only where ``ivr speech-eval`` measured it to help."""
    decoys: bool | tuple[str, ...] = False
    """Words the grammar also listens for, so that speech no menu offers (numbers, fillers)
    lands on them and is rejected instead of being forced onto a menu phrase: True the list
    shipped for the language (``ivr/hearing/data/decoys.<language>.txt``), or the words
    themselves. It costs recall where a decoy sounds like a menu phrase, so it is on only
    where ``ivr speech-eval`` measured it to help."""
    barge_in: bool = True


@dataclass(frozen=True)
class Messages:
    """System prompts, with Mandarin defaults."""

    no_input: str = "抱歉，没有收到您的按键。"
    no_match: str = "抱歉，您的输入有误。"
    transfer: str = "正在为您转接人工客服，请稍候。"
    max_failures: str = "抱歉，多次未能收到有效的选择。"
    goodbye: str = "感谢您的来电，再见。"
    step_ordinal: str = "第{n}步："
    step_hint: str = "下一步请按1，重听本步请按2，上一步请按3。"
    first_step: str = "这已经是第一步。"
    confirm: str = "您要咨询的是{title}吗？是请按1或说“是”，不是请按2或说“不是”。"
    declined: str = "好的。"
    no_message: str = "抱歉，没有听到您的留言。"
    """A record node heard nothing after the beep (its no-input notice)."""


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""The weekday names of ``contact_centre.hours``, in ``datetime.weekday()`` order."""


@dataclass(frozen=True)
class QueuePrompts:
    """What the contact centre says; Mandarin defaults, neutral: no hours, no promises."""

    position: str = "您前面还有{position}位，预计等待约{minutes}分钟。"
    """Queue position and the estimated wait, in whole minutes (at least one)."""
    closed: str = "抱歉，人工客服目前不在服务时间。"
    """Outside business hours; may name when agents are next available (``{opens}``)."""
    full: str = "抱歉，目前来电较多，人工客服暂时无法接听。"
    """The queue is at its maximum length."""
    offer: str = "返回自助服务请按1，登记回电请按2。"
    """After the closed or full message: self-service or a callback."""
    offer_without_callback: str = "返回自助服务请按1。"
    """The same without a number to call back (no caller ID, nothing collected)."""
    callback_offer: str = "如需登记回电，请按2。"
    """In the queue, once the caller has waited ``callback_after`` seconds."""
    callback_confirm: str = "已为您登记回电请求，感谢您的来电，再见。"
    callback_failed: str = "抱歉，暂时无法登记回电。"
    hold: str = ""
    """Said half way between two position announcements; empty: hold audio only."""


@dataclass(frozen=True)
class ContactCentre:
    """The agents behind the menu (``contact_centre:``): when they work, how many, how
    fast, and the queue's rules. Times of day are in ``time_zone``; ``agents`` and
    ``calls_per_hour`` hold from each time of day (``"09:00"``) until the next one."""

    time_zone: str
    hours: Mapping[str, tuple[tuple[int, int], ...]]
    """Weekday (``WEEKDAYS``) -> open periods, minutes since midnight (end exclusive)."""
    holidays: frozenset[str] = frozenset()
    """ISO dates (``2026-01-01``) closed all day."""
    agents: tuple[tuple[int, int], ...] = ((0, 1),)
    """(minute of the day, agents on duty from then), sorted."""
    calls_per_hour: tuple[tuple[int, float], ...] = ((0, 0.0),)
    """(minute of the day, calls per hour reaching the queue from then): the load a single
    call's queue simulates around it."""
    handle_time: float = 240.0
    """An agent's average handle time per call, seconds (exponential in the simulation)."""
    max_queue: int = 20
    announce_every: float = 60.0
    callback_after: float | None = None
    """Seconds in the queue before the callback offer; None: never offered in the queue."""
    callback_number: tuple[str, ...] = ("caller_id",)
    """Call variables tried in order for the number to call back."""
    self_service_key: str = "1"
    callback_key: str = "2"
    hold_audio: str | None = None
    """A recording played between announcements in live calls (path, as written)."""
    prompts: QueuePrompts = field(default_factory=QueuePrompts)

    def texts(self) -> list[tuple[str, str]]:
        """(name, text) of every fixed prompt it can say (not ``position``: a template)."""
        p = self.prompts
        said = [
            ("closed", p.closed),
            ("full", p.full),
            ("offer", p.offer),
            ("offer_without_callback", p.offer_without_callback),
            ("callback_confirm", p.callback_confirm),
            ("callback_failed", p.callback_failed),
            ("hold", p.hold),
        ]
        if self.callback_after is not None:
            said.append(("callback_offer", p.callback_offer))
        return [(name, text) for name, text in said if text and "{" not in text]


@dataclass(frozen=True)
class Node:
    """One menu, answer or procedure."""

    id: str
    title: str
    kind: NodeKind
    settings: Settings
    parent: str | None = None
    prompt: str = ""
    short_prompt: str = ""
    options: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Key -> node id, in file order."""
    answer: str = ""
    intro: str = ""
    steps: tuple[str, ...] = ()
    step_ordinal: str = ""
    """Procedure: what precedes each step ({n}: its number); "" means messages.step_ordinal."""
    closing: str = ""
    phrases: tuple[str, ...] = ()
    """What a caller may say to choose this node; its title when the file names none."""
    shortcuts: bool = False
    """Menu: callers may name any answer or procedure below it."""
    sources: tuple[str, ...] = ()
    """Answer and procedure: the guide sections its content comes from (heading › item)."""
    collect: Collect | None = None
    action: BackOfficeAction | None = None
    switch: Switch | None = None
    record: Record | None = None

    def targets(self) -> list[str]:
        """Every node this one leads to: options, ``next``, results, cases."""
        found = list(self.options.values())
        if self.collect is not None:
            found.append(self.collect.next)
        if self.record is not None:
            found.append(self.record.next)
        if self.action is not None:
            found += self.action.results.values()
        if self.switch is not None:
            found += [*self.switch.cases.values(), self.switch.default]
        return found


@dataclass(frozen=True)
class Menu:
    """A whole hotline, ready to be played."""

    path: Path
    language: str
    title: str
    start: str
    nodes: Mapping[str, Node]
    voice: Voice = field(default_factory=Voice)
    greeting: str = ""
    global_keys: Mapping[str, GlobalAction] = field(default_factory=lambda: MappingProxyType({}))
    step_keys: StepKeys = field(default_factory=StepKeys)
    messages: Messages = field(default_factory=Messages)
    speech: Speech = field(default_factory=Speech)
    global_phrases: Phrases = field(default_factory=lambda: DEFAULT_GLOBAL_PHRASES)
    step_phrases: Phrases = field(default_factory=lambda: DEFAULT_STEP_PHRASES)
    confirm_phrases: Phrases = field(default_factory=lambda: DEFAULT_CONFIRM_PHRASES)
    confirm_keys: ConfirmKeys = field(default_factory=ConfirmKeys)
    guide: Path | None = None
    """The knowledge base the answers come from (the menu's ``guide``), if it names one."""
    contact_centre: ContactCentre | None = None
    """The agents behind ``transfer``; None: a transfer ends the call (``transferred``)."""

    def node(self, node_id: str) -> Node:
        return self.nodes[node_id]

    def step_text(self, node: Node, index: int) -> str:
        """The spoken form of step ``index`` (0-based): ordinal, then the step."""
        template = node.step_ordinal or self.messages.step_ordinal
        ordinal = template.format(n=chinese_number(index + 1))
        return ordinal + node.steps[index]

    def descendants(self, node_id: str) -> list[Node]:
        """Answers and procedures below a menu, in tree order: its speech shortcuts.

        Only the tree is walked (each node's parent), so options that link back up (9 回到
        交易咨询) add no shortcut and no cycle.
        """
        menus, parents = self._tree
        return [self.nodes[leaf] for leaf in tree_leaves(node_id, menus, parents)]

    @cached_property
    def _tree(self) -> tuple[dict[str, tuple[str, ...]], dict[str, str]]:
        """Each menu's targets and each node's parent, for walking the tree."""
        menus = {
            node_id: tuple(node.options.values())
            for node_id, node in self.nodes.items()
            if node.kind is NodeKind.MENU
        }
        parents = {node_id: node.parent for node_id, node in self.nodes.items() if node.parent}
        return menus, parents

    def confirm_text(self, node: Node) -> str:
        return self.messages.confirm.format(title=node.title)

    def prompt_texts(self) -> list[str]:
        """Every text the hotline can say, in a stable order, for pre-rendering."""
        return [prompt.text for prompt in self.prompts()]

    def messages_said(self) -> list[str]:
        """The names of the messages (``Messages`` fields) this menu can say: a menu in a
        language other than Mandarin must give each of them (``ivr check``), since the
        defaults are Mandarin."""
        nodes = list(self.nodes.values())
        procedures = any(node.kind is NodeKind.PROCEDURE for node in nodes)
        failures = [node.settings.on_max_failures for node in nodes]
        said = {
            "no_input": True,
            "no_match": True,
            "transfer": GlobalAction.AGENT in self.global_keys.values()
            or GlobalAction.AGENT in self.global_phrases
            or any(f.action is FailureActionKind.TRANSFER for f in failures),
            "max_failures": any(f.prompt is None for f in failures),
            "goodbye": self.contact_centre is not None
            or GlobalAction.HANGUP in self.global_keys.values()
            or GlobalAction.HANGUP in self.global_phrases
            or any(f.action is FailureActionKind.HANGUP for f in failures),
            # the engine's reprompt outside a menu, also in an answer after a declined
            # confirmation
            "step_hint": any(node.kind in (NodeKind.ANSWER, NodeKind.PROCEDURE) for node in nodes),
            "step_ordinal": any(
                node.kind is NodeKind.PROCEDURE and not node.step_ordinal for node in nodes
            ),
            "first_step": procedures,
            "confirm": True,
            "declined": True,
            "no_message": any(
                node.record is not None and not node.record.skip_if_silent for node in nodes
            ),
        }
        return [name for name, on in said.items() if on]

    def prompts(self) -> list[Prompt]:
        """Every text the hotline can say, once each, with a stable ID for its recording.

        The ID says where the text is said, not what it says, so an edited text keeps its
        ID (and a recording of the old text can be found out): ``<node>.greeting`` (the
        start node), ``<node>.menu``, ``.short``, ``.answer``, ``.intro``, ``.step.<n>``
        (1-based), ``.closing``, ``.hold`` (an action's hold prompt), ``.failure`` (its own
        ``on_max_failures`` prompt),
        ``.confirm``; the messages are ``global.<name>``, the beep before a recording
        ``global.beep``. Templates are filled in: each
        step with its ordinal (``第二步：…``) and each confirmation with what it names, so
        every ID is one concrete recording (``<node>.confirm`` names the node,
        ``global.confirm.<command>`` and ``global.confirm.step_<command>`` a spoken
        command). A text said in several places is listed once, at its first place in
        this order; a message the menu cannot say (the first-step notice without
        procedures) is not listed, nor a node text with a ``{variable}`` (known only in a
        call). Node ids are ``[a-z][a-z0-9_]*``, so IDs never contain ``/``.
        """
        m = self.messages
        nodes = list(self.nodes.values())
        procedures = any(node.kind is NodeKind.PROCEDURE for node in nodes)
        chosen = {target for node in nodes for target in node.options.values()}
        listed: list[Prompt] = [Prompt(f"{self.start}.greeting", self.start, self.greeting)]
        listed += [
            Prompt(f"global.{name}", "", getattr(m, name))
            for name in self.messages_said()
            if name not in ("step_ordinal", "confirm")  # said filled in, listed below
        ]
        for node in nodes:
            n = node.id
            own = [
                Prompt(f"{n}.menu", n, node.prompt),
                Prompt(f"{n}.short", n, node.short_prompt),
                Prompt(f"{n}.answer", n, node.answer),
                Prompt(f"{n}.intro", n, node.intro),
            ]
            # a template's text is known only in a call: nothing to record or render ahead
            listed += [p for p in own if not is_template(p.text)]
            listed += [
                Prompt(f"{n}.step.{i + 1}", n, self.step_text(node, i))
                for i in range(len(node.steps))
            ]
            if not is_template(node.closing):
                listed.append(Prompt(f"{n}.closing", n, node.closing))
            if node.action is not None and not is_template(node.action.hold_prompt):
                listed.append(Prompt(f"{n}.hold", n, node.action.hold_prompt))
            listed.append(Prompt(f"{n}.failure", n, node.settings.on_max_failures.prompt or ""))
            if node.parent or n in chosen:
                listed.append(Prompt(f"{n}.confirm", n, self.confirm_text(node)))
        if any(node.record is not None and node.record.beep for node in nodes):
            listed.append(Prompt("global.beep", "", BEEP))
        if self.contact_centre is not None:
            listed += [
                Prompt(f"queue.{name}", "", text) for name, text in self.contact_centre.texts()
            ]
        commands = [("", self.global_phrases)] + [("step_", self.step_phrases)] * procedures
        for prefix, phrases in commands:
            listed += [
                Prompt(f"global.confirm.{prefix}{name}", "", m.confirm.format(title=said_as[0]))
                for name, said_as in phrases.items()
                if said_as
            ]
        unique: dict[str, Prompt] = {}
        for prompt in listed:
            if prompt.text and prompt.text not in unique:
                unique[prompt.text] = prompt
        return list(unique.values())


class Prompt(NamedTuple):
    """One text the hotline says: its recording's ID, the node it is said in ("" for a
    message said anywhere) and the text, templates filled in."""

    id: str
    node: str
    text: str


_DIGITS = "零一二三四五六七八九"


def chinese_number(n: int) -> str:
    """1 -> 一, 10 -> 十, 12 -> 十二, 25 -> 二十五: how step numbers are read aloud (n < 100)."""
    if not 0 <= n < 100:
        raise ValueError(f"step number out of range: {n}")
    tens, ones = divmod(n, 10)
    if tens == 0:
        return _DIGITS[ones]
    return ("" if tens == 1 else _DIGITS[tens]) + "十" + (_DIGITS[ones] if ones else "")


def load(path: Path | str, *, cached: bool = True) -> Menu:
    """Read, validate and build a menu; raises MenuInvalid listing every problem.

    A menu that passed every check before, byte for byte (and its guide), comes from the
    checked-menu cache (``ivr.menu.cache``) without YAML or jsonschema; ``cached=False``
    always checks in full and leaves the cache alone.
    """
    from ivr.menu import cache

    path = Path(path)
    if not cached:
        return _load_checked(path)[0]
    menu, found = cache.lookup(path)
    if menu is not None:
        return menu
    menu, document = _load_checked(path, found.text)
    guide = document.get("guide")
    cache.store(found, menu, guide if isinstance(guide, str) else None, "title" not in document)
    return menu


def _load_checked(path: Path, text: str | None = None) -> tuple[Menu, Mapping[str, Any]]:
    """The full load: parse (``text``, else the file), check, build."""
    from ivr.menu.check import check_document, messages_in_language
    from ivr.menu.problems import MenuInvalid
    from ivr.menu.source import load_located

    document, problems = load_located(path, text)
    problems += check_document(document, path)
    if problems:
        raise MenuInvalid(problems)
    menu = build_menu(document, path)
    if problems := messages_in_language(menu, document, path):
        raise MenuInvalid(problems)
    return menu, document


def build_menu(document: Mapping[str, Any], path: Path) -> Menu:
    """Build a Menu from a document that has passed check_document."""
    defaults = _settings(document.get("settings", {}), Settings())
    parents = find_parents(document)
    nodes: dict[str, Node] = {}
    for node_id, raw in document["nodes"].items():
        nodes[node_id] = _node(node_id, raw, defaults, parents.get(node_id))
    raw_voice = document.get("voice", {})
    raw_steps = document.get("step_keys", {})
    return Menu(
        path=path,
        language=document["language"],
        title=document.get("title", path.stem),
        start=document["start"],
        nodes=MappingProxyType(nodes),
        voice=replace(Voice(), **raw_voice),
        greeting=document.get("greeting", ""),
        global_keys=MappingProxyType(
            {k: GlobalAction(v) for k, v in document.get("global_keys", {}).items()}
        ),
        step_keys=replace(StepKeys(), **raw_steps),
        messages=replace(Messages(), **document.get("messages", {})),
        speech=_speech(document.get("speech", {})),
        global_phrases=_phrases(document, "global_phrases", DEFAULT_GLOBAL_PHRASES),
        step_phrases=_phrases(document, "step_phrases", DEFAULT_STEP_PHRASES),
        confirm_phrases=_phrases(document, "confirm_phrases", DEFAULT_CONFIRM_PHRASES),
        confirm_keys=replace(ConfirmKeys(), **document.get("confirm_keys", {})),
        guide=path.parent / document["guide"] if "guide" in document else None,
        contact_centre=_contact_centre(document["contact_centre"])
        if "contact_centre" in document
        else None,
    )


def _speech(raw: Mapping[str, Any]) -> Speech:
    """``speech:`` as loaded; a list of decoys becomes a tuple (a menu is immutable)."""
    fields = dict(raw)
    if isinstance(fields.get("decoys"), list):
        fields["decoys"] = tuple(fields["decoys"])
    return replace(Speech(), **fields)


def clock_minutes(text: str) -> int:
    """``"09:30"`` -> 570; ``"24:00"`` -> 1440 (the end of a day)."""
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _contact_centre(raw: Mapping[str, Any]) -> ContactCentre:
    """The ``contact_centre`` block of a checked document."""
    hours = {
        day: tuple(
            (clock_minutes(period.split("-")[0]), clock_minutes(period.split("-")[1]))
            for period in raw.get("hours", {}).get(day, [])
        )
        for day in WEEKDAYS
    }

    def by_time(values: Mapping[str, Any]) -> list[tuple[int, Any]]:
        return sorted((clock_minutes(str(k)), v) for k, v in values.items())

    agents = tuple(by_time(raw.get("agents", {"00:00": 1})))
    load = tuple((m, float(v)) for m, v in by_time(raw.get("calls_per_hour", {"00:00": 0})))
    keys = raw.get("keys", {})
    after = raw.get("callback_after")
    number = raw.get("callback_number", ["caller_id"])
    return ContactCentre(
        time_zone=raw["time_zone"],
        hours=MappingProxyType(hours),
        holidays=frozenset(str(day) for day in raw.get("holidays", [])),
        agents=agents,
        calls_per_hour=load,
        handle_time=float(raw.get("handle_time", 240)),
        max_queue=int(raw.get("max_queue", 20)),
        announce_every=float(raw.get("announce_every", 60)),
        callback_after=None if after is None else float(after),
        callback_number=tuple([number] if isinstance(number, str) else number),
        self_service_key=str(keys.get("self_service", "1")),
        callback_key=str(keys.get("callback", "2")),
        hold_audio=raw.get("hold_audio"),
        prompts=replace(QueuePrompts(), **raw.get("prompts", {})),
    )


def _phrases(document: Mapping[str, Any], field_name: str, defaults: Phrases) -> Phrases:
    """The file's phrases for each command; the (Mandarin) defaults only for Chinese menus."""
    given = {name: tuple(values) for name, values in document.get(field_name, {}).items()}
    if not str(document["language"]).startswith("zh"):
        return MappingProxyType(given)
    return MappingProxyType({**defaults, **given})


def _settings(raw: Mapping[str, Any], base: Settings) -> Settings:
    values = dict(raw)
    if "on_max_failures" in values:
        action = dict(values["on_max_failures"])
        action["action"] = FailureActionKind(action["action"])
        values["on_max_failures"] = FailureAction(**action)
    return replace(base, **values)


def _node(node_id: str, raw: Mapping[str, Any], defaults: Settings, parent: str | None) -> Node:
    if "options" in raw:
        kind = NodeKind.MENU
    elif "steps" in raw:
        kind = NodeKind.PROCEDURE
    elif "collect" in raw:
        kind = NodeKind.COLLECT
    elif "operation" in raw:
        kind = NodeKind.ACTION
    elif "switch" in raw:
        kind = NodeKind.SWITCH
    elif "record" in raw:
        kind = NodeKind.RECORD
    else:
        kind = NodeKind.ANSWER
    prompt = raw.get("prompt", "")
    return Node(
        id=node_id,
        title=raw["title"],
        kind=kind,
        settings=_settings(raw.get("settings", {}), defaults),
        parent=parent,
        prompt=prompt,
        short_prompt=raw.get("short_prompt", prompt),
        options=MappingProxyType({str(k): v for k, v in raw.get("options", {}).items()}),
        answer=raw.get("answer", ""),
        intro=raw.get("intro", ""),
        steps=tuple(raw.get("steps", ())),
        step_ordinal=raw.get("step_ordinal", ""),
        closing=raw.get("closing", ""),
        phrases=tuple(raw.get("phrases", [raw["title"]])),
        shortcuts=raw.get("shortcuts", False),
        sources=_as_tuple(raw.get("source", ())),
        collect=_collect(raw["collect"]) if "collect" in raw else None,
        action=_action(raw) if "operation" in raw else None,
        switch=_switch(raw) if "switch" in raw else None,
        record=_record(raw["record"]) if "record" in raw else None,
    )


def _collect(raw: Mapping[str, Any]) -> Collect:
    values = dict(raw)
    if "terminator" in values and values["terminator"] == "none":
        values["terminator"] = None
    return Collect(**values)


def _record(raw: Mapping[str, Any]) -> Record:
    values = dict(raw)
    for key in ("terminator", "skip_key"):
        if values.get(key) == "none":
            values[key] = None
    for key in ("max_length", "final_silence"):
        if key in values:
            values[key] = float(values[key])
    return Record(**values)


def _action(raw: Mapping[str, Any]) -> BackOfficeAction:
    return BackOfficeAction(
        operation=raw["operation"],
        values=MappingProxyType({str(k): str(v) for k, v in raw.get("with", {}).items()}),
        results=MappingProxyType({str(k): v for k, v in raw["results"].items()}),
        timeout=raw.get("timeout", BACKOFFICE_TIMEOUT),
        hold_prompt=raw.get("hold_prompt", ""),
        hold_after=raw.get("hold_after", HOLD_AFTER),
    )


def _switch(raw: Mapping[str, Any]) -> Switch:
    return Switch(
        variable=raw["switch"],
        cases=MappingProxyType({str(k): v for k, v in raw.get("cases", {}).items()}),
        default=raw["default"],
    )


def _as_tuple(value: str | list[str] | tuple[()]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)
