"""Menu validation: the JSON Schema for shape, then the checks a schema cannot express.

Every problem is located at a line so that ``ivr check`` can print ``path:line: message``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import re
import string
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema

from ivr.limits import (
    BACKOFFICE_SECONDS,
    COLLECT_DIGITS,
    GUIDE_FILE_BYTES,
    HANDLE_SECONDS,
    MENU_NODES,
    PATTERN_CHARS,
    PROCEDURE_STEPS,
    PROMPT_CHARS,
    QUEUE_AGENTS,
    QUEUE_LENGTH,
    RECORD_SECONDS,
    TIMER_SECONDS,
)
from ivr.menu import templates
from ivr.menu.model import FINAL_SILENCE, RECORD_MAX_LENGTH
from ivr.menu.phrases import DEFAULT_GLOBAL_PHRASES, normalize
from ivr.menu.problems import MAX_PROBLEMS, MenuInvalid, MenuProblem, excerpt, shorten
from ivr.menu.source import line_of, read_limited
from ivr.menu.tree import find_parents, flow_targets, tree_leaves

if TYPE_CHECKING:
    from ivr.menu.model import Menu

_KEY_WORDS = {"星号": "*", "井号": "#", "*": "*", "#": "#"}
_ANNOUNCED_KEY = re.compile(r"按\s*(?:([0-9])|(星号|井号|\*|#))")


@cache
def menu_schema() -> dict[str, Any]:
    """The published JSON Schema of menu files (ivr/schema/menu.schema.json)."""
    text = resources.files("ivr").joinpath("schema/menu.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def announced_keys(text: str) -> set[str]:
    """Keys a prompt tells the caller to press: 请按3 -> {"3"}, 请按井号键 -> {"#"}."""
    return {digit or _KEY_WORDS[word] for digit, word in _ANNOUNCED_KEY.findall(text)}


TEMPLATE_FIELDS: Mapping[str, frozenset[str]] = {
    "step_ordinal": frozenset({"n"}),
    "confirm": frozenset({"title"}),
}
"""The messages ivr fills in (str.format), and the placeholders each may use. The other
messages are said exactly as written, braces and all."""

TIMERS = (
    "no_input_timeout",
    "end_of_speech",
    "first_digit_timeout",
    "inter_digit_timeout",
    "announce_every",
    "callback_after",
    "final_silence",
)
"""Settings that are seconds on a timer."""

BACKOFFICE_TIMERS = ("timeout", "hold_after")
"""An action node's seconds, bounded by BACKOFFICE_SECONDS."""

KIND_FIELDS = ("options", "answer", "steps", "collect", "operation", "switch", "record")
"""The field that makes a node a menu, answer, procedure, collect, action, switch or record
node."""

BUILT_IN_VARIABLES = frozenset({"caller_id"})
"""Call variables every call has (``caller_id``: the calling number, when known)."""


def check_document(document: Any, path: Path) -> list[MenuProblem]:
    """Every problem of a parsed menu document; an empty list means it can be played.

    The promise: a menu with no problems cannot crash a call. Whatever a call reads from
    the menu is checked here: shape (schema), limits, finite timers, templates, texts.
    """
    problems = _schema_problems(document, path)
    if problems:
        return problems  # the cross-checks below assume the shape is right
    linter = _Linter(document, path)
    problems = list(linter.limits())
    if problems:
        return problems  # the cross-checks' work grows with the menu's size
    return list(linter.problems())


def _schema_problems(document: Any, path: Path) -> list[MenuProblem]:
    if not isinstance(document, Mapping):
        return [not_a_mapping(document, path)]
    validator = jsonschema.Draft202012Validator(menu_schema())
    problems = []
    for error in itertools.islice(validator.iter_errors(document), MAX_PROBLEMS + 1):
        location = list(error.absolute_path)
        where = "/".join(shorten(str(part), 40) for part in location) or "top level"
        line = line_of(document, location + _offending_keys(error)[:1])
        problems.append(MenuProblem(path, line, f"{where}: {_say(error)}"))
    return sorted(problems)


def not_a_mapping(document: Any, path: Path) -> MenuProblem:
    """The one problem of a file that is not a YAML mapping; its content is never quoted
    (it may be any file a path led to, secrets and all)."""
    kinds = {str: "a string", list: "a list", bool: "a boolean", type(None): "empty"}
    kind = next((name for t, name in kinds.items() if isinstance(document, t)), "a value")
    if isinstance(document, int | float) and not isinstance(document, bool):
        kind = "a number"
    return MenuProblem(path, 1, f"top level: the file must be a YAML mapping of fields ({kind})")


