"""Loading: a ``*.call.yaml`` file, checked against the schema and the menu, to a Scenario.

Problems are raised as MenuInvalid with every ``path:line`` message; find_scenarios finds
the files, compile_pattern compiles a scenario's regular expressions with their limits.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import re
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import regex
from jsonschema.exceptions import best_match

from ivr.callers.scripted import ScriptError, parse_script
from ivr.engine.events import EventType, Outcome
from ivr.limits import (
    KEY_SCRIPT_CHARS,
    PATTERN_CHARS,
    PATTERN_REPEATS,
    TIMER_SECONDS,
    caller_id_problem,
)
from ivr.menu.check import not_a_mapping, schema_message
from ivr.menu.model import Menu
from ivr.menu.model import load as load_menu
from ivr.menu.problems import MAX_PROBLEMS, MenuInvalid, MenuProblem, excerpt, shorten
from ivr.menu.source import line_of, load_located
from ivr.scenarios.model import (
    SUFFIX,
    THINK_TIME,
    CallExpectation,
    Expectation,
    Scenario,
    Turn,
    TurnKind,
)

_ACTIONS = tuple(TurnKind)


@cache
def scenario_schema() -> dict[str, Any]:
    """The published JSON Schema of scenario files (ivr/schema/scenario.schema.json)."""
    text = resources.files("ivr").joinpath("schema/scenario.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def find_scenarios(paths: Iterable[str | Path]) -> list[Path]:
    """Scenario files: the files given, and every ``*.call.yaml`` below the folders given."""
    found: list[Path] = []
    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            found += sorted(p for p in path.rglob(f"*{SUFFIX}") if p.is_file())
        else:
            found.append(path)
    return list(dict.fromkeys(found))


def load_scenario(path: str | Path) -> Scenario:
    """Read and check a scenario file; raises MenuInvalid with every ``path:line`` problem.

    Beyond the schema: the menu must load, ``state`` names must be nodes of it, regular
    expressions must compile, key scripts must parse and recordings must exist.
    """
    path = Path(path)
    if not path.is_file():
        raise MenuInvalid([MenuProblem(path, 1, "no such scenario file")])
    document, problems = load_located(path)
    problems += _schema_problems(document, path)
    if problems:
        raise MenuInvalid(problems)
    return _Builder(document, path).build()


def _schema_problems(document: Any, path: Path) -> list[MenuProblem]:
    if not isinstance(document, Mapping):
        return [not_a_mapping(document, path)]
    validator = jsonschema.Draft202012Validator(scenario_schema())
    problems = []
    for error in itertools.islice(validator.iter_errors(document), MAX_PROBLEMS + 1):
        error = _specific(error)
        location = list(error.absolute_path)
        where = shorten(_where(location), 80)
        line = line_of(document, location + _unknown_keys(error)[:1])
        problems.append(MenuProblem(path, line, f"{where}: {_say(error, location)}"))
    return sorted(set(problems))


def _specific(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """For "one of these shapes", the error of the shape that came closest."""
    if error.validator == "oneOf" and error.context and not _is_turn(error):
        closest: jsonschema.ValidationError = best_match(error.context)
        return closest
    return error


def _is_turn(error: jsonschema.ValidationError) -> bool:
    path = list(error.absolute_path)
    return len(path) == 2 and path[0] == "turns" and isinstance(error.instance, Mapping)


def _where(location: list[Any]) -> str:
    """``turns/3/expect`` reads as ``turn 3 expect`` (1-based, as in the runner's messages)."""
    if len(location) >= 2 and location[0] == "turns" and isinstance(location[1], int):
        rest = "/".join(str(part) for part in location[2:])
        return f"turn {location[1] + 1}" + (f" {rest}" if rest else "")
    return "/".join(str(part) for part in location) or "top level"


def _unknown_keys(error: jsonschema.ValidationError) -> list[str]:
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = error.schema.get("properties", {}) if isinstance(error.schema, Mapping) else {}
        return sorted(str(key) for key in error.instance if key not in allowed)
    return []


def _say(error: jsonschema.ValidationError, location: list[Any]) -> str:
    """A schema error in words a scenario author understands."""
    actions = ", ".join(_ACTIONS)
    instance: Any = error.instance
    if error.validator == "oneOf" and _is_turn(error):
        given = [str(key) for key in instance if key in _ACTIONS]
        if given:
            return f"a turn has one action, not {len(given)} ({', '.join(given)})"
        return f"a turn needs one action: {actions}"
    if error.validator == "const" and error.validator_value == "hangup":
        return (
            f"{excerpt(error.instance)} is not a turn: write `hangup` or a mapping with {actions}"
        )
    unknown = _unknown_keys(error)
    if unknown:
        allowed = error.schema.get("properties", {}) if isinstance(error.schema, Mapping) else {}
        shown = ", ".join(shorten(name, 40) for name in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        return f"unknown field {shown}{more} (allowed: {', '.join(allowed)})"
    if error.validator == "required":
        return error.message.replace("is a required property", "is required")
    if error.validator == "dependentRequired":
        return "rate is for say turns only"
    if error.validator == "pattern" and location[-1:] == ["press"]:
        shown = excerpt(error.instance)
        return f"{shown}: press takes keys 0-9 * #, '_' (silence) and '!' (barge-in)"
    if error.validator == "enum" and isinstance(error.validator_value, list):
        return (
            f"{excerpt(error.instance)} is not one of {', '.join(map(str, error.validator_value))}"
        )
    return schema_message(error)


class _Builder:
    """A schema-valid document to a Scenario, with the checks a schema cannot make."""

    def __init__(self, document: Mapping[str, Any], path: Path) -> None:
        self.doc = document
        self.path = path
        self.folder = path.resolve().parent
        self.problems: list[MenuProblem] = []

    def problem(self, location: list[Any], message: str) -> None:
        self.problems.append(MenuProblem(self.path, line_of(self.doc, location), message))

    def build(self) -> Scenario:
        self._numbers()
        menu = self._menu()
        turns = tuple(self._turn(i, raw, menu) for i, raw in enumerate(self.doc.get("turns", [])))
        recording = self._recording()
        expect = self._call_expect(menu)
        voice = self.doc.get("voice", {})
        caller_id = self._caller_id()
        model = self.doc.get("model")
        if model is not None and (self.folder / model).is_dir():
            model = str(self.folder / model)
        if self.problems or menu is None:
            raise MenuInvalid(self.problems)
        return Scenario(
            path=self.path,
            name=self.doc.get("name") or self.path.name.removesuffix(SUFFIX),
            menu=menu,
            turns=turns,
            expect=expect,
            model=model,
            voice_id=voice.get("id"),
            rate=voice.get("rate"),
            think_time=float(self.doc.get("think_time", THINK_TIME)),
            recording=recording,
            spoken_prompts=self.doc.get("prompts") == "spoken",
            recording_speech=bool(self.doc.get("speech", False)),
            caller_id=caller_id,
            time=self._time(),
            backoffice=_backoffice(self.doc.get("backoffice")),
        )

    def _caller_id(self) -> str | None:
        """The scenario's ``caller_id``, checked as every caller ID is (`caller_id_problem`);
        None for none (empty too)."""
        raw = self.doc.get("caller_id")
        if raw is None:
            return None
        problem = caller_id_problem(str(raw))
        if problem is not None:
            self.problem(["caller_id"], f"caller_id: {problem}")
        return str(raw) or None

    def _time(self) -> dt.datetime:
        """The scenario's ``time``, or the default (a Monday morning)."""
        raw = self.doc.get("time")
        if raw is None:
            return Scenario.time
        try:
            return dt.datetime.fromisoformat(str(raw))
        except ValueError:
            self.problem(["time"], f"time: {raw!r} is not a date and time")
            return Scenario.time

    def _numbers(self) -> None:
        """Every number finite; silences, think time and durations within TIMER_SECONDS."""
        stack: list[tuple[list[Any], Any]] = [([], self.doc)]
        while stack:
            location, value = stack.pop()
            if isinstance(value, Mapping):
                stack += [([*location, key], item) for key, item in value.items()]
            elif isinstance(value, list):
                stack += [([*location, index], item) for index, item in enumerate(value)]
            elif isinstance(value, float) and not math.isfinite(value):
                self.problem(location, f"{_where(location)}: {value} is not a finite number")
            elif (
                isinstance(value, int | float)
                and location[-1:] in (["silence"], ["think_time"], ["max_duration"], ["latency"])
                and value > TIMER_SECONDS
            ):
                self.problem(
                    location,
                    f"{_where(location)}: {value:g} s is longer than {TIMER_SECONDS:g} s "
                    "(limit TIMER_SECONDS)",
                )

    def _recording(self) -> Path | None:
        if "recording" not in self.doc:
            return None
        target: Path = self.folder / str(self.doc["recording"])
        if not target.is_file():
            self.problem(["recording"], f"recording {self.doc['recording']!r} not found")
        return target

    def _menu(self) -> Menu | None:
        target = self.folder / self.doc["menu"]
        if not target.is_file():
            self.problem(["menu"], f"menu file {self.doc['menu']!r} not found (looked in {target})")
            return None
        try:
            return _load_menu(target.resolve())
        except MenuInvalid as invalid:
            count = len(invalid.problems)
            self.problem(["menu"], f"menu {self.doc['menu']!r} is not valid ({count} problem(s))")
            self.problems += invalid.problems
            return None

    def _turn(self, index: int, raw: Any, menu: Menu | None) -> Turn:
        where: list[Any] = ["turns", index]
        line = line_of(self.doc, where)
        if raw == "hangup":
            return Turn(index + 1, line, TurnKind.HANGUP)
        kind = next(TurnKind(key) for key in _ACTIONS if key in raw)
        expect = self._expect(raw.get("expect", {}), [*where, "expect"], menu)
        value = raw[kind.value]
        barge_in = bool(raw.get("barge_in", False))
        common: dict[str, Any] = {"number": index + 1, "line": line, "kind": kind}
        if "barge_in" in raw and kind not in (TurnKind.SAY, TurnKind.PLAY):
            self.problem([*where, "barge_in"], "barge_in is for say and play turns; press '!KEY'")
        if kind is TurnKind.PRESS:
            self._script([*where, "press"], value)
            return Turn(**common, keys=value, expect=expect)
        if kind is TurnKind.SILENCE:
            return Turn(**common, seconds=float(value), expect=expect)
        if kind is TurnKind.SAY:
            return Turn(
                **common, text=value, rate=raw.get("rate"), barge_in=barge_in, expect=expect
            )
        if kind is TurnKind.PLAY:
            barge_in = barge_in or value.startswith("!")
            audio = self.folder / value.removeprefix("!")
            if not audio.is_file():
                self.problem([*where, "play"], f"recording {value!r} not found (looked in {audio})")
            return Turn(**common, audio=audio, barge_in=barge_in, expect=expect)
        return Turn(**common, expect=expect)

    def _script(self, where: list[Any], script: str) -> None:
        if len(script) > KEY_SCRIPT_CHARS:
            limit = f"at most {KEY_SCRIPT_CHARS} (limit KEY_SCRIPT_CHARS)"
            self.problem(where, f"a key script of {len(script)} characters; {limit}")
            return
        try:
            if not parse_script(script):
                self.problem(where, "press has no key: write keys 0-9 * #, or '_' for silence")
        except ScriptError as error:
            self.problem(where, str(error))

    def _expect(self, raw: Mapping[str, Any], where: list[Any], menu: Menu | None) -> Expectation:
        states = _texts(raw.get("state"))
        if menu is not None:
            for state in states:
                if state not in menu.nodes:
                    self.problem([*where, "state"], _unknown_node(state, menu))
        patterns = []
        for pattern in _texts(raw.get("prompt_matches")):
            try:
                patterns.append(compile_pattern(pattern))
            except (re.error, regex.error, ValueError) as error:
                self.problem(
                    [*where, "prompt_matches"],
                    f"bad regular expression {excerpt(pattern)}: {shorten(str(error), 120)}",
                )
        return Expectation(
            states=states,
            prompts=_texts(raw.get("prompt")),
            patterns=tuple(patterns),
            events=tuple(EventType(e) for e in _texts(raw.get("event"))),
            not_events=tuple(EventType(e) for e in _texts(raw.get("not_event"))),
            decision=raw.get("decision"),
            recognized=raw.get("recognized"),
        )

    def _call_expect(self, menu: Menu | None) -> CallExpectation:
        raw = self.doc.get("expect", {})
        state = raw.get("state")
        if state is not None and menu is not None and state not in menu.nodes:
            self.problem(["expect", "state"], _unknown_node(state, menu))
        outcome = raw.get("outcome")
        duration = raw.get("max_duration")
        states = raw.get("states")
        for index, node in enumerate(states or []):
            if menu is not None and node not in menu.nodes:
                self.problem(["expect", "states", index], _unknown_node(node, menu))
        return CallExpectation(
            outcome=Outcome(outcome) if outcome else None,
            max_duration=float(duration) if duration is not None else None,
            state=state,
            states=tuple(states) if states is not None else None,
            line=line_of(self.doc, ["expect"]) if raw else 0,
        )


_COUNTED_REPEAT = re.compile(r"\{([0-9]+)(?:,([0-9]*))?\}")


def compile_pattern(pattern: str) -> regex.Pattern[str]:
    """A scenario's regular expression, compiled for searches with a time bound.

    The dialect is Python's ``re``, checked first; the ``regex`` package runs the searches
    because its searches take a timeout. Its compiler unrolls counted repeats, so their
    product is bounded (``(a{99}){99}`` counts as 9801), as is the pattern's length.
    """
    if len(pattern) > PATTERN_CHARS:
        raise ValueError(
            f"{len(pattern)} characters; at most {PATTERN_CHARS} (limit PATTERN_CHARS)"
        )
    re.compile(pattern)
    product = 1
    for low, high in _COUNTED_REPEAT.findall(pattern):
        product *= max(int(low), int(high or 0), 1)
        if product > PATTERN_REPEATS:
            raise ValueError(
                f"counted repeats ({{m,n}}) multiply to more than {PATTERN_REPEATS} "
                "(limit PATTERN_REPEATS)"
            )
    return regex.compile(pattern)


def _backoffice(value: Any) -> Mapping[str, Any] | None:
    """A scenario's ``backoffice`` as data for the in-memory back office."""
    if value is None:
        return None
    if value == "demo":
        return {}
    if value == "down":
        return {"down": True}
    return dict(value)


def _texts(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _unknown_node(state: str, menu: Menu) -> str:
    import difflib

    close = difflib.get_close_matches(state, list(menu.nodes), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{state!r} is not a node of {menu.path.name}{hint}"


_menus: dict[tuple[Path, int, int], Menu] = {}


def _load_menu(path: Path) -> Menu:
    """Menus are loaded once per run of many scenarios (keyed by path, size and mtime)."""
    stat = path.stat()
    key = (path, stat.st_size, stat.st_mtime_ns)
    if key not in _menus:
        _menus[key] = load_menu(path)
    return _menus[key]
