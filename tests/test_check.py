"""Every rule of ``ivr check``, each pinned to the exact line it reports.

Small menus are built from BASE by textual edits, so each expected line is found in the edited
text itself (``lineno``) rather than counted by hand. BASE, line by line:

     1  language: zh-CN
     2  start: main
     3  global_keys: {"0": agent, "*": repeat}
     4  nodes:
     5    main:            (menu: 1 -> account, 2 -> help)
     6      title
     7      prompt
     8      options:
     9        "1": account
    10        "2": help
    11    account:         (answer)
    12      title
    13      answer
    14    help:            (procedure with two steps)
    15      title
    16      steps:
    17        - step one
    18        - step two
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from ivr import cli
from ivr.cli.common import MENU_ENV
from ivr.menu.check import announced_keys, menu_schema
from ivr.menu.model import Menu, NodeKind, load
from ivr.menu.problems import MenuInvalid

ROOT = Path(__file__).resolve().parent.parent
WALLET = ROOT / "menus" / "wallet.zh-CN.yaml"
SCHEMA_FILE = ROOT / "ivr" / "schema" / "menu.schema.json"

BASE = """\
language: zh-CN
start: main
global_keys: {"0": agent, "*": repeat}
nodes:
  main:
    title: 主菜单
    prompt: 账户请按1，帮助请按2，人工服务请按0，重听请按星号键。
    options:
      "1": account
      "2": help
  account:
    title: 账户
    answer: 请下载应用注册。
  help:
    title: 帮助
    steps:
      - 打开应用。
      - 点击帮助。
