"""Nothing a menu or scenario file holds crashes ivr: each hostile input gets one clear line.

Each class of the audit has its rules pinned here: cycles in the menu tree, YAML alias
bombs and deep nesting, menus that passed ``ivr check`` and then crashed a call, and
scenarios that leaked files, hung or broke the run. Property-based tests (hypothesis) in
``test_hardening_properties.py`` then throw generated menus and scenarios at the invariant.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from xml.etree import ElementTree

import pytest
from rich.console import Console

from ivr import cli, limits
from ivr.engine.events import EventType
from ivr.engine.flow import CallFlow
from ivr.engine.inputs import KeyPress
from ivr.menu.model import chinese_number, load
from ivr.menu.problems import MAX_PROBLEMS, MESSAGE_CHARS, MenuInvalid, MenuProblem, printable
from ivr.scenarios import (
    ScenarioResult,
    Status,
    load_scenario,
    run_cli,
    run_scenario,
    run_scenarios,
    write_junit,
    xml_text,
)
from ivr.scenarios.coverage import Coverage
from tests.conftest import ROOT

BACKLINKS = ROOT / "tests" / "menus" / "backlinks.zh-CN.yaml"

SMALL = """\
language: zh-CN
start: main
global_keys: {"0": agent, "*": repeat, "#": back}
settings:
  no_input_timeout: 5
nodes:
  main:
    title: 总菜单
    prompt: 账户请按1，帮助请按2。
    options: {"1": account, "2": help}
  account:
    title: 账户
    answer: 请下载应用注册。
  help:
    title: 帮助
    steps: [打开应用。, 点击帮助。]