def schema_message(error: jsonschema.ValidationError) -> str:
    """jsonschema's message with the offending value quoted as a short excerpt.

    jsonschema starts most messages with the whole value's repr, which for an expanded
    alias or a long text is megabytes; short values keep jsonschema's wording exactly.
    """
    message = error.message
    if len(message) > 100:
        whole = repr(error.instance)
        if len(whole) > 60 and message.startswith(whole):
            message = excerpt(error.instance) + message[len(whole) :]
    return shorten(message, 300)


def _offending_keys(error: jsonschema.ValidationError) -> list[str]:
    """Keys of a mapping that the error is about, so its line is the key's, not the mapping's."""
    instance = error.instance
    if not isinstance(instance, Mapping):
        return []
    if error.validator == "additionalProperties":
        schema = error.schema if isinstance(error.schema, Mapping) else {}
        allowed = schema.get("properties", {})
        return sorted(str(k) for k in instance if k not in allowed)
    return []


def _say(error: jsonschema.ValidationError) -> str:
    """A schema error in words a menu author understands."""
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        schema = error.schema if isinstance(error.schema, Mapping) else {}
        allowed = schema.get("properties", {})
        unknown = sorted(str(k) for k in error.instance if k not in allowed)
        if unknown and allowed:
            shown = ", ".join(shorten(name, 40) for name in unknown[:5])
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            return f"unknown field {shown}{more} (allowed: {', '.join(allowed)})"
    if error.validator == "required":
        return error.message.replace("is a required property", "is required")
    if error.validator == "pattern" and error.validator_value == "^[0-9*#]$":
        return f"{excerpt(error.instance)} is not a telephone key (0-9, * or #)"
    return schema_message(error)


SOURCE_SEPARATOR = "›"


@dataclass(frozen=True)
class Guide:
    """The knowledge base a menu answers from, as the lines a source path can name.

    Lines and sources are compared in NFKC form, so a source may write full-width ？ and ：
    where the guide has ASCII ones.
    """

    lines: tuple[str, ...]

    @classmethod
    def read(cls, path: Path) -> Guide:
        """The guide at ``path``; MenuInvalid (at the guide's line 1) if it cannot be read
        or is over GUIDE_FILE_BYTES: a guide may be any path, even /dev/zero."""
        text = unicodedata.normalize(
            "NFKC", read_limited(path, "guide", (GUIDE_FILE_BYTES, "GUIDE_FILE_BYTES"))
        )
        return cls(tuple(line.strip().removeprefix("-").strip() for line in text.splitlines()))

    def find(self, source: str) -> int | None:
        """The line index the source path ends at, or None when a part is missing."""
        return self._walk(source)[0]

    def missing(self, source: str) -> str | None:
        """The first part of a source path that the guide lacks after the parts before it."""
        return self._walk(source)[1]

    def _walk(self, source: str) -> tuple[int | None, str | None]:
        """Each part is the start of a line after the previous part's line: a heading path."""
        at = -1
        for part in (p.strip() for p in source.split(SOURCE_SEPARATOR)):
            part = unicodedata.normalize("NFKC", part)  # the guide mixes ? and ？, : and ：
            found = next(
                (i for i in range(at + 1, len(self.lines)) if self.lines[i].startswith(part)),
                None,
            )
            if not part or found is None:
                return None, part
            at = found
        return at, None