"""

ANNOUNCING_6 = ("重听请按星号键。", "重听请按星号键，其他请按6。")
"""An edit of BASE after which the main prompt announces a key 6 that main lacks."""
ANNOUNCED_6 = "announces key 6 but there is no option 6 here"

NODE_FIELDS = (
    "title, prompt, short_prompt, options, answer, intro, steps, step_ordinal, closing, source, "
    "settings, phrases, shortcuts, collect, record, operation, with, results, timeout, hold_prompt, "
    "hold_after, switch, cases, default"
)

# ---------------------------------------------------------------------------------- helpers


def vary(*edits: tuple[str, str], text: str = BASE) -> str:
    """``text`` with each (old, new) applied; every old must occur exactly once."""
    for old, new in edits:
        assert text.count(old) == 1, f"{old!r} must occur exactly once"
        text = text.replace(old, new)
    return text


def lineno(text: str, needle: str) -> int:
    """The 1-based line of the only line of ``text`` that contains ``needle``."""
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert len(hits) == 1, f"{needle!r} is on lines {hits}, want exactly one"
    return hits[0]


def write(directory: Path, text: str, name: str = "menu.yaml") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path) -> list[tuple[int, str]]:
    """(line, message) of every problem ``load`` reports, checking the ``path:line: `` form."""
    with pytest.raises(MenuInvalid) as caught:
        load(path)
    found = []
    for problem in caught.value.problems:
        rendered = str(problem)
        prefix = f"{path}:{problem.line}: "
        assert rendered.startswith(prefix), rendered
        assert "\n" not in rendered, rendered
        found.append((problem.line, rendered.removeprefix(prefix)))
    assert found, "MenuInvalid without problems"
    return found


def problems(tmp_path: Path, text: str) -> list[tuple[int, str]]:
    return problems_of(write(tmp_path, text))


def assert_problems(found: list[tuple[int, str]], *expected: tuple[Any, ...]) -> None:
    """``found`` is exactly ``expected``, in order: each (line, *parts) names the line and
    fragments the message must contain."""
    assert [line for line, _ in found] == [line for line, *_ in expected], found
    for (line, message), (_, *parts) in zip(found, expected, strict=True):
        for part in parts:
            assert part in message, f"line {line}: {part!r} not in {message!r}"


def assert_valid(tmp_path: Path, text: str) -> Menu:
    return load(write(tmp_path, text))


def cli_problems(stderr: str) -> list[str]:
    """The problems ``ivr check`` printed: one physical line each, never wrapped."""
    return stderr.splitlines()


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ivr.cli", "check", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=60,
    )


def expected_lines(path: Path, shown: str | None = None) -> list[str]:
    """What ``ivr check`` must print for ``path`` (given on its command line as ``shown``):
    exactly the problems ``load`` raises."""
    with pytest.raises(MenuInvalid) as caught:
        load(path)
    lines = [str(problem) for problem in caught.value.problems]
    return lines if shown is None else [line.replace(str(path), shown, 1) for line in lines]


# ------------------------------------------------------------------------------- the wallet

WALLET_PARENTS = {
    "main": None,
    "account": "main",
    "transactions": "main",
    "tech_support": "main",
    "usage": "main",
    "complaints": "main",
    "registration": "account",
    "password_recovery": "account",
    "real_name": "account",
    "transaction_failed": "transactions",
    "refund": "transactions",
    "records": "transactions",
    "download_install": "tech_support",
    "app_update": "tech_support",
    "transfer": "usage",
    "payment": "usage",
    "e_invoice": "usage",
    "feedback": "complaints",
    "contact_channels": "complaints",
    "caller_tips": "complaints",
}


SELF_SERVICE_PARENTS = {
    # the flow a submenu's 4 starts belongs to the first menu offering it (account)
    "self_service": "account",
    "ask_pin": "account",
    "my_account": "account",
    # what hangs below the verified menu comes back to it
    "my_failed": "my_account",
    "cause_balance": "my_account",
    "refund_found": "my_account",
    "my_ticket_kind": "my_account",
    # an unverified caller's complaint or suggestion, from 投诉与建议
    "ticket_kind": "complaints",
    "complaint_message": "ticket_kind",  # the voice message is a step of its menu
    "file_complaint": "ticket_kind",
    "ticket_filed": "ticket_kind",
}


def test_wallet_builds_20_nodes_with_their_parents() -> None:
    """The guide's 20 nodes, then the self-service flows (issue 13) after them."""
    menu = load(WALLET)
    assert menu.start == "main"
    assert len(menu.nodes) == 68
    parents = {node_id: node.parent for node_id, node in menu.nodes.items()}
    assert dict(list(parents.items())[:20]) == WALLET_PARENTS
    assert {k: parents[k] for k in SELF_SERVICE_PARENTS} == SELF_SERVICE_PARENTS
    assert dict(menu.node("main").options) == {
        "1": "account",
        "2": "transactions",
        "3": "tech_support",
        "4": "usage",
        "5": "complaints",
    }
    assert menu.node("refund").kind is NodeKind.ANSWER
    assert menu.node("password_recovery").kind is NodeKind.PROCEDURE
    assert [k for k, n in menu.nodes.items() if n.kind is NodeKind.MENU][:6] == [
        "main",
        "account",
        "transactions",
        "tech_support",
        "usage",
        "complaints",
    ]