"""


def write(folder: Path, text: str, name: str = "menu.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def line_with(text: str, needle: str) -> int:
    """The 1-based line (counting \\n only) of the one line that contains ``needle``."""
    [line] = [n for n, row in enumerate(text.split("\n"), start=1) if needle in row]
    return line


def edit(old: str, new: str, text: str = SMALL) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def problems(path: Path) -> list[MenuProblem]:
    """What ``load`` reports, each checked to be one short ``path:line: message`` line."""
    with pytest.raises(MenuInvalid) as caught:
        load(path)
    found = caught.value.problems
    assert found
    for problem in found:
        shown = str(problem)
        assert shown.startswith(f"{printable(str(path))}:{problem.line}: "), shown
        assert shown.isprintable(), shown
        assert len(problem.message) <= MESSAGE_CHARS
    return found


def only_problem(path: Path, *parts: str, line: int | None = None) -> MenuProblem:
    [problem] = problems(path)
    for part in parts:
        assert part in problem.message, problem
    if line is not None:
        assert problem.line == line, problem
    return problem


def check_cli(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = cli.main(["check", str(path)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.err.splitlines()


# ------------------------------------------------------------------------ cycles in a menu


def test_links_back_up_the_tree_pass_check(capsys: pytest.CaptureFixture[str]) -> None:
    """A link to the parent, to the start and to itself, under shortcut menus, is legal
    (before: RecursionError in the checker's walk below a shortcuts menu)."""
    assert check_cli(BACKLINKS, capsys) == (0, [])


def test_links_back_keep_the_tree_parents() -> None:
    menu = load(BACKLINKS)
    parents = {node_id: node.parent for node_id, node in menu.nodes.items()}
    assert parents == {
        "main": None,
        "trade": "main",
        "account": "main",
        "more": "trade",
        "refund": "trade",
        "records": "more",
        "register": "account",
    }
    assert [n.id for n in menu.descendants("main")] == ["refund", "records", "register"]
    assert [n.id for n in menu.descendants("trade")] == ["refund", "records"]
    assert menu.descendants("more") == [menu.node("records")]


def test_pressing_9_goes_back_and_back_follows_the_tree() -> None:
    flow = CallFlow(load(BACKLINKS))
    call, _ = flow.start()
    entered = []
    for key in "129#":
        events = flow.handle(call, KeyPress(key))
        entered += [e.state for e in events if e.type is EventType.STATE]
    assert entered == ["trade", "more", "trade", "main"]
    flow.handle(call, KeyPress("2"))
    flow.handle(call, KeyPress("9"))
    assert call.state == "main"
    flow.handle(call, KeyPress("1"))
    flow.handle(call, KeyPress("3"))  # trade offers itself
    assert call.state == "trade"


def test_a_call_through_the_cycles_logs_and_covers(tmp_path: Path) -> None:
    log = tmp_path / "call.jsonl"
    keys = "1293#2919#"
    assert cli.main(["call", "--menu", str(BACKLINKS), "--keys", keys, "--log", str(log)]) == 0
    records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    coverage = Coverage(load(BACKLINKS))
    coverage.add_records(records)
    assert coverage.unexplained == []
    taken = {str(edge) for edge in coverage.taken}
    assert "more --select:9--> trade" in taken
    assert "trade --select:3--> trade" in taken
    assert "account --select:9--> main" in taken
    assert "trade --back--> main" in taken
    assert "flowchart TD" in coverage.mermaid()


def test_a_scenario_through_the_cycles_passes(tmp_path: Path) -> None:
    scenario = write(
        tmp_path,
        f"menu: {BACKLINKS}\n"
        "turns:\n"
        '  - press: "129"\n'
        "    expect: {state: [trade, more, trade]}\n"
        '  - press: "#"\n'
        "    expect: {state: main}\n"
        "expect: {outcome: abandoned}\n",
        "cycle.call.yaml",
    )
    result = run_scenario(scenario)
    assert result.status is Status.PASSED, result.explain()


def chain(depth: int) -> str:
    """A start menu with shortcuts over a chain of ``depth`` menus, each linking back to
    the start: deeper than Python's recursion limit (1000) allows a recursive walk."""
    lines = [
        "language: zh-CN",
        "start: m0",
        'global_keys: {"0": agent, "#": back}',
        "nodes:",
    ]
    for level in range(depth):
        below = f"m{level + 1}" if level + 1 < depth else "leaf"
        lines += [
            f"  m{level}:",
            f"    title: 第{level}层",
            "    prompt: 下一层请按1，回到首层请按9。",
            f"    options: {{'1': {below}, '9': m0}}",
        ]
        if level == 0:
            lines.append("    shortcuts: true")
    lines += ["  leaf:", "    title: 答案", "    answer: 到底了。"]
    return "\n".join(lines) + "\n"


def test_a_chain_deeper_than_the_recursion_limit(tmp_path: Path) -> None:
    depth = 1050
    menu = load(write(tmp_path, chain(depth)))  # checked: the checker walks the tree too
    assert [n.id for n in menu.descendants("m0")] == ["leaf"]
    flow = CallFlow(menu)
    call, _ = flow.start()
    for _ in range(depth):
        flow.handle(call, KeyPress("1"))
    assert call.state == "leaf"


# ------------------------------------------------------------------------- hostile YAML


def laughs(levels: int, width: int = 9) -> str:
    """The "billion laughs": each anchor a list of ``width`` aliases to the one before."""
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels):
        aliases = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"a{level}: &a{level} [{aliases}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_at_its_line(tmp_path: Path) -> None:
    text = laughs(9)  # 9**9 values once expanded, in 460 bytes
    assert len(text.encode()) < 600
    path = write(tmp_path, text)
    # a0..a4 expand to 10, 91, 820, 7381, 66430 values; a5 to 597871 > YAML_NODES
    only_problem(path, "YAML_NODES", str(limits.YAML_NODES), line=6)


def test_expanded_aliases_are_counted_each_time(tmp_path: Path) -> None:
    """Under the limit (66,430 values) the file loads and the error quotes an excerpt."""
    text = laughs(5) + "language: *a4\nstart: main\nnodes: {}\n"
    path = write(tmp_path, text)
    found = problems(path)
    assert sum(len(str(p)) for p in found) < 5_000
    assert any("language" in p.message for p in found)


def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    only_problem(write(tmp_path, "a: &a [1, *a]\n"), "recursive alias", line=1)
    only_problem(write(tmp_path, "a: &a\n  x: 1\n  <<: *a\n"), "recursive alias", line=3)