class _Linter:
    """Cross-reference checks over a schema-valid document."""

    def __init__(self, document: Mapping[str, Any], path: Path) -> None:
        self.doc = document
        self.path = path
        self.nodes: Mapping[str, Mapping[str, Any]] = document["nodes"]
        self.global_keys: Mapping[str, str] = document.get("global_keys", {})
        defaults = {"next": "1", "repeat": "2", "previous": "3"}
        self.step_keys: dict[str, str] = defaults | dict(document.get("step_keys", {}))
        self._parents: dict[str, str] | None = None
        self._options: dict[str, list[str]] = {}

    def problem(self, location: list[Any], message: str) -> MenuProblem:
        return MenuProblem(self.path, line_of(self.doc, location), message)

    def limits(self) -> Iterable[MenuProblem]:
        """The limits on size, which bound the work of every other check."""
        if len(self.nodes) > MENU_NODES:
            yield self.problem(
                ["nodes"], f"{len(self.nodes)} nodes; at most {MENU_NODES} (limit MENU_NODES)"
            )
        for node_id, node in self.nodes.items():
            steps = node.get("steps", [])
            if len(steps) > PROCEDURE_STEPS:
                yield self.problem(
                    ["nodes", node_id, "steps"],
                    f"{len(steps)} steps; at most {PROCEDURE_STEPS} (limit PROCEDURE_STEPS)",
                )

    def problems(self) -> Iterable[MenuProblem]:
        yield from self._values()
        yield from self._templates()
        yield from self._self_service()
        yield from self._targets()
        yield from self._reachability()
        yield from self._node_kinds()
        yield from self._key_clashes()
        yield from self._announcements()
        yield from self._phrase_clashes()
        yield from self._sources()
        yield from self._contact_centre()

    def _values(self) -> Iterable[MenuProblem]:
        """Every number finite, every timer within TIMER_SECONDS, every text short and
        free of control characters (JSON Schema can say none of these)."""
        stack: list[tuple[list[Any], Any]] = [([], self.doc)]
        while stack:
            location, value = stack.pop()
            where = "/".join(str(part) for part in location)
            if isinstance(value, Mapping):
                stack += [([*location, key], item) for key, item in value.items()]
            elif isinstance(value, list):
                stack += [([*location, index], item) for index, item in enumerate(value)]
            elif isinstance(value, float) and not math.isfinite(value):
                yield self.problem(location, f"{where}: {value} is not a finite number")
            elif (
                isinstance(value, int | float)
                and len(location) == 3
                and location[0] == "nodes"
                and location[-1] in BACKOFFICE_TIMERS
            ):
                if value > BACKOFFICE_SECONDS:
                    yield self.problem(
                        location,
                        f"{where}: {value:g} s is longer than {BACKOFFICE_SECONDS:g} s "
                        "(limit BACKOFFICE_SECONDS)",
                    )
            elif isinstance(value, int | float) and location and location[-1] in TIMERS:
                if value > TIMER_SECONDS:
                    yield self.problem(
                        location,
                        f"{where}: {value:g} s is longer than {TIMER_SECONDS:g} s "
                        "(limit TIMER_SECONDS)",
                    )
            elif isinstance(value, str):
                yield from self._text(location, where, value)

    def _text(self, location: list[Any], where: str, text: str) -> Iterable[MenuProblem]:
        if len(text) > PROMPT_CHARS:
            yield self.problem(
                location,
                f"{where}: {len(text)} characters; at most {PROMPT_CHARS} (limit PROMPT_CHARS)",
            )
        bad = next((ch for ch in text if _is_control(ch)), None)
        if bad is not None:
            yield self.problem(location, f"{where}: control character U+{ord(bad):04X} in text")

    def _templates(self) -> Iterable[MenuProblem]:
        """The messages ivr fills in may use only their own placeholders, written plainly."""
        messages = self.doc.get("messages", {})
        for name, allowed in TEMPLATE_FIELDS.items():
            if name in messages:
                problem = template_problem(messages[name], allowed)
                if problem is not None:
                    yield self.problem(["messages", name], f"messages/{name}: {problem}")
        for node_id, node in self.nodes.items():  # a procedure's own step_ordinal
            if "step_ordinal" in node:
                problem = template_problem(node["step_ordinal"], TEMPLATE_FIELDS["step_ordinal"])
                if problem is not None:
                    where = f"nodes/{node_id}/step_ordinal"
                    yield self.problem(["nodes", node_id, "step_ordinal"], f"{where}: {problem}")

    def _targets(self) -> Iterable[MenuProblem]:
        start = self.doc["start"]
        if start not in self.nodes:
            yield self.problem(["start"], f"start node {start!r} is not defined")
        elif "options" not in self.nodes[start]:
            yield self.problem(["start"], f"start node {start!r} must be a menu (with options)")
        for location, target in self._references():
            if target not in self.nodes:
                yield self.problem(location, f"unknown target {target!r}")

    def _references(self) -> Iterable[tuple[list[Any], str]]:
        """Every place that names a node: options and on_max_failures goto targets."""
        failure = self.doc.get("settings", {}).get("on_max_failures", {})
        if "target" in failure:
            yield ["settings", "on_max_failures", "target"], failure["target"]
        for node_id, node in self.nodes.items():
            here = ["nodes", node_id]
            for key, target in node.get("options", {}).items():
                yield [*here, "options", key], target
            if "collect" in node:
                yield [*here, "collect", "next"], node["collect"]["next"]
            if "record" in node:
                yield [*here, "record", "next"], node["record"]["next"]
            if "operation" in node:
                for result, target in node.get("results", {}).items():
                    yield [*here, "results", result], target
            if "switch" in node:
                for value, target in node.get("cases", {}).items():
                    yield [*here, "cases", value], target
                if "default" in node:
                    yield [*here, "default"], node["default"]
            failure = node.get("settings", {}).get("on_max_failures", {})
            if "target" in failure:
                yield ["nodes", node_id, "settings", "on_max_failures", "target"], failure["target"]

    def _reachability(self) -> Iterable[MenuProblem]:
        reached = {self.doc["start"]}
        frontier = [self.doc["start"]]
        while frontier:
            node = self.nodes.get(frontier.pop(), {})
            for target in [*node.get("options", {}).values(), *flow_targets(node)]:
                if target not in reached:
                    reached.add(target)
                    frontier.append(target)
        for node_id in self.nodes:
            if node_id not in reached:
                start = self.doc["start"]
                yield self.problem(
                    ["nodes", node_id], f"node {node_id!r} is unreachable from {start!r}"
                )

    def _node_kinds(self) -> Iterable[MenuProblem]:
        for node_id, node in self.nodes.items():
            here = ["nodes", node_id]
            kinds = [k for k in KIND_FIELDS if k in node]
            if not kinds:
                yield self.problem(here, f"node {node_id!r} has no options, answer or steps")
            elif len(kinds) > 1:
                yield self.problem(here, f"node {node_id!r} has both {kinds[0]} and {kinds[1]}")
            elif kinds == ["options"] and "prompt" not in node:
                yield self.problem(here, f"menu {node_id!r} has options but no prompt")
            if kinds in (["collect"], ["record"]) and "prompt" not in node:
                yield self.problem(here, f"{kinds[0]} node {node_id!r} has no prompt")
            if kinds not in (["options"], ["collect"], ["record"]):
                for field in ("prompt", "short_prompt"):
                    if field in node:
                        yield self.problem(
                            [*here, field], f"{field} is only for menus, collect and record nodes"
                        )
            if kinds != ["operation"]:
                for field in ("with", "results", "timeout", "hold_prompt", "hold_after"):
                    if field in node:
                        yield self.problem([*here, field], f"{field} is only for action nodes")
            elif "results" not in node:
                yield self.problem(here, f"action node {node_id!r} has no results")
            if kinds != ["switch"]:
                for field in ("cases", "default"):
                    if field in node:
                        yield self.problem([*here, field], f"{field} is only for switch nodes")
            elif "default" not in node:
                yield self.problem(here, f"switch node {node_id!r} has no default")
            if kinds != ["steps"]:
                for field in ("intro", "closing", "step_ordinal"):
                    if field in node:
                        yield self.problem([*here, field], f"{field} is only for procedures")

    def _key_clashes(self) -> Iterable[MenuProblem]:
        for node_id, node in self.nodes.items():
            for key in node.get("options", {}):
                if key in self.global_keys:
                    yield self.problem(
                        ["nodes", node_id, "options", key],
                        f"option key {key!r} clashes with global key {key!r} "
                        f"({self.global_keys[key]})",
                    )
        for name, key in self.step_keys.items():
            if key in self.global_keys:
                given = name in self.doc.get("step_keys", {})
                yield self.problem(
                    ["step_keys", name] if given else ["global_keys", key],
                    f"step key {key!r} ({name}) clashes with global key {key!r} "
                    f"({self.global_keys[key]})",
                )
        if len(set(self.step_keys.values())) < len(self.step_keys):
            yield self.problem(["step_keys"], "step keys must be three different keys")

    def _announcements(self) -> Iterable[MenuProblem]:
        """Prompts must announce every option and no key that does nothing.

        Only Chinese prompts are read ("请按3", "按井号键"); other languages are not checked.
        """
        if not str(self.doc["language"]).startswith("zh"):
            return
        global_keys = set(self.global_keys)
        step_keys = set(self.step_keys.values())
        start = self.nodes.get(self.doc["start"], {})
        if "greeting" in self.doc:
            allowed = global_keys | set(start.get("options", {}))
            yield from self._unknown_keys(["greeting"], self.doc["greeting"], allowed)
        hint = self.doc.get("messages", {}).get("step_hint")
        if hint is not None:
            yield from self._unknown_keys(["messages", "step_hint"], hint, global_keys | step_keys)
        for node_id, node in self.nodes.items():
            here = ["nodes", node_id]
            options = node.get("options", {})
            allowed = global_keys | set(options)
            if "steps" in node:
                allowed |= step_keys
            if "collect" in node:  # 请输入…以井号键结束, 按星号键重新输入: any key is allowed
                allowed |= set("0123456789*#")
            if "record" in node:  # 按井号键结束, 不留言请按1: only its own keys do something
                record = node["record"]
                allowed = {
                    key
                    for key in (record.get("terminator", "#"), record.get("skip_key"))
                    if key not in (None, "none")
                }
            for field in ("prompt", "short_prompt", "answer", "intro", "closing"):
                if field in node:
                    yield from self._unknown_keys([*here, field], node[field], allowed)
            for index, step in enumerate(node.get("steps", [])):
                yield from self._unknown_keys([*here, "steps", index], step, allowed)
            if options and "prompt" in node:
                announced = announced_keys(node["prompt"])
                for key, target in options.items():
                    if key not in announced:
                        yield self.problem(
                            [*here, "options", key],
                            f"option {key} ({target}) is never announced in the prompt",
                        )

    def _phrase_clashes(self) -> Iterable[MenuProblem]:
        """A phrase must mean one thing where it can be said: options, shortcuts, commands."""
        defaults = DEFAULT_GLOBAL_PHRASES if str(self.doc["language"]).startswith("zh") else {}
        commands = {**defaults, **self.doc.get("global_phrases", {})}
        for node_id, node in self.nodes.items():
            if "options" not in node:
                continue
            meanings: dict[str, set[str]] = {}
            for name, phrases in commands.items():
                for phrase in phrases:
                    meanings.setdefault(normalize(phrase), set()).add(f"the {name} command")
            targets = list(node["options"].values())
            if node.get("shortcuts"):
                targets += self._leaves_below(node_id)
            for target in targets:
                said = self.nodes.get(target, {})
                for phrase in said.get("phrases", [said.get("title", "")]):
                    meanings.setdefault(normalize(phrase), set()).add(repr(target))
            for phrase, meant in sorted(meanings.items()):
                if len(meant) > 1:
                    yield self.problem(
                        ["nodes", node_id],
                        f"phrase {phrase!r} means {' and '.join(sorted(meant))} in {node_id!r}",
                    )

    def _sources(self) -> Iterable[MenuProblem]:
        """With a guide, every answer and procedure says where in it its content comes from."""
        if "guide" not in self.doc:
            return
        guide_path = self.path.parent / self.doc["guide"]
        try:
            guide = Guide.read(guide_path)
        except MenuInvalid as invalid:
            reason = invalid.problems[0].message.removeprefix("cannot read guide: ")
            yield self.problem(["guide"], f"cannot read guide {str(guide_path)!r}: {reason}")
            return
        for node_id, node in self.nodes.items():
            if "answer" not in node and "steps" not in node:
                continue  # menus and self-service nodes say what the caller asked for
            here = ["nodes", node_id]
            if "source" not in node:
                yield self.problem(here, f"{node_id!r} names no source in the guide")
                continue
            sources = node["source"] if isinstance(node["source"], list) else [node["source"]]
            for index, source in enumerate(sources):
                missing = guide.missing(source)
                if missing is not None:
                    where = [*here, "source", index] if isinstance(node["source"], list) else []
                    yield self.problem(
                        where or [*here, "source"],
                        f"source {source!r}: the guide has no {missing!r} there",
                    )

    # -- the contact centre ---------------------------------------------------------------

    def _contact_centre(self) -> Iterable[MenuProblem]:
        """A time zone that exists, periods that run forward without overlapping, real
        holidays, counts and durations within the limits, distinct offer keys that the
        prompts announce, templates with their own placeholders only, known variables."""
        centre = self.doc.get("contact_centre")
        if not isinstance(centre, Mapping):
            return
        here = ["contact_centre"]
        yield from self._time_zone([*here, "time_zone"], centre["time_zone"])
        for day, periods in centre.get("hours", {}).items():
            spans = []
            for index, period in enumerate(periods):
                start, end = (_minutes(part) for part in period.split("-"))
                if end <= start:
                    yield self.problem(
                        [*here, "hours", day, index],
                        f"contact_centre/hours/{day}: {period} ends before it starts",
                    )
                spans.append((start, end, index, period))
            spans.sort()
            for (_, end, _, before), (start, _, index, period) in itertools.pairwise(spans):
                if start < end:
                    yield self.problem(
                        [*here, "hours", day, index],
                        f"contact_centre/hours/{day}: {period} overlaps {before}",
                    )
        for index, day in enumerate(centre.get("holidays", [])):
            try:
                dt.date.fromisoformat(day)
            except ValueError:
                yield self.problem(
                    [*here, "holidays", index], f"contact_centre/holidays: {day} is not a date"
                )
        for moment, count in centre.get("agents", {}).items():
            if count > QUEUE_AGENTS:
                yield self.problem(
                    [*here, "agents", moment],
                    f"contact_centre/agents/{moment}: {count} agents; at most {QUEUE_AGENTS} "
                    "(limit QUEUE_AGENTS)",
                )
        if centre.get("max_queue", 0) > QUEUE_LENGTH:
            yield self.problem(
                [*here, "max_queue"],
                f"contact_centre/max_queue: {centre['max_queue']}; at most {QUEUE_LENGTH} "
                "(limit QUEUE_LENGTH)",
            )
        if centre["handle_time"] > HANDLE_SECONDS:
            yield self.problem(
                [*here, "handle_time"],
                f"contact_centre/handle_time: {centre['handle_time']:g} s is longer than "
                f"{HANDLE_SECONDS:g} s (limit HANDLE_SECONDS)",
            )
        yield from self._queue_prompts(here, centre)

    def _time_zone(self, location: list[Any], name: str) -> Iterable[MenuProblem]:
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            yield self.problem(
                location, f"contact_centre/time_zone: unknown time zone {shorten(name, 40)!r}"
            )

    def _queue_prompts(self, here: list[Any], centre: Mapping[str, Any]) -> Iterable[MenuProblem]:
        from ivr.menu.model import QueuePrompts

        keys = centre.get("keys", {})
        own, callback = str(keys.get("self_service", "1")), str(keys.get("callback", "2"))
        if own == callback:
            yield self.problem(
                [*here, "keys"], f"contact_centre/keys: self_service and callback are both {own}"
            )
        prompts = {**vars(QueuePrompts()), **centre.get("prompts", {})}
        allowed = {
            "position": frozenset({"position", "minutes"}),
            "closed": frozenset({"opens"}),
        }
        announces = {
            "offer": {own, callback},
            "offer_without_callback": {own},
            "callback_offer": {callback},
        }
        for name, text in prompts.items():
            location = [*here, "prompts", name]
            problem = template_problem(text, allowed.get(name, frozenset()))
            if problem is not None:
                yield self.problem(location, f"contact_centre/prompts/{name}: {problem}")
            extra = announced_keys(text) - announces.get(name, set())
            for key in sorted(extra):
                yield self.problem(
                    location,
                    f"contact_centre/prompts/{name}: announces key {key}, which does nothing there",
                )
        if "position" in centre.get("prompts", {}) and "{position}" not in prompts["position"]:
            yield self.problem(
                [*here, "prompts", "position"],
                "contact_centre/prompts/position: says no {position}",
            )
        number = centre.get("callback_number", ["caller_id"])
        known = set(BUILT_IN_VARIABLES) | {
            node["collect"]["store"] for node in self.nodes.values() if "collect" in node
        }
        hidden = {
            node["collect"]["store"]
            for node in self.nodes.values()
            if "collect" in node and node["collect"].get("sensitive")
        }
        for name in [number] if isinstance(number, str) else number:
            if name not in known or name in hidden:
                why = "is sensitive" if name in hidden else "is set by no collect node"
                yield self.problem(
                    [*here, "callback_number"],
                    f"contact_centre/callback_number: {name!r} {why}",
                )

    # -- self-service nodes -----------------------------------------------------------------

    def _self_service(self) -> Iterable[MenuProblem]:
        """Collect settings in range, operations the back office has with the values they
        take and a branch for every result, templates naming variables some node sets and
        no sensitive one, switches on known variables and not in a loop of their own."""
        from ivr.engine.backoffice import ERROR, OPERATIONS

        known = set(BUILT_IN_VARIABLES)
        hidden: set[str] = set()
        for node in self.nodes.values():
            if "record" in node:
                known.update(_record_variables(node["record"]))
            if "collect" in node:
                known.add(node["collect"]["store"])
                if node["collect"].get("sensitive"):
                    hidden.add(node["collect"]["store"])
            if node.get("operation") in OPERATIONS:
                known.update(OPERATIONS[node["operation"]].gives)
        surely = self._set_on_every_way(known)
        for node_id, node in self.nodes.items():
            here = ["nodes", node_id]
            sure = surely.get(node_id, known)
            if "collect" in node:
                yield from self._collect(here, node["collect"])
            if "record" in node:
                yield from self._record(here, node["record"], node.get("settings", {}))
            if "operation" in node:
                name = node["operation"]
                operation = OPERATIONS.get(name)
                if operation is None:
                    names = ", ".join(OPERATIONS)
                    yield self.problem(
                        [*here, "operation"],
                        f"unknown operation {shorten(name, 40)!r} (the back office has: {names})",
                    )
                else:
                    yield from self._action(here, node, operation, ERROR)
            for field in templates.TEMPLATE_FIELDS:
                if isinstance(node.get(field), str):
                    yield from self._template(
                        [*here, field], node[field], known, hidden, sure, spoken=True
                    )
            for name, value in node.get("with", {}).items():
                yield from self._template(
                    [*here, "with", name], str(value), known, hidden, sure, spoken=False
                )
            if "switch" in node and node["switch"] not in known:
                yield self.problem(
                    [*here, "switch"], f"switch on {node['switch']!r}, which no node sets"
                )
            if "switch" in node and node["switch"] in hidden:
                yield self.problem(
                    [*here, "switch"], f"switch on the sensitive variable {node['switch']!r}"
                )
        yield from self._switch_loops()

    def _collect(self, here: list[Any], collect: Mapping[str, Any]) -> Iterable[MenuProblem]:
        at = [*here, "collect"]
        low, high = collect.get("min_length", 1), collect.get("max_length", 20)
        for name, value in (("min_length", low), ("max_length", high)):
            if value > COLLECT_DIGITS:
                yield self.problem(
                    [*at, name],
                    f"{name} {value} is more than {COLLECT_DIGITS} digits (limit COLLECT_DIGITS)",
                )
        if low > high:
            yield self.problem([*at, "min_length"], f"min_length {low} is above max_length {high}")
        terminator = collect.get("terminator", "#")
        if terminator.isdigit():
            yield self.problem(
                [*at, "terminator"], f"terminator {terminator!r} is a digit: it could not be keyed"
            )
        pattern = collect.get("pattern")
        if pattern is not None:
            if len(pattern) > PATTERN_CHARS:
                yield self.problem(
                    [*at, "pattern"],
                    f"pattern: {len(pattern)} characters; at most {PATTERN_CHARS} "
                    "(limit PATTERN_CHARS)",
                )
            else:
                try:
                    re.compile(pattern)
                except re.error as error:
                    yield self.problem(
                        [*at, "pattern"], f"bad regular expression {excerpt(pattern)}: {error}"
                    )

    def _record(
        self, here: list[Any], record: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> Iterable[MenuProblem]:
        """A message no longer than RECORD_SECONDS, a final silence shorter than it, and a
        skip key that is not the terminator."""
        at = [*here, "record"]
        longest = record.get("max_length", RECORD_MAX_LENGTH)
        if longest > RECORD_SECONDS:
            yield self.problem(
                [*at, "max_length"],
                f"max_length {longest:g} s is longer than {RECORD_SECONDS:g} s "
                "(limit RECORD_SECONDS)",
            )
        silence = record.get("final_silence", FINAL_SILENCE)
        if silence >= longest:
            yield self.problem(
                [*at, "final_silence"],
                f"final_silence {silence:g} s is not shorter than max_length {longest:g} s",
            )
        terminator, skip = record.get("terminator", "#"), record.get("skip_key")
        if skip not in (None, "none") and skip == terminator:
            yield self.problem([*at, "skip_key"], f"skip_key {skip!r} is also the terminator")
        if record.get("store") in self.hidden_stores():
            yield self.problem(
                [*at, "store"], f"store {record['store']!r} is a sensitive collect node's variable"
            )

    def hidden_stores(self) -> set[str]:
        """The variables a sensitive collect node stores."""
        return {
            node["collect"]["store"]
            for node in self.nodes.values()
            if "collect" in node and node["collect"].get("sensitive")
        }

    def _action(
        self, here: list[Any], node: Mapping[str, Any], operation: Any, error: str
    ) -> Iterable[MenuProblem]:
        name = operation.name
        given = node.get("with", {})
        for value in given:
            if value not in operation.takes + operation.optional:
                takes = ", ".join(operation.takes + operation.optional)
                yield self.problem(
                    [*here, "with", value],
                    f"{name} does not take {shorten(str(value), 40)!r} (it takes: {takes})",
                )
        for value in operation.takes:
            if value not in given:
                yield self.problem(
                    [*here, "with"] if "with" in node else here,
                    f"{name} takes {value!r}: give it in with",
                )
        results = node.get("results", {})
        possible = (*operation.results, error)
        for result in results:
            if result not in possible:
                yield self.problem(
                    [*here, "results", result],
                    f"{name} has no result {shorten(str(result), 40)!r} "
                    f"(its results: {', '.join(possible)})",
                )
        if "results" in node:
            for result in possible:
                if result not in results:
                    yield self.problem(
                        [*here, "results"], f"result {result!r} of {name} is not branched on"
                    )

    def _template(
        self,
        location: list[Any],
        text: str,
        known: set[str],
        hidden: set[str],
        sure: set[str],
        *,
        spoken: bool,
    ) -> Iterable[MenuProblem]:
        where = "/".join(str(part) for part in location)
        try:
            found = templates.fields(text)
        except templates.TemplateError as error:
            yield self.problem(location, f"{where}: {error}")
            return
        for field in found:
            if field.name not in known:
                yield self.problem(
                    location, f"{where}: unknown variable {{{field.name}}}: no node sets it"
                )
            elif field.name not in sure:
                yield self.problem(
                    location,
                    f"{where}: {{{field.name}}} is not set on every way to this node "
                    "(it would be read as nothing)",
                )
            elif spoken and field.name in hidden:
                yield self.problem(
                    location,
                    f"{where}: {{{field.name}}} is sensitive (a collect node marks it): "
                    "it must never be said",
                )

    def _set_on_every_way(self, known: set[str]) -> dict[str, set[str]]:
        """The variables set on every way a call can enter each node: the intersection, over
        every edge into it (options, next, results, cases, failure gotos, back, finish,
        main, shortcuts), of what is set before the edge plus what the edge sets (a collect
        node's ``next`` its variable, an action's results but ``error`` its values)."""
        from ivr.engine.backoffice import ERROR, OPERATIONS

        if known == BUILT_IN_VARIABLES:
            return {}  # no node sets a variable: nothing to follow
        start = self.doc["start"]
        parents = find_parents(self.doc)
        default_failure = self.doc.get("settings", {}).get("on_max_failures", {})
        edges: list[tuple[str, str, frozenset[str]]] = []
        none: frozenset[str] = frozenset()
        for node_id, node in self.nodes.items():
            targets = [*node.get("options", {}).values(), *flow_targets(node)]
            if "collect" in node:
                store = frozenset({node["collect"]["store"]})
                edges.append((node_id, node["collect"]["next"], store))
                targets.remove(node["collect"]["next"])
            if "record" in node:
                stores = frozenset(_record_variables(node["record"]))
                edges.append((node_id, node["record"]["next"], stores))
                targets.remove(node["record"]["next"])
            if "operation" in node and node["operation"] in OPERATIONS:
                gives = frozenset(OPERATIONS[node["operation"]].gives)
                for result, target in node.get("results", {}).items():
                    edges.append((node_id, target, gives if result != ERROR else none))
                targets = [*node.get("options", {}).values()]
            failure = node.get("settings", {}).get("on_max_failures", default_failure)
            if failure.get("action") == "goto" and "target" in failure:
                targets.append(failure["target"])
            if node_id in parents:
                targets.append(parents[node_id])
            if node_id != start:
                targets.append(start)
            if node.get("shortcuts"):
                targets += self._leaves_below(node_id)
            edges += [(node_id, target, none) for target in targets if isinstance(target, str)]
        universe = set(known)
        surely: dict[str, set[str]] = {node_id: set(universe) for node_id in self.nodes}
        surely[start] = set(BUILT_IN_VARIABLES)
        changed = True
        while changed:
            changed = False
            for source, target, given in edges:
                if target not in surely or target == start:
                    continue
                narrowed = surely[target] & (surely[source] | given)
                if narrowed != surely[target]:
                    surely[target] = narrowed
                    changed = True
        return surely

    def _switch_loops(self) -> Iterable[MenuProblem]:
        """Switch nodes move on at once: a loop of them alone would never wait."""
        switches = {
            node_id: [*node.get("cases", {}).values(), node.get("default")]
            for node_id, node in self.nodes.items()
            if "switch" in node
        }
        for start in switches:
            seen, frontier = {start}, list(switches[start])
            while frontier:
                target = frontier.pop()
                if target == start:
                    yield self.problem(
                        ["nodes", start], f"switch {start!r} leads back to itself through switches"
                    )
                    break
                if target in switches and target not in seen:
                    seen.add(target)
                    frontier += switches[target]

    def _leaves_below(self, node_id: str) -> list[str]:
        """A shortcuts menu's leaves, as the engine finds them (Menu.descendants)."""
        if self._parents is None:
            self._parents = find_parents(self.doc)
            self._options = {
                menu: list(node["options"].values())
                for menu, node in self.nodes.items()
                if "options" in node
            }
        return tree_leaves(node_id, self._options, self._parents)

    def _unknown_keys(
        self, location: list[Any], text: str, allowed: set[str]
    ) -> Iterable[MenuProblem]:
        for key in sorted(announced_keys(text) - allowed):
            yield self.problem(location, f"announces key {key} but there is no option {key} here")


def template_problem(text: str, allowed: frozenset[str]) -> str | None:
    """What is wrong with a message template, or None if ``text.format`` cannot fail.

    Placeholders are written plainly ({n}): no format spec or conversion, which could fail
    or ask for a gigabyte of padding ({n:>999999999}). ``{{`` and ``}}`` are literal braces.
    """
    names = ", ".join(f"{{{name}}}" for name in sorted(allowed))
    try:
        fields = list(string.Formatter().parse(text))
    except ValueError as error:
        return f"not a valid template ({error}); write {{{{ and }}}} for literal braces"
    for _, name, spec, conversion in fields:
        if name is None:
            continue
        shown = shorten(name, 20)
        if name not in allowed:
            return f"unknown placeholder {{{shown}}} (allowed: {names or 'none'})"
        if spec or conversion:
            return f"placeholder {{{shown}}} takes no format spec or conversion; write {{{name}}}"
    return None


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _is_control(char: str) -> bool:
    """A character no prompt should hold: C0/C1 controls (but tab and newline), surrogates."""
    return char not in "\t\n" and unicodedata.category(char) in ("Cc", "Cs")


def messages_in_language(menu: Menu, document: Any, path: Path) -> list[MenuProblem]:
    """A menu not in Mandarin gives every message it can say: the defaults are Mandarin,
    and a Korean caller must not hear "下一步请按1…" after declining a confirmation."""
    if menu.language.startswith("zh"):
        return []
    given = document.get("messages", {})
    where = ["messages"] if "messages" in document else ["language"]
    return [
        MenuProblem(
            path,
            line_of(document, where),
            f"messages/{name}: a {menu.language} menu must say it in its own language "
            "(the default is Mandarin)",
        )
        for name in menu.messages_said()
        if name not in given
    ]


def _record_variables(record: Mapping[str, Any]) -> tuple[str, ...]:
    """What a record node sets: its reference and ``<store>_seconds``."""
    store = str(record["store"])
    return store, f"{store}_seconds"