def test_wallet_passes_ivr_check_subprocess(tmp_path: Path) -> None:
    result = run_cli(str(WALLET), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1 menu file(s) OK"
    assert result.stderr == ""


def test_wallet_passes_ivr_check_main(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check", str(WALLET)]) == 0
    out, err = capsys.readouterr()
    assert "1 menu file(s) OK" in out
    assert err == ""


def test_check_without_arguments_checks_ivr_menu_else_the_wallet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(MENU_ENV, raising=False)
    assert cli.main(["check"]) == 0
    assert "1 menu file(s) OK" in capsys.readouterr().out
    bad = write(tmp_path, vary(ANNOUNCING_6))
    monkeypatch.setenv(MENU_ENV, str(bad))
    assert cli.main(["check"]) == 1
    assert f"{bad}:7: announces key 6" in capsys.readouterr().err


def test_base_menu_is_valid(tmp_path: Path) -> None:
    """The control for every broken variant below: unedited, BASE passes."""
    menu = assert_valid(tmp_path, BASE)
    assert [n.kind for n in menu.nodes.values()] == [
        NodeKind.MENU,
        NodeKind.ANSWER,
        NodeKind.PROCEDURE,
    ]
    assert menu.node("help").parent == "main"


# ------------------------------------------------------------------------- unparsable files

TAB = vary(("    title: 账户\n", "\ttitle: 账户\n"))
BAD_INDENT = vary(('      "2": help\n', '      "2": help\n     bad: [1\n'))
TWO_DOCUMENTS = BASE + "---\nlanguage: en\n"


@pytest.mark.parametrize(
    ("text", "needle", "reason"),
    [
        (TAB, "\ttitle", "found character '\\t' that cannot start any token"),
        (BAD_INDENT, "bad: [1", "expected <block end>"),
        (TWO_DOCUMENTS, "---", "expected a single document"),
    ],
    ids=["tab", "bad-indent", "two-documents"],
)
def test_yaml_syntax_error_is_one_located_problem(
    tmp_path: Path, text: str, needle: str, reason: str
) -> None:
    assert_problems(problems(tmp_path, text), (lineno(text, needle), "YAML syntax error: ", reason))


def test_yaml_syntax_error_cli_subprocess(tmp_path: Path) -> None:
    path = write(tmp_path, TAB)
    result = run_cli("menu.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    [line] = cli_problems(result.stderr)
    assert line.startswith(f"menu.yaml:{lineno(TAB, chr(9))}: YAML syntax error: ")
    assert [line] == expected_lines(path, "menu.yaml")


def test_yaml_syntax_error_cli_main(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, TAB)
    assert cli.main(["check", "menu.yaml"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "Traceback" not in err
    assert cli_problems(err) == expected_lines(Path("menu.yaml"))
    assert err.startswith(f"menu.yaml:{lineno(TAB, chr(9))}: YAML syntax error: ")


def _missing(directory: Path) -> Path:
    return directory / "missing.yaml"


def _directory(directory: Path) -> Path:
    (directory / "menus.yaml").mkdir()
    return directory / "menus.yaml"


def _not_utf8(directory: Path) -> Path:
    path = directory / "latin1.yaml"
    path.write_bytes("language: zh-CN\ntitle: caf\xe9\n".encode("latin-1"))
    return path


UNREADABLE = [
    pytest.param(_missing, "No such file", id="missing"),
    pytest.param(_directory, "cannot read menu file", id="directory"),
    pytest.param(_not_utf8, "utf-8", id="not-utf-8"),
]


@pytest.mark.parametrize(("make", "reason"), UNREADABLE)
def test_unreadable_file_is_one_problem_at_line_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Callable[[Path], Path], reason: str
) -> None:
    path = make(tmp_path)
    assert_problems(problems_of(path), (1, "cannot read menu file: ", reason))
    assert cli.main(["check", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "Traceback" not in err
    assert cli_problems(err) == expected_lines(path)


def test_missing_file_cli_subprocess(tmp_path: Path) -> None:
    result = run_cli("missing.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert cli_problems(result.stderr) == expected_lines(tmp_path / "missing.yaml", "missing.yaml")
    assert result.stderr.startswith("missing.yaml:1: cannot read menu file: ")


# ------------------------------------------------------------------------------ the schema


def test_unknown_node_field_names_it_and_the_allowed_fields(tmp_path: Path) -> None:
    text = vary(("    title: 帮助\n", "    title: 帮助\n    colour: red\n"))
    assert_problems(
        problems(tmp_path, text),
        (lineno(text, "colour:"), "nodes/help: unknown field colour", f"(allowed: {NODE_FIELDS})"),
    )


def test_unknown_top_level_field(tmp_path: Path) -> None:
    text = vary(("start: main\n", "start: main\ncolour: red\n"))
    assert_problems(
        problems(tmp_path, text),
        (lineno(text, "colour:"), "top level: unknown field colour", "(allowed: language, title,"),
    )


@pytest.mark.parametrize(
    ("edit", "line_of", "message"),
    [
        (("    title: 帮助\n", ""), "help:", "nodes/help: 'title' is required"),
        (("start: main\n", ""), "language:", "top level: 'start' is required"),
        (("language: zh-CN\n", ""), "start:", "top level: 'language' is required"),
    ],
    ids=["node-title", "start", "language"],
)
def test_missing_required_field(
    tmp_path: Path, edit: tuple[str, str], line_of: str, message: str
) -> None:
    text = vary(edit)
    assert_problems(problems(tmp_path, text), (lineno(text, line_of), message))


@pytest.mark.parametrize(
    ("edit", "line_of", "where", "key"),
    [
        (('"2": help', '"12": help'), "options:", "nodes/main/options", "'12'"),
        (('"2": help', "a: help"), "options:", "nodes/main/options", "'a'"),
        (('"*": repeat', '"a": repeat'), "global_keys", "global_keys", "'a'"),
        (
            ("nodes:\n", 'step_keys:\n  next: "10"\nnodes:\n'),
            "next:",
            "step_keys/next",
            "'10'",
        ),
    ],
    ids=["option-12", "option-a", "global-key-a", "step-key-10"],
)
def test_key_that_is_not_a_telephone_key(
    tmp_path: Path, edit: tuple[str, str], line_of: str, where: str, key: str
) -> None:
    text = vary(edit)
    assert_problems(
        problems(tmp_path, text),
        (lineno(text, line_of), f"{where}: {key} is not a telephone key (0-9, * or #)"),
    )


@pytest.mark.parametrize(
    ("edit", "line_of", "message"),
    [
        (
            ("nodes:\n", 'settings: {no_input_timeout: "5"}\nnodes:\n'),
            "settings:",
            "settings/no_input_timeout: '5' is not of type 'number'",
        ),
        (
            ("    title: 账户\n", '    title: 账户\n    settings:\n      max_no_input: "3"\n'),
            "max_no_input",
            "nodes/account/settings/max_no_input: '3' is not of type 'integer'",
        ),
        (
            ("      - 点击帮助。\n", "      - 5\n"),
            "- 5",
            "nodes/help/steps/1: 5 is not of type 'string'",
        ),
        (
            ("nodes:\n", "settings:\n  on_max_failures: {action: call}\nnodes:\n"),
            "on_max_failures",
            "settings/on_max_failures/action: 'call' is not one of",
        ),
    ],
    ids=["timeout-string", "max-no-input-string", "step-number", "unknown-action"],
)
def test_wrong_type(tmp_path: Path, edit: tuple[str, str], line_of: str, message: str) -> None:
    text = vary(edit)
    assert_problems(problems(tmp_path, text), (lineno(text, line_of), message))


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (("nodes:\n", "settings:\n  on_max_failures: {action: goto}\nnodes:\n"), "settings"),
        (
            (
                "    title: 账户\n",
                "    title: 账户\n    settings:\n      on_max_failures: {action: goto}\n",
            ),
            "nodes/account/settings",
        ),
    ],
    ids=["global", "per-node"],
)
def test_goto_without_target(tmp_path: Path, edit: tuple[str, str], where: str) -> None:
    text = vary(edit)
    assert_problems(
        problems(tmp_path, text),
        (lineno(text, "on_max_failures"), f"{where}/on_max_failures: 'target' is required"),
    )


def test_schema_problems_hide_the_cross_checks(tmp_path: Path) -> None:
    """Option "12" also leaves 请按2 unanswered, but only the shape is reported."""
    text = vary(('"2": help', '"12": help'))
    assert len(problems(tmp_path, text)) == 1


# ------------------------------------------------------------------------------ YAML keys


@pytest.mark.parametrize(
    ("second", "key"),
    [('      "1": help', "'1'"), ("      1: help", "'1'")],
    ids=["quoted", "unquoted-after-quoted"],
)
def test_duplicate_option_key_is_reported_with_both_lines(
    tmp_path: Path, second: str, key: str
) -> None:
    text = vary(('      "2": help', second))
    first, dup = lineno(text, '"1": account'), lineno(text, ": help")
    assert_problems(
        problems(tmp_path, text),
        (lineno(text, "prompt:"), "announces key 2"),
        (dup, f"duplicate key {key} (first at line {first})"),
        (lineno(text, "help:"), "node 'help' is unreachable"),
    )


def test_duplicate_top_level_key(tmp_path: Path) -> None:
    text = vary(("nodes:\n", "start: main\nnodes:\n"))
    assert_problems(problems(tmp_path, text), (4, "duplicate key 'start' (first at line 2)"))


def test_unquoted_integer_keys_are_telephone_keys(tmp_path: Path) -> None:
    text = vary(
        ('"1": account', "1: account"),
        ('"2": help', "2: help"),
        ('{"0": agent', "{0: agent"),
    )
    menu = assert_valid(tmp_path, text)
    assert dict(menu.node("main").options) == {"1": "account", "2": "help"}
    assert list(menu.global_keys) == ["0", "*"]


# --------------------------------------------------------------------------- node targets


def test_unknown_option_target(tmp_path: Path) -> None:
    text = vary(('"2": help', '"2": helpp'))
    assert_problems(
        problems(tmp_path, text),
        (lineno(text, "helpp"), "unknown target 'helpp'"),
        (lineno(text, "help:"), "node 'help' is unreachable from 'main'"),
    )


@pytest.mark.parametrize(
    "edit",
    [
        ("nodes:\n", "settings:\n  on_max_failures: {action: goto, target: nowhere}\nnodes:\n"),
        (
            "    title: 账户\n",
            "    title: 账户\n    settings:\n      on_max_failures:\n"
            "        action: goto\n        target: nowhere\n",
        ),
    ],
    ids=["global", "per-node"],
)
def test_unknown_goto_target(tmp_path: Path, edit: tuple[str, str]) -> None:
    text = vary(edit)
    assert_problems(problems(tmp_path, text), (lineno(text, "nowhere"), "unknown target 'nowhere'"))


def test_goto_to_a_known_node_is_fine(tmp_path: Path) -> None:
    text = vary(
        ("nodes:\n", "settings:\n  on_max_failures: {action: goto, target: main}\nnodes:\n")
    )
    assert assert_valid(tmp_path, text).node("help").settings.on_max_failures.target == "main"


def test_start_not_defined(tmp_path: Path) -> None:
    text = vary(("start: main", "start: mian"))
    assert_problems(
        problems(tmp_path, text),
        (2, "start node 'mian' is not defined"),
        (lineno(text, "main:"), "node 'main' is unreachable from 'mian'"),
        (lineno(text, "account:"), "node 'account' is unreachable"),
        (lineno(text, "help:"), "node 'help' is unreachable"),
    )


def test_start_not_a_menu(tmp_path: Path) -> None:
    text = vary(("start: main", "start: account"))
    assert_problems(
        problems(tmp_path, text),
        (2, "start node 'account' must be a menu (with options)"),
        (lineno(text, "main:"), "node 'main' is unreachable from 'account'"),
        (lineno(text, "help:"), "node 'help' is unreachable from 'account'"),
    )


def test_unreachable_node(tmp_path: Path) -> None:
    text = BASE + "  orphan:\n    title: 孤儿\n    answer: 没人来。\n"
    assert_problems(
        problems(tmp_path, text),
        (lineno(text, "orphan:"), "node 'orphan' is unreachable from 'main'"),
    )


# ----------------------------------------------------------------------------- node kinds


@pytest.mark.parametrize(
    ("edit", "line_of", "message"),
    [
        (("    answer: 请下载应用注册。\n", ""), "account:", "node 'account' has no options, "),
        (
            (
                "    answer: 请下载应用注册。\n",
                '    answer: 请下载应用注册。\n    options: {"1": help}\n',
            ),
            "account:",
            "node 'account' has both options and answer",
        ),
        (
            ("    title: 帮助\n", "    title: 帮助\n    answer: 见网站。\n"),
            "help:",
            "node 'help' has both answer and steps",
        ),
        (
            (
                "    answer: 请下载应用注册。\n",
                "    answer: 请下载应用注册。\n    prompt: 请听。\n",
            ),
            "请听",
            "prompt is only for menus",
        ),
        (
            ("    title: 帮助\n", "    title: 帮助\n    short_prompt: 请听。\n"),
            "short_prompt",
            "short_prompt is only for menus",
        ),
        (
            ("    title: 主菜单\n", "    title: 主菜单\n    intro: 你好。\n"),
            "intro:",
            "intro is only for procedures",
        ),
        (
            (
                "    answer: 请下载应用注册。\n",
                "    answer: 请下载应用注册。\n    closing: 再见。\n",
            ),
            "closing:",
            "closing is only for procedures",
        ),
        (
            (
                "    answer: 请下载应用注册。\n",
                "    answer: 请下载应用注册。\n    step_ordinal: 第{n}种：\n",
            ),
            "step_ordinal:",
            "step_ordinal is only for procedures",
        ),
        (
            ("    prompt: 账户请按1，帮助请按2，人工服务请按0，重听请按星号键。\n", ""),
            "main:",
            "menu 'main' has options but no prompt",
        ),
    ],
    ids=[
        "no-kind",
        "options-and-answer",
        "answer-and-steps",
        "prompt-on-answer",
        "short-prompt-on-procedure",
        "intro-on-menu",
        "closing-on-answer",
        "step-ordinal-on-answer",
        "menu-without-prompt",
    ],
)
def test_node_kind(tmp_path: Path, edit: tuple[str, str], line_of: str, message: str) -> None:
    text = vary(edit)
    assert_problems(problems(tmp_path, text), (lineno(text, line_of), message))


# ----------------------------------------------------------------------------- key clashes


def test_option_key_clashes_with_global_key(tmp_path: Path) -> None:
    text = vary(('      "2": help\n', '      "2": help\n      "0": account\n'))
    assert_problems(
        problems(tmp_path, text),
        (lineno(text, '"0": account'), "option key '0' clashes with global key '0' (agent)"),
    )


def test_step_key_clashes_with_global_key(tmp_path: Path) -> None:
    text = vary(("nodes:\n", 'step_keys: {next: "1", repeat: "0", previous: "3"}\nnodes:\n'))
    assert_problems(
        problems(tmp_path, text),
        (lineno(text, "step_keys"), "step key '0' (repeat) clashes with global key '0' (agent)"),
    )


def test_step_keys_must_be_distinct(tmp_path: Path) -> None:
    text = vary(("nodes:\n", 'step_keys: {next: "1", repeat: "1", previous: "3"}\nnodes:\n'))
    assert_problems(
        problems(tmp_path, text),
        (lineno(text, "step_keys"), "step keys must be three different keys"),
    )


def test_default_step_key_clash_is_still_found(tmp_path: Path) -> None:
    """No step_keys in the file: the default previous key 3 clashes with global 3."""
    text = vary(('"*": repeat}', '"*": repeat, "3": back}'))
    [(_, message)] = problems(tmp_path, text)
    assert message == "step key '3' (previous) clashes with global key '3' (back)"


def test_default_step_key_clash_points_at_the_global_key(tmp_path: Path) -> None:
    text = vary(('"*": repeat}', '"*": repeat, "3": back}'))
    assert_problems(problems(tmp_path, text), (lineno(text, "global_keys"), "step key '3'"))


# --------------------------------------------------------------------------- announcements


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("账户请按1，帮助请按 2。", {"1", "2"}),
        ("重听请按星号键，返回请按井号键。", {"*", "#"}),
        ("请按*或按#。", {"*", "#"}),
        ("按照提示操作，按时还款。", set()),
    ],
)
def test_announced_keys(text: str, expected: set[str]) -> None:
    assert announced_keys(text) == expected


def test_prompt_announces_a_key_with_no_option(tmp_path: Path) -> None:
    text = vary(ANNOUNCING_6)
    assert_problems(problems(tmp_path, text), (7, "announces key 6 but there is no option 6 here"))


def test_prompt_announces_hash_that_is_not_a_global_key(tmp_path: Path) -> None:
    text = vary(("重听请按星号键。", "重听请按星号键，返回请按井号键。"))
    assert_problems(problems(tmp_path, text), (7, "announces key # but there is no option #"))
    assert_valid(tmp_path, vary(('"*": repeat}', '"*": repeat, "#": back}'), text=text))


def test_option_never_announced(tmp_path: Path) -> None:
    text = vary(("帮助请按2，", ""))
    assert_problems(
        problems(tmp_path, text),
        (lineno(text, '"2": help'), "option 2 (help) is never announced in the prompt"),
    )


@pytest.mark.parametrize(
    ("edit", "line_of", "key"),
    [
        (("请下载应用注册。", "请下载应用注册，重听请按7。"), "answer:", "7"),
        (("      - 点击帮助。", "      - 点击帮助，然后按9。"), "然后按9", "9"),
        (("    title: 帮助\n", "    title: 帮助\n    intro: 请按5开始。\n"), "intro:", "5"),
        (
            ("      - 点击帮助。\n", "      - 点击帮助。\n    closing: 返回请按#。\n"),
            "closing:",
            "#",
        ),
        (
            ("    options:\n", "    short_prompt: 账户请按1，其他请按5。\n    options:\n"),
            "short_prompt",
            "5",
        ),
        (("请下载应用注册。", "下一步请按1。"), "answer:", "1"),
    ],
    ids=["answer", "step", "intro", "closing", "short-prompt", "step-key-in-answer"],
)
def test_text_announces_a_key_that_does_nothing_there(
    tmp_path: Path, edit: tuple[str, str], line_of: str, key: str
) -> None:
    text = vary(edit)
    assert_problems(
        problems(tmp_path, text),
        (lineno(text, line_of), f"announces key {key} but there is no option {key} here"),
    )


def test_steps_may_announce_step_and_global_keys(tmp_path: Path) -> None:
    text = vary(("      - 点击帮助。", "      - 点击帮助，下一步请按1，人工请按0，重听按星号。"))
    assert_valid(tmp_path, text)


def test_greeting_announces_a_key_the_start_menu_lacks(tmp_path: Path) -> None:
    text = vary(("start: main\n", "start: main\ngreeting: 欢迎，查余额请按8。\n"))
    assert_problems(problems(tmp_path, text), (3, "announces key 8 but there is no option 8"))
    fine = vary(("start: main\n", "start: main\ngreeting: 欢迎，账户请按1，人工请按0。\n"))
    assert_valid(tmp_path, fine)


def test_step_hint_announces_a_key_that_is_not_a_step_key(tmp_path: Path) -> None:
    text = vary(("nodes:\n", "messages:\n  step_hint: 下一步请按1，退出请按9。\nnodes:\n"))
    assert_problems(problems(tmp_path, text), (lineno(text, "step_hint"), "announces key 9"))


# ----------------------------------------------------------------------- several problems

MANY = vary(
    ("nodes:\n", "start: main\nnodes:\n"),  # the loader: duplicate key, line 4
    ("    title: 主菜单\n", "    title: 主菜单\n    intro: 你好。\n"),  # node kind, line 8
    ('"2": help', '"2": helpp'),  # unknown target, line 12; help unreachable, line 16
    ("请下载应用注册。", "请下载应用注册，重听请按7。"),  # announcement, line 15
)
"""Problems from every pass of the checker, none of them found in line order."""


def test_several_problems_are_all_reported_sorted_by_line(tmp_path: Path) -> None:
    assert_problems(
        problems(tmp_path, MANY),
        (4, "duplicate key 'start' (first at line 2)"),
        (8, "intro is only for procedures"),
        (12, "unknown target 'helpp'"),
        (15, "announces key 7"),
        (16, "node 'help' is unreachable"),
    )


def test_several_problems_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, MANY)
    assert cli.main(["check", "menu.yaml"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    printed = cli_problems(err)
    assert printed == expected_lines(Path("menu.yaml"))
    assert [int(line.split(":")[1]) for line in printed] == [4, 8, 12, 15, 16]


def test_one_good_and_one_bad_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """In both orders: the first in a real process, the second in this one (a start-up
    less; the process's own output is the same code's)."""
    write(tmp_path, BASE, "good.yaml")
    bad = write(tmp_path, vary(ANNOUNCING_6), "bad.yaml")
    result = run_cli("good.yaml", "bad.yaml", cwd=tmp_path)
    monkeypatch.chdir(tmp_path)
    in_process = cli.main(["check", "bad.yaml", "good.yaml"])
    printed = capsys.readouterr()
    runs = [(result.returncode, result.stdout, result.stderr), (in_process, *printed)]
    for code, out, err in runs:
        assert code == 1
        assert out == ""
        assert "good.yaml" not in err
        assert cli_problems(err) == ["bad.yaml:7: " + ANNOUNCED_6]
    assert expected_lines(bad) == [f"{bad}:7: {ANNOUNCED_6}"]


def test_two_good_files(tmp_path: Path) -> None:
    write(tmp_path, BASE, "a.yaml")
    write(tmp_path, BASE, "b.yaml")
    result = run_cli("a.yaml", "b.yaml", cwd=tmp_path)
    assert (result.returncode, result.stdout.strip(), result.stderr) == (
        0,
        "2 menu file(s) OK",
        "",
    )


def test_cli_never_wraps_a_long_problem(tmp_path: Path) -> None:
    """Not a terminal, rich would wrap at 80 columns without soft_wrap."""
    text = vary(("    title: 帮助\n", "    title: 帮助\n    colour: red\n"))
    path = write(tmp_path, text)
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    result = run_cli("menu.yaml", cwd=tmp_path, env=env)
    expected = expected_lines(path, "menu.yaml")
    assert len(expected[0]) > 80
    assert result.stderr.splitlines() == expected


# ------------------------------------------------------------------ the published schema


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return loaded


def _refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref":
                yield item
            else:
                yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def test_schema_is_a_valid_draft_2020_12_schema(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert jsonschema.validators.validator_for(schema) is jsonschema.Draft202012Validator
    jsonschema.Draft202012Validator.check_schema(schema)
    for ref in _refs(schema):
        assert ref.startswith("#/$defs/") and ref.removeprefix("#/$defs/") in schema["$defs"]


def test_checker_uses_the_published_schema(schema: dict[str, Any]) -> None:
    assert menu_schema() == schema


def test_wallet_validates_with_plain_jsonschema(schema: dict[str, Any]) -> None:
    document = yaml.safe_load(WALLET.read_text(encoding="utf-8"))
    jsonschema.validate(document, schema)  # what an editor does with the modeline
    modeline = WALLET.read_text(encoding="utf-8").splitlines()[0]
    relative = modeline.removeprefix("# yaml-language-server: $schema=")
    assert (WALLET.parent / relative).resolve() == SCHEMA_FILE.resolve()


def test_plain_jsonschema_rejects_a_bad_menu(schema: dict[str, Any]) -> None:
    document = yaml.safe_load(vary(('"2": help', '"12": help')))
    with pytest.raises(jsonschema.ValidationError, match="'12' does not match"):
        jsonschema.validate(document, schema)


# ------------------------------------------------------------------- known bugs (see report)


def test_control_character_is_a_located_problem_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = vary(("    title: 账户", "    title: 账\x01户"))
    path = write(tmp_path, text)
    assert cli.main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith(f"{path}:{lineno(text, chr(1))}: YAML")


def test_cli_prints_paths_verbatim(tmp_path: Path) -> None:
    write(tmp_path, vary(ANNOUNCING_6), ":fire:.yaml")
    result = run_cli(":fire:.yaml", cwd=tmp_path)
    assert result.stderr.splitlines() == [f":fire:.yaml:7: {ANNOUNCED_6}"]


def test_merge_key_override_is_not_a_duplicate(tmp_path: Path) -> None:
    text = vary(
        ("nodes:\n", "settings: &defaults\n  max_no_input: 3\n  max_no_match: 3\nnodes:\n"),
        (
            "    title: 账户\n",
            "    title: 账户\n    settings:\n      <<: *defaults\n      max_no_input: 5\n",
        ),
    )
    menu = assert_valid(tmp_path, text)
    assert menu.node("account").settings.max_no_input == 5
    assert menu.node("account").settings.max_no_match == 3


def test_a_menu_not_in_mandarin_gives_every_message_it_can_say(tmp_path: Path) -> None:
    """The message defaults are Mandarin: a Korean menu that leaves out the step hint would
    say "下一步请按1…" after a declined confirmation."""
    korean = ROOT / "tests" / "menus" / "korean.ko-KR.yaml"
    load(korean)  # gives them all
    text = korean.read_text("utf-8")
    hint = next(line for line in text.splitlines() if line.strip().startswith("step_hint:"))
    path = tmp_path / "korean.ko-KR.yaml"
    path.write_text(text.replace(hint + "\n", ""), "utf-8")
    with pytest.raises(MenuInvalid) as invalid:
        load(path)
    assert [p.message for p in invalid.value.problems] == [
        "messages/step_hint: a ko-KR menu must say it in its own language (the default is Mandarin)"
    ]
    backlinks = load(ROOT / "tests" / "menus" / "backlinks.zh-CN.yaml")  # gives no messages:
    assert "step_hint" in backlinks.messages_said()  # a Mandarin menu may lean on the defaults