@pytest.mark.parametrize(
    "text",
    [
        "language: " + "[" * 300 + "]" * 300 + "\n",
        "language: " + "{a: " * 300 + "1" + "}" * 300 + "\n",
        "".join(f"{'  ' * level}k:\n" for level in range(300)) + "  " * 300 + "k: 1\n",
    ],
    ids=["flow-lists", "flow-mappings", "block-mappings"],
)
def test_deep_nesting_is_refused(tmp_path: Path, text: str) -> None:
    problem = only_problem(write(tmp_path, text), "YAML_DEPTH", f"deeper than {limits.YAML_DEPTH}")
    assert problem.line == (1 if text.startswith("language") else limits.YAML_DEPTH + 1)


def test_depth_through_aliases_is_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x]"] + [f"a{n}: &a{n} [*a{n - 1}]" for n in range(1, 100)]
    path = write(tmp_path, "\n".join(lines) + "\n")
    only_problem(path, "YAML_DEPTH", "once aliases are expanded", line=limits.YAML_DEPTH + 1)


def test_exactly_the_depth_limit_loads(tmp_path: Path) -> None:
    depth = limits.YAML_DEPTH - 1  # the document itself is the first level
    text = "title: " + "[" * depth + "]" * depth + "\n" + SMALL
    found = problems(write(tmp_path, text))
    assert [p.message.split(":")[0] for p in found] == ["title"]  # a schema problem, no more


def test_a_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(SMALL.encode() + b"#" * limits.MENU_FILE_BYTES)
    only_problem(path, "MENU_FILE_BYTES", str(limits.MENU_FILE_BYTES), line=1)


def test_a_fifo_is_refused_without_reading(tmp_path: Path) -> None:
    """Opening a FIFO with no writer blocks forever: the loader must not open it."""
    fifo = tmp_path / "menu.yaml"
    os.mkfifo(fifo)
    only_problem(fifo, "not a regular file", line=1)


@pytest.mark.parametrize("kind", ["fifo", "too-big", "missing"])
def test_a_guide_is_read_within_its_limit(tmp_path: Path, kind: str) -> None:
    """The guide is any path the menu names: a FIFO or /dev/zero must not be read."""
    guide = tmp_path / "guide.txt"
    if kind == "fifo":
        os.mkfifo(guide)
    elif kind == "too-big":
        guide.write_bytes(b"x" * (limits.GUIDE_FILE_BYTES + 1))
    path = write(tmp_path, "guide: guide.txt\n" + SMALL)
    reason = {
        "fifo": "not a regular file",
        "too-big": f"larger than {limits.GUIDE_FILE_BYTES} bytes (limit GUIDE_FILE_BYTES)",
        "missing": "No such file or directory",
    }[kind]
    only_problem(path, f"cannot read guide {str(guide)!r}: ", reason, line=1)


def test_an_integer_too_long_to_convert_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, edit("no_input_timeout: 5", "no_input_timeout: " + "9" * 5000))
    only_problem(path, "too many digits", line=5)


def test_a_non_menu_file_is_never_quoted(tmp_path: Path) -> None:
    secret = "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    path = write(tmp_path, secret + "\nDB_PASSWORD=hunter2\n", "secret.env")
    problem = only_problem(path, "must be a YAML mapping", line=1)
    assert "hunter2" not in str(problem) and "wJalr" not in str(problem)


def test_long_values_are_quoted_as_excerpts(tmp_path: Path) -> None:
    path = write(tmp_path, edit("language: zh-CN", "language: [" + "x" * 50_000 + "]"))
    problem = only_problem(path, "language", "is not of type 'string'")
    assert len(problem.message) < 200


def test_the_number_of_problems_is_bounded(tmp_path: Path) -> None:
    """A long list of wrong values is one problem each, up to MAX_PROBLEMS, then a note."""
    ones = ", ".join(["1"] * (MAX_PROBLEMS * 3))
    found = problems(write(tmp_path, edit("steps: [打开应用。, 点击帮助。]", f"steps: [{ones}]")))
    assert len(found) == MAX_PROBLEMS + 1
    assert found[-1].message == f"more problems not shown (at most {MAX_PROBLEMS} are reported)"


def test_messages_and_paths_are_one_printable_line(tmp_path: Path) -> None:
    path = write(tmp_path, edit("  main:\n", '  main:\n    "\\e[2J\\nboom": 1\n'), "a\nb.yaml")
    [problem] = problems(path)
    assert "\\x1b[2J\\nboom" in problem.message
    assert str(problem).startswith(str(tmp_path) + "/a\\nb.yaml:8: ")


