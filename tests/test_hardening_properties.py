"""The invariant, on generated input: nothing a user feeds ivr crashes it.

For any menu file, ``ivr check`` either prints problems, each one ``path:line: message``
line at a line the file has, or passes; and a menu that passes takes a scripted call with
any keys to its end, with every call-log line valid JSON (no NaN or Infinity). For any
scenario file, ``ivr test`` reports every scenario (passed, failed, skipped or error, each
failure one printable line) and writes JUnit XML that parses.

Menus are generated as documents (random trees with cycles, self-links, unknown targets,
odd keys, templates with braces, huge, NaN and infinite numbers, shared settings that the
dumper writes as YAML aliases) and then, half of the time, damaged as text (unicode line
separators, stray characters, cuts). Raw YAML texts add alias bombs and deep nesting.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import math
import re
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock
from xml.etree import ElementTree

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from ivr import cli, limits
from ivr.menu.model import load
from ivr.menu.problems import printable
from ivr.scenarios import Status, results_table, run_scenarios, write_junit
from ivr.scenarios.coverage import Coverage
from tests.conftest import ROOT

SETTINGS = settings(deadline=None, derandomize=True, database=None)
pytestmark = pytest.mark.usefixtures("one_parser")  # many in-process ivr commands
BACKLINKS = ROOT / "tests" / "menus" / "backlinks.zh-CN.yaml"

KEYS = "0123456789*#"
ODD_KEYS = ["10", "a", "", " ", "٣", "１", "**"]
TEXT_CHARS = st.sampled_from(
    [
        *"请按交易咨询退款账户帮助一二三，。！？ab {}[]/:#*&!|>-'\"\\",
        *["\u2028", "\u2029", "\x85", "\t", "\n", "\x1b", "\x00", "\ud800", "\U0001f600"],
    ]
)
NUMBERS = st.one_of(
    st.sampled_from([math.inf, math.nan, -math.inf, 1e300, 3601, 10**30, 0, -1, 1e-300, 5, 0.5]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**6), max_value=10**6),
)
TEMPLATES = st.sampled_from(
    [
        "第{m}步",
        "{",
        "}",
        "{{n}}",
        "{n:>9}",
        "{n!r}",
        "{}",
        "{0}",
        "{n.x}",
        "第{n}步{n}",
        "第{n}步：",
    ]
)
CONFIRMS = st.sampled_from(["{title", "{n}", "是否{titl}", "{title}{title}", "您是要{title}吗？"])
NO_JSON_CONSTANTS = re.compile(r"\b(NaN|-?Infinity)\b")

cases: Counter[str] = Counter()
"""How many cases each property tried (printed by ``pytest -s``), for the record."""


PLAIN_CHARS = st.sampled_from(list("请交易咨询退款账户帮助一二三，。"))


NASTY = st.sampled_from(
    [
        "[/red]热线",
        "[bold]",
        "{",
        "}",
        "{n}",
        "{title}",
        "%s",
        "<&>]]>",
        "\u202e反转",
        "请按",
        "按#",
    ]
)
"""Texts that broke something once: rich markup, format braces, XML, bidi, announcements."""


@functools.cache  # one strategy per size, not one per draw
def texts(max_size: int = 12) -> st.SearchStrategy[str]:
    """Mostly plain Chinese; else anything: braces, markup, separators, controls."""
    plain = st.text(PLAIN_CHARS, min_size=1, max_size=max_size)
    return st.one_of(plain, plain, st.text(TEXT_CHARS, min_size=0, max_size=max_size), NASTY)


TIMERS = st.one_of(st.sampled_from([0.5, 1, 5, 5.0, 3600, 1e-3]), st.floats(0.01, 60))
HOSTILE_TIMERS = st.sampled_from([math.inf, math.nan, 1e300, 3601, -math.inf, 0, -1])
NON_FINITE = st.sampled_from([math.nan, math.inf, 1e300])
PLAIN = st.text(PLAIN_CHARS, min_size=1, max_size=9)
ATTACKS = (None, None, "timer", "template", "steps", "title", "text", "option", "number")
"""What a generated menu does wrong, one thing at a time (None: nothing), so that every
attack also meets menus that are otherwise right and pass the checker's other rules."""
# The strategies ``menu_documents`` draws from that do not depend on what it drew before,
# built once here, not at each draw; the same strategies draw the same examples.
NODE_KINDS = st.sampled_from(["menu", "answer", "answer", "procedure"])
GLOBAL_KEYS = {
    keys: st.dictionaries(
        st.sampled_from(keys),
        st.sampled_from(["agent", "repeat", "back", "main", "hangup"]),
        max_size=3,
    )
    for keys in (KEYS, "0*#")
}
ODD_OR_KEYS = st.one_of(st.sampled_from(ODD_KEYS), st.sampled_from(KEYS))
NODE_SETTINGS = st.sampled_from(["no_input_timeout", "end_of_speech", "max_no_input"])
TIMER_SETTINGS = st.sampled_from(["no_input_timeout", "end_of_speech"])
STEP_COUNTS = st.sampled_from([limits.PROCEDURE_STEPS, limits.PROCEDURE_STEPS + 1])
TITLES, TEXTS = st.one_of(NASTY, texts()), st.one_of(NASTY, texts(30))