@pytest.mark.parametrize("text", ["5e0", "1e1", "2.5E-1", "+5e+0"])
def test_yaml_1_2_exponents_are_numbers(tmp_path: Path, text: str) -> None:
    menu = load(write(tmp_path, edit("no_input_timeout: 5", f"no_input_timeout: {text}")))
    assert menu.node("main").settings.no_input_timeout == float(text)


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"])
def test_lines_are_counted_as_an_editor_counts_them(tmp_path: Path, separator: str) -> None:
    """PyYAML counts U+2028, U+2029 and NEL as line breaks; editors and `path:line` don't."""
    text = edit("title: 账户", f'title: "账{separator}户"')
    text = edit("title: 帮助", "title: 帮助\n    colour: red", text)
    path = write(tmp_path, text)
    wanted = text.split("\n").index("    colour: red") + 1
    only_problem(path, "unknown field colour", line=wanted)
    assert text.count("\n") < len(text.splitlines())  # str.splitlines counts the separator


# ------------------------------------------------------- menus that passed check, then crashed


@pytest.mark.parametrize(
    ("message", "text", "reason"),
    [
        ("step_ordinal", "第{m}步：", "unknown placeholder {m} (allowed: {n})"),
        ("step_ordinal", "第{n}步{", "not a valid template"),
        ("step_ordinal", "第}{n}步", "not a valid template"),
        ("step_ordinal", "第{}步", "unknown placeholder {}"),
        ("step_ordinal", "第{0}步", "unknown placeholder {0}"),
        ("step_ordinal", "第{n.real}步", "unknown placeholder {n.real}"),
        ("step_ordinal", "第{n:>999999999}步", "no format spec or conversion"),
        ("step_ordinal", "第{n!r}步", "no format spec or conversion"),
        ("confirm", "您是要{title}{n}吗？", "unknown placeholder {n} (allowed: {title})"),
        ("confirm", "您是要{title[0]}吗？", "unknown placeholder"),
    ],
)
def test_templates_are_checked(tmp_path: Path, message: str, text: str, reason: str) -> None:
    body = SMALL + f"messages:\n  {message}: '{text}'\n"
    only_problem(write(tmp_path, body), f"messages/{message}: ", reason)


def test_a_procedures_own_step_ordinal_is_checked_too(tmp_path: Path) -> None:
    body = edit(
        "steps: [打开应用。, 点击帮助。]",
        "steps: [打开应用。, 点击帮助。]\n    step_ordinal: '第{m}种：'",
    )
    only_problem(write(tmp_path, body), "nodes/", "unknown placeholder {m} (allowed: {n})")


def test_good_templates_and_braces_in_other_messages_play(tmp_path: Path) -> None:
    body = SMALL + "messages:\n  step_ordinal: '{{第}}{n}步：'\n  no_input: '没有{按键}。'\n"
    log = tmp_path / "call.jsonl"
    path = write(tmp_path, body)
    assert cli.main(["call", "--menu", str(path), "--keys", "2_1", "--log", str(log)]) == 0
    said = [json.loads(line).get("text") for line in log.read_text("utf-8").splitlines()]
    assert "{第}一步：打开应用。" in said
    assert "没有{按键}。" in said


def steps(count: int) -> str:
    listed = ", ".join(f"步骤{i}。" for i in range(count))
    return edit("steps: [打开应用。, 点击帮助。]", f"steps: [{listed}]")


def test_a_procedure_over_the_step_limit(tmp_path: Path) -> None:
    count = limits.PROCEDURE_STEPS + 1
    only_problem(write(tmp_path, steps(count)), f"{count} steps", "PROCEDURE_STEPS", line=16)


def test_a_procedure_at_the_step_limit_plays_every_step(tmp_path: Path) -> None:
    menu = load(write(tmp_path, steps(limits.PROCEDURE_STEPS)))
    help_node = menu.node("help")
    assert menu.step_text(help_node, limits.PROCEDURE_STEPS - 1) == "第九十九步：步骤98。"
    assert chinese_number(limits.PROCEDURE_STEPS) == "九十九"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (".inf", "inf is not a finite number"),
        ("-.inf", "-inf is less than or equal to the minimum of 0"),
        (".nan", "nan is not a finite number"),
        ("3601", "3601 s is longer than 3600 s (limit TIMER_SECONDS)"),
        ("1e300", "is longer than 3600 s"),
    ],
)
def test_timers_are_finite_and_bounded(tmp_path: Path, value: str, reason: str) -> None:
    path = write(tmp_path, edit("no_input_timeout: 5", f"no_input_timeout: {value}"))
    only_problem(path, "settings/no_input_timeout: ", reason, line=5)


def test_node_timers_and_other_numbers_are_finite(tmp_path: Path) -> None:
    text = edit(
        "    answer: 请下载应用注册。",
        "    answer: 请下载应用注册。\n    settings: {end_of_speech: .nan}",
    )
    text += "speech: {accept: .nan}\n"
    found = problems(write(tmp_path, text))
    assert [(p.line, p.message) for p in found] == [
        (
            line_with(text, "end_of_speech"),
            "nodes/account/settings/end_of_speech: nan is not a finite number",
        ),
        (line_with(text, "accept"), "speech/accept: nan is not a finite number"),
    ]


def test_the_longest_timer_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, edit("no_input_timeout: 5", f"no_input_timeout: {limits.TIMER_SECONDS}"))
    assert load(path).node("main").settings.no_input_timeout == limits.TIMER_SECONDS


def test_prompt_length_limit(tmp_path: Path) -> None:
    long = "很" * (limits.PROMPT_CHARS + 1)
    path = write(tmp_path, edit("answer: 请下载应用注册。", f"answer: {long}"))
    only_problem(path, "nodes/account/answer", "PROMPT_CHARS", line=13)
    at_limit = "很" * limits.PROMPT_CHARS
    load(write(tmp_path, edit("answer: 请下载应用注册。", f"answer: {at_limit}")))


def test_menu_node_limit(tmp_path: Path) -> None:
    extra = "".join(
        f"  n{i}:\n    title: 节点\n    answer: 内容。\n" for i in range(limits.MENU_NODES)
    )
    found = problems(write(tmp_path, SMALL + extra))
    assert [p.message for p in found] == [
        f"{limits.MENU_NODES + 3} nodes; at most {limits.MENU_NODES} (limit MENU_NODES)"
    ]


@pytest.mark.parametrize(
    ("escaped", "code"), [("\\e", "U+001B"), ("\\x07", "U+0007"), ("\\ud800", "U+D800")]
)
def test_control_characters_and_surrogates_in_texts(
    tmp_path: Path, escaped: str, code: str
) -> None:
    path = write(tmp_path, edit("answer: 请下载应用注册。", f'answer: "请{escaped}下载"'))
    only_problem(path, "nodes/account/answer: control character", code, line=13)