@st.composite
def menu_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A menu document: a random tree plus links anywhere (back up, to itself: cycles), and
    one attack of ATTACKS."""
    attack = draw(st.sampled_from(ATTACKS))
    count = draw(st.integers(min_value=1, max_value=8))
    ids = [f"n{i}" for i in range(count)]
    kinds = ["menu"] + [draw(NODE_KINDS) for _ in ids[1:]]
    menus = [node_id for node_id, kind in zip(ids, kinds, strict=True) if kind == "menu"]
    global_keys = draw(GLOBAL_KEYS[KEYS if attack == "option" else "0*#"])
    free = [key for key in KEYS if key not in global_keys]
    options: dict[str, dict[str, str]] = {node_id: {} for node_id in menus}
    for index, node_id in enumerate(ids[1:], start=1):  # the tree: a parent among earlier menus
        parent = draw(st.sampled_from([m for m in menus if ids.index(m) < index]))
        spare = [key for key in free if key not in options[parent]]
        if spare:
            options[parent][draw(st.sampled_from(spare))] = node_id
    for menu in menus:  # links anywhere: back up, to itself
        for _ in range(draw(st.integers(0, 2))):
            spare = [key for key in free if key not in options[menu]]
            if spare:
                options[menu][draw(st.sampled_from(spare))] = draw(st.sampled_from(ids))
    if attack == "option":
        menu = draw(st.sampled_from(menus))
        key = draw(ODD_OR_KEYS)
        options[menu][key] = draw(st.sampled_from([*ids, "nowhere", "N0", ""]))
    nodes: dict[str, Any] = {}
    for index, (node_id, kind) in enumerate(zip(ids, kinds, strict=True)):
        node: dict[str, Any] = {
            "title": draw(st.text(PLAIN_CHARS, max_size=8)) + "一二三四五六七八"[index]
        }
        if kind == "menu":
            options[node_id] = options[node_id] or {"9": "n0"}
            node["prompt"] = "".join(
                f"{draw(st.text(PLAIN_CHARS, max_size=4))}请按{key}，" for key in options[node_id]
            )
            node["options"] = options[node_id]
            if draw(st.booleans()):
                node["shortcuts"] = True
        elif kind == "answer":
            node["answer"] = draw(st.text(PLAIN_CHARS, min_size=1, max_size=30))
        else:
            node["steps"] = [draw(PLAIN) for _ in range(draw(st.integers(1, 4)))]
            if draw(st.booleans()):
                node["closing"] = draw(PLAIN)
        if draw(st.integers(0, 3)) == 0:
            name = draw(NODE_SETTINGS)
            node["settings"] = {name: draw(st.integers(1, 5) if name == "max_no_input" else TIMERS)}
        nodes[node_id] = node
    document: dict[str, Any] = {"language": "zh-CN", "start": "n0", "nodes": nodes}
    if global_keys:
        document["global_keys"] = global_keys
    if draw(st.booleans()):
        document["messages"] = {"step_ordinal": "第{n}步：", "no_input": draw(PLAIN)}
    if draw(st.booleans()):
        document["greeting"] = draw(PLAIN)
    if draw(st.booleans()):  # a default timer, and the same dict on a node: dumped as an alias
        shared = {"no_input_timeout": draw(TIMERS)}
        document["settings"] = nodes[draw(st.sampled_from(ids))]["settings"] = shared
    attacked = nodes[draw(st.sampled_from(ids))]
    if attack == "timer":
        where = draw(st.sampled_from([document, attacked]))
        settings = where.setdefault("settings", {})
        settings[draw(TIMER_SETTINGS)] = draw(HOSTILE_TIMERS)
    elif attack == "template":
        messages = document.setdefault("messages", {})
        if draw(st.booleans()):
            messages["step_ordinal"] = draw(TEMPLATES)
        else:
            messages["confirm"] = draw(CONFIRMS)
    elif attack == "steps":
        size = draw(STEP_COUNTS)
        for node in nodes.values():
            if "steps" in node:
                node["steps"] = [draw(PLAIN)] * size
    elif attack == "title":
        where = draw(st.sampled_from([document, attacked]))
        where["title"] = draw(TITLES)
    elif attack == "text":
        field = next(f for f in ("answer", "prompt", "steps") if f in attacked)
        text = draw(TEXTS)
        attacked[field] = [text] if field == "steps" else attacked[field] + text
    elif attack == "number":
        document["speech"] = {"accept": draw(NUMBERS)}
    return document


def damaged(text: str, how: int, where: float, junk: str) -> str:
    """The file ``text`` damaged one way: a line break made a unicode one, junk put in, a cut."""
    position = int(where * len(text))
    if how == 9:
        breaks = [i for i, char in enumerate(text) if char == "\n"]
        if breaks:
            at = breaks[int(where * len(breaks))]
            return text[:at] + "\u2028\u2029\x85"[len(junk) % 3] + text[at + 1 :]
    if how == 10:
        return text[:position] + junk + text[position:]
    if how == 11:
        return text[:position]
    return text


KEY_SCRIPTS = st.lists(
    st.one_of(
        st.just("_"),
        st.sampled_from(list(KEYS)),
        st.sampled_from(list(KEYS)),
        st.sampled_from([f"!{k}" for k in KEYS]),
        st.just(" "),
    ),
    min_size=1,
    max_size=25,
).map("".join)
"""Key scripts as ``ivr call --keys`` takes them: keys, silences (_), barge-ins (!k)."""


@contextlib.contextmanager
def quiet() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        yield out, err


def check_invariant(path: Path, text: str) -> bool:
    """``ivr check`` on the file: problems as located lines, or a pass (True)."""
    with quiet() as (_, err):
        code = cli.main(["check", str(path)])
    assert code in (0, 1), err.getvalue()
    if code == 0:
        return True
    lines = err.getvalue().splitlines()
    assert lines, "failed without a problem"
    last_line = text.count("\n") + 1
    for line in lines:
        found = re.fullmatch(re.escape(printable(str(path))) + r":(\d+): (\S.*)", line)
        assert found is not None, line
        assert 1 <= int(found[1]) <= last_line, (line, last_line)
        assert line.isprintable() and len(line) < 1000, line
    return False


def call_invariant(path: Path, keys: str, log: Path) -> None:
    """A scripted call to a menu that passed the checker: completes, logs valid JSON."""
    with quiet():
        code = cli.main(["call", "--menu", str(path), "--keys", keys, "--log", str(log)])
    assert code == 0
    lines = log.read_text(encoding="utf-8").splitlines()
    assert not any(NO_JSON_CONSTANTS.search(line) for line in lines)
    records = [json.loads(line) for line in lines]
    assert records[0]["type"] == "call-start" and records[-1]["type"] == "call-end"
    menu = load(path)
    assert menu.prompt_texts()  # every text a live call preloads, templates filled in
    coverage = Coverage(menu)
    coverage.add_records(records)
    assert coverage.unexplained == []
    cases["calls"] += 1


@settings(SETTINGS, max_examples=200)  # each example a menu checked and called
@given(
    document=menu_documents(),
    how=st.integers(min_value=0, max_value=11),  # 9, 10, 11: the text is damaged
    where=st.floats(min_value=0, max_value=0.999),
    junk=st.text(TEXT_CHARS, min_size=1, max_size=5),
    keys=KEY_SCRIPTS,
)
def test_any_menu_is_checked_or_called(
    document: dict[str, Any], how: int, where: float, junk: str, keys: str
) -> None:
    cases["menus"] += 1
    text = yaml.safe_dump(document, allow_unicode=True, sort_keys=False)
    text = damaged(text, how, where, junk)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "menu.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        if check_invariant(path, text):
            cases["passed check"] += 1
            call_invariant(path, keys, Path(folder) / "call.jsonl")


def laughs(levels: int, width: int) -> str:
    lines = ["a0: &a0 [lol, lol]"]
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * width)}]" for n in range(1, levels)]
    return "\n".join(lines) + "\n"


RAW_YAML = st.one_of(
    st.builds(laughs, st.integers(2, 12), st.integers(2, 12)),
    st.builds(lambda d: "language: " + "[" * d + "]" * d + "\n", st.integers(50, 400)),
    st.builds(lambda d: "".join("  " * i + "k:\n" for i in range(d)), st.integers(50, 200)),
    st.builds(
        lambda n: f"language: zh-CN\nstart: m\nnodes: {{m: {{title: {n}}}}}\n",
        st.sampled_from(
            [
                "5e0",
                "1" * 5000,
                ".nan",
                "!!binary aGk=",
                "!!python/object:os.system x",
                "2001-01-01",
                "*x",
                "&a *a",
            ]
        ),
    ),
    st.text(TEXT_CHARS, max_size=200),
    st.text(max_size=100),
)


@settings(SETTINGS, max_examples=100)
@given(text=RAW_YAML, keys=KEY_SCRIPTS)
def test_any_yaml_text_is_checked_or_called(text: str, keys: str) -> None:
    cases["texts"] += 1
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "menu.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        if check_invariant(path, text):
            call_invariant(path, keys, Path(folder) / "call.jsonl")


PATTERNS = st.text(st.sampled_from(list("a啊()*+?|[]{}0123456789,^$.\\")), max_size=30)
HOSTILE_CHARS = st.sampled_from(
    ["\x1b", "\x00", "\x07", "\ud800", "\ufffe", "\u2028", "[/red]", "]]>"]
)
"""What a terminal or an XML file must never get raw."""
SCENARIO_ATTACKS = (
    *(None, None, None),
    *("menu", "press", "silence", "pattern", "name", "numbers", "think", "recording", "play"),
    "state",
)
"""What a generated scenario does wrong, one thing at a time (None: nothing)."""
NODES = ["main", "trade", "more", "account", "refund", "records", "register"]


# The strategies of ``turns`` and ``scenario_documents``, built once here, not at each draw
# (where half the property's CPU went); the same strategies draw the same examples.
TURN_KINDS = st.sampled_from(["press", "press", "press", "silence", "hangup"])
EXPECTATIONS = st.one_of(
    st.none(),
    st.builds(lambda state: {"state": state}, st.sampled_from(NODES)),
    st.builds(lambda text: {"prompt": text}, st.sampled_from(["请按", "退款", "交易"])),
    st.builds(lambda rx: {"prompt_matches": rx}, st.sampled_from(["^退款", "按[0-9]", "。$"])),
    st.just({"event": "no-input"}),
)


@st.composite
def turns(draw: st.DrawFn) -> Any:
    """A well-formed turn on the backlinks menu, with a well-formed expectation or none."""
    kind = draw(TURN_KINDS)
    if kind == "hangup":
        return "hangup"
    turn: dict[str, Any] = {"press": draw(KEY_SCRIPTS)} if kind == "press" else {}
    if kind == "silence":
        turn["silence"] = draw(TIMERS)
    expect = draw(EXPECTATIONS)
    if expect is not None:
        turn["expect"] = expect
    return turn


TURN_LISTS = st.lists(turns(), min_size=1, max_size=5)
OUTCOMES = st.sampled_from(["abandoned", "transferred"])
HOSTILE_TURNS: dict[str, st.SearchStrategy[Any]] = {
    "press": st.builds(
        lambda keys: {"press": keys},
        st.text(st.sampled_from([*KEYS, " ", "\t", "_", "!", "x"]), max_size=8),
    ),
    "silence": st.builds(lambda seconds: {"silence": seconds}, NUMBERS),
    "pattern": st.builds(
        lambda rx: {"press": "1", "expect": {"prompt_matches": rx}},
        st.one_of(PATTERNS, st.just("(退|退款)+$"), st.just("(a|aa)+$")),
    ),
    "play": st.just({"play": "bad.wav"}),
    "state": st.builds(
        lambda state: {"press": "1", "expect": {"state": state}},
        st.text(TEXT_CHARS, max_size=8),
    ),
}
BAD_MENUS = st.sampled_from(["secret.env", "bad.wav", "missing.yaml", "."])
HOSTILE_NAMES = st.lists(HOSTILE_CHARS, min_size=1, max_size=6)


@st.composite
def scenario_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A scenario of the backlinks menu, with one attack of SCENARIO_ATTACKS."""
    attack = draw(st.sampled_from(SCENARIO_ATTACKS))
    document: dict[str, Any] = {"menu": str(BACKLINKS), "turns": draw(TURN_LISTS)}
    if draw(st.booleans()):
        document["expect"] = {"outcome": draw(OUTCOMES)}
    if attack in HOSTILE_TURNS:
        document["turns"].insert(
            draw(st.integers(0, len(document["turns"]))), draw(HOSTILE_TURNS[attack])
        )
    elif attack == "menu":
        document["menu"] = draw(BAD_MENUS)
    elif attack == "name":
        document["name"] = "".join(draw(HOSTILE_NAMES))
    elif attack == "numbers":
        document.setdefault("expect", {})["max_duration"] = draw(NON_FINITE)
    elif attack == "think":
        document["think_time"] = draw(HOSTILE_TIMERS)
    elif attack == "recording":
        del document["turns"]
        document["recording"] = "bad.wav"
    return document