def test_titles_with_rich_markup_are_shown_as_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The console prints titles inside rich markup: "[/red]" in one must not end the call."""
    text = "title: '[/red]热线'\n" + edit("title: 账户", "title: '[/x]账户[bold'")
    path = write(tmp_path, text)
    assert cli.main(["call", "--menu", str(path), "--keys", "1"]) == 0
    out = capsys.readouterr().out
    assert "[/red]热线" in out and "[/x]账户[bold" in out


# ------------------------------------------------------------------------------ scenarios


def scenario(folder: Path, body: str, name: str = "s.call.yaml", menu: Path | None = None) -> Path:
    menu = menu or write(folder, SMALL)
    return write(folder, f"menu: {menu}\n{body}", name)


def scenario_problems(path: Path) -> list[str]:
    with pytest.raises(MenuInvalid) as caught:
        load_scenario(path)
    shown = [str(problem) for problem in caught.value.problems]
    assert all(line.isprintable() for line in shown), shown
    return shown


def test_a_scenario_menu_that_is_not_a_menu_is_not_quoted(tmp_path: Path) -> None:
    (tmp_path / "secret.env").write_text("TOKEN=s3cr3t-value\n", encoding="utf-8")
    path = write(tmp_path, 'menu: secret.env\nturns: [{press: "1"}]\n', "leak.call.yaml")
    shown = scenario_problems(path)
    assert not any("s3cr3t" in line for line in shown), shown
    result = run_scenario(path)
    junit = tmp_path / "junit.xml"
    write_junit([result], junit)
    assert "s3cr3t" not in junit.read_text(encoding="utf-8")
    assert "s3cr3t" not in result.explain()


@pytest.mark.parametrize("keys", ["   ", " \t "])
def test_a_press_with_no_key_is_a_problem(tmp_path: Path, keys: str) -> None:
    path = scenario(tmp_path, f"turns:\n  - press: '{keys}'\n")
    shown = scenario_problems(path)
    assert shown == [f"{path}:3: press has no key: write keys 0-9 * #, or '_' for silence"]


def test_a_key_script_over_the_limit(tmp_path: Path) -> None:
    path = scenario(tmp_path, f"turns:\n  - press: '{'1' * (limits.KEY_SCRIPT_CHARS + 1)}'\n")
    [line] = scenario_problems(path)
    assert "KEY_SCRIPT_CHARS" in line and len(line) < 300


@pytest.mark.parametrize(
    ("body", "line", "reason"),
    [
        ("turns: [{press: '1'}]\nexpect: {max_duration: .nan}\n", 3, "nan is not a finite"),
        ("turns: [{press: '1'}]\nexpect: {max_duration: .inf}\n", 3, "inf is not a finite"),
        ("turns: [{silence: .inf}]\n", 2, "turn 1 silence: inf is not a finite"),
        ("turns: [{silence: 1e9}]\n", 2, "longer than 3600 s (limit TIMER_SECONDS)"),
        ("think_time: .nan\nturns: [{press: '1'}]\n", 2, "think_time: nan is not a finite"),
    ],
)
def test_scenario_numbers_are_finite(tmp_path: Path, body: str, line: int, reason: str) -> None:
    path = scenario(tmp_path, body)
    shown = scenario_problems(path)
    assert len(shown) == 1 and shown[0].startswith(f"{path}:{line}: "), shown
    assert reason in shown[0], shown


def test_a_pattern_over_the_length_limit(tmp_path: Path) -> None:
    pattern = "a" * (limits.PATTERN_CHARS + 1)
    path = scenario(
        tmp_path, f"turns:\n  - press: '1'\n    expect: {{prompt_matches: {pattern}}}\n"
    )
    [line] = scenario_problems(path)
    assert "PATTERN_CHARS" in line and len(line) < 300


def test_counted_repeats_that_unroll_too_far(tmp_path: Path) -> None:
    """The regex compiler unrolls {m,n}: (((a{100}){100}){100}){100} would take minutes."""
    body = "turns:\n  - press: '1'\n    expect: {prompt_matches: '(((a{100}){100}){100}){100}'}\n"
    [line] = scenario_problems(scenario(tmp_path, body))
    assert "PATTERN_REPEATS" in line


def test_a_catastrophic_pattern_fails_its_expectation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(啊|啊啊)+$ against 50 啊 and one 吧 backtracks for ages; the search has a time bound,
    and the scenario fails naming it. (The bound is made small so the test is quick.)"""
    monkeypatch.setattr("ivr.scenarios.verdict.PATTERN_SECONDS", 0.05)
    menu = write(tmp_path, edit("answer: 请下载应用注册。", f"answer: {'啊' * 50}吧"))
    body = "turns:\n  - press: '1'\n    expect: {prompt_matches: '(啊|啊啊)+$'}\n"
    result = run_scenario(scenario(tmp_path, body, menu=menu))
    assert result.status is Status.FAILED
    [failure] = result.failures
    assert "PATTERN_SECONDS" in failure.heard


def plain_console() -> Console:
    """A console that records what it prints and adds no escape sequences of its own."""
    return Console(file=io.StringIO(), width=300, color_system=None, force_terminal=False)


def printed(console: Console) -> str:
    file = console.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()


def test_control_characters_in_names_reach_no_terminal_and_no_xml(tmp_path: Path) -> None:
    name = "\x1b[2J\x07evil\x00name\ud800\ufffe"
    written = name.encode("unicode_escape").decode()
    body = f'name: "{written}"\nturns: [{{press: "9"}}]\nexpect: {{state: help}}\n'
    path = scenario(tmp_path, body)
    junit = tmp_path / "junit.xml"
    out, err = plain_console(), plain_console()
    assert run_cli([path], junit=junit, out=out, err=err) == 1
    shown = printed(out) + printed(err)
    assert not any(char in shown for char in "\x1b\x07\x00\ud800\ufffe")
    assert "\\x1b[2J\\x07evil\\x00name\\ud800\\ufffe" in printed(out)
    [case] = ElementTree.parse(junit).getroot().iter("testcase")
    assert case.get("name") == "\\x1b[2J\\x07evil\\x00name\\ud800\\ufffe"