@settings(SETTINGS, max_examples=100)
@given(documents=st.lists(scenario_documents(), min_size=1, max_size=3))
def test_any_scenarios_are_all_reported(documents: list[dict[str, Any]]) -> None:
    cases["scenarios"] += len(documents)
    with (
        tempfile.TemporaryDirectory() as name,
        mock.patch("ivr.scenarios.verdict.PATTERN_SECONDS", 0.05),
    ):
        folder = Path(name)
        (folder / "secret.env").write_text("TOKEN=s3cr3t\n", encoding="utf-8")
        (folder / "bad.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
        for index, document in enumerate(documents):
            text = yaml.safe_dump(document, allow_unicode=True)
            (folder / f"{index}.call.yaml").write_text(
                text, encoding="utf-8", errors="surrogatepass"
            )
        results = run_scenarios([folder])
        assert len(results) == len(documents)
        for result, document in zip(results, documents, strict=True):
            cases[f"scenario {result.status}"] += 1
            assert math.isfinite(result.duration)
            limit = document.get("expect", {}).get("max_duration")
            if result.status is not Status.ERROR and limit is not None:
                within = result.duration <= limit  # False for NaN, which once passed anything
                assert within or any("at most" in f.expected for f in result.failures)
            if result.status is Status.ERROR and not result.problems:
                assert "bad.wav" in result.reason, result.reason  # the only run-time error
            for line in result.failure_lines():
                assert line.isprintable() and "s3cr3t" not in line, line
        console = Console(file=io.StringIO(), width=200, color_system=None)
        console.print(results_table(results))
        assert "\x1b" not in console.file.getvalue()  # type: ignore[attr-defined]
        junit = folder / "junit.xml"
        write_junit(results, junit)
        cases_written = list(ElementTree.parse(junit).getroot().iter("testcase"))
        assert len(cases_written) == len(documents)
        assert "s3cr3t" not in junit.read_text(encoding="utf-8")


def teardown_module() -> None:
    print(f"\nhypothesis cases: {cases}")