def test_a_bad_wav_fails_its_scenario_only(tmp_path: Path) -> None:
    """A hostile WAV is that scenario's error in one line; the run goes on and reports."""
    menu = write(tmp_path, SMALL)
    (tmp_path / "bad.wav").write_bytes(b"RIFF\xff\xff\xff\xffWAVEfmt ")
    scenario(tmp_path, "recording: bad.wav\n", "1-bad.call.yaml", menu)
    good = "turns:\n  - press: '1'\n    expect: {state: account}\n"
    scenario(tmp_path, good, "2-good.call.yaml", menu)
    results = run_scenarios([tmp_path])
    assert [r.status for r in results] == [Status.ERROR, Status.PASSED]
    [line] = results[0].failure_lines()
    assert line.startswith(f"{tmp_path / '1-bad.call.yaml'}:1: ") and "bad.wav" in line
    assert "Error" not in line  # the audio error's own words, not an exception's name
    junit = tmp_path / "junit.xml"
    out, err = plain_console(), plain_console()
    assert run_cli([tmp_path], junit=junit, out=out, err=err) == 1
    assert len(list(ElementTree.parse(junit).getroot().iter("testcase"))) == 2
    assert "1 passed, 0 failed, 1 errors" in printed(out)
    assert printed(err).splitlines() == [line]


def test_a_bad_wav_fails_its_pytest_item_in_one_line(tmp_path: Path) -> None:
    """The pytest plugin lets unexpected errors through with their traceback, but a bad
    WAV is the scenario's input: its one-line reason, as ``ivr test`` gives it."""
    from ivr.scenarios.pytest_plugin import ScenarioFailed

    menu = write(tmp_path, SMALL)
    (tmp_path / "bad.wav").write_bytes(b"not a wav at all")
    path = scenario(tmp_path, "recording: bad.wav\n", "bad.call.yaml", menu)
    result = run_scenario(load_scenario(path), raise_errors=True)
    assert result.status is Status.ERROR
    assert "bad.wav" in str(ScenarioFailed(result)).splitlines()[0]


def test_an_unexpected_error_in_one_scenario_does_not_end_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    menu = write(tmp_path, SMALL)
    scenario(tmp_path, "turns: [{press: '1'}]\n", "a.call.yaml", menu)
    scenario(tmp_path, "turns: [{press: '2'}]\n", "b.call.yaml", menu)
    import ivr.scenarios.loading as module

    real = module._Builder.build
    calls = iter([True, False])

    def flaky(self: object) -> object:
        if next(calls):
            raise RuntimeError("boom\nsecond line")
        return real(self)  # type: ignore[arg-type]

    monkeypatch.setattr(module._Builder, "build", flaky)
    results = run_scenarios([tmp_path])
    assert [r.status for r in results] == [Status.ERROR, Status.PASSED]
    assert results[0].failure_lines() == [
        f"{tmp_path / 'a.call.yaml'}:1: RuntimeError: boom\\nsecond line"
    ]


def test_junit_is_always_well_formed(tmp_path: Path) -> None:
    """Every character XML 1.0 forbids is written as its escape; & < > and quotes by XML."""
    evil = "".join(chr(c) for c in range(0x20)) + "\ud800\udfff\ufffe\uffff]]>&<\"'"
    results = [
        ScenarioResult(evil, tmp_path / "a.call.yaml", Status.ERROR, reason=evil),
        ScenarioResult(evil, tmp_path / "b.call.yaml", Status.SKIPPED, reason=evil),
    ]
    junit = tmp_path / "junit.xml"
    write_junit(results, junit)
    root = ElementTree.parse(junit).getroot()
    names = [case.get("name") for case in root.iter("testcase")]
    assert names == [xml_text(evil)] * 2
    assert names[0] is not None and names[0].startswith("\\x00\\x01")
    assert "\t\n" in names[0] and names[0].endswith("\\ud800\\udfff\\ufffe\\uffff]]>&<\"'")
