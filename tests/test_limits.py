"""The README's limits table is ivr/limits.py: every limit listed, with its value."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import ivr.limits
from ivr.cli.parser import parser
from ivr.limits import caller_id_problem
from ivr.menu.problems import MenuInvalid
from ivr.scenarios import load_scenario
from ivr.web.protocol import Message, read_text
from tests.conftest import WALLET

from .test_readme import README


def declared() -> dict[str, int | float]:
    return {
        name: value
        for name, value in vars(ivr.limits).items()
        if name.isupper() and isinstance(value, int | float)
    }


def shown(value: int | float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def test_the_readme_lists_every_limit_with_its_value() -> None:
    rows = dict(re.findall(r"^\| `([A-Z_]+)` \| ([^|]+) \|", README, re.M))
    assert {name: value.strip() for name, value in rows.items()} == {
        name: shown(value) for name, value in declared().items()
    }


def test_every_limit_is_positive_and_finite() -> None:
    for name, value in declared().items():
        assert 0 < value < float("inf"), name
    assert ivr.limits.SAMPLE_RATE_MIN < ivr.limits.SAMPLE_RATE_MAX


# --- the caller ID: one rule for the CLI, scenario files and the web phone ----------------

CALLER_ID_EDGES = st.integers(ivr.limits.CALLER_ID_DIGITS - 2, ivr.limits.CALLER_ID_DIGITS + 1)
"""Lengths at the limit's edge."""
CALLER_ID_TEXT = st.text(
    st.sampled_from([*"0123456789", "+", " ", "-", "a", "٣", "１", "²", "\x00", "\u202e"]),
    max_size=ivr.limits.CALLER_ID_DIGITS + 5,
)
"""Digits, and the characters a caller ID must not hold that look like or sit among them."""


def is_caller_id(text: str) -> bool:
    """The rule, written out: ASCII digits only, at most CALLER_ID_DIGITS (empty: none)."""
    return all(c in "0123456789" for c in text) and len(text) <= ivr.limits.CALLER_ID_DIGITS


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.one_of(CALLER_ID_TEXT, st.text(max_size=40)))
def test_caller_id_problem_is_the_rule(text: str) -> None:
    problem = caller_id_problem(text)
    assert (problem is None) == is_caller_id(text), text
    assert problem is None or "\n" not in problem  # one line, whatever the text held


@settings(max_examples=40, deadline=None, derandomize=True)
@given(CALLER_ID_EDGES, st.sampled_from("0123456789"))
def test_caller_ids_at_the_limits_edge(length: int, digit: str) -> None:
    problem = caller_id_problem(digit * length)
    if length <= ivr.limits.CALLER_ID_DIGITS:
        assert problem is None
    else:
        assert problem == (
            f"a caller ID has at most {ivr.limits.CALLER_ID_DIGITS} digits (CALLER_ID_DIGITS), "
            f"not {length}"
        )


def cli_takes(text: str) -> tuple[bool, str]:
    """Whether ``ivr call --caller TEXT`` parses, and what it said on stderr if not."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            args = parser().parse_args(["call", f"--caller={text}"])
    except SystemExit as stop:
        assert stop.code == 2
        return False, err.getvalue()
    assert args.caller == text
    return True, ""


def loader_takes(folder: Path, text: str) -> tuple[bool, list[str]]:
    """Whether a scenario with ``caller_id: TEXT`` loads, and its problems if not."""
    path = folder / "caller.call.yaml"
    path.write_text(
        f"menu: {WALLET}\ncaller_id: {json.dumps(text)}\nturns: [hangup]\n", encoding="utf-8"
    )
    try:
        scenario = load_scenario(path)
    except MenuInvalid as invalid:
        return False, [str(p) for p in invalid.problems]
    assert scenario.caller_id == (text or None)
    return True, []


def web_takes(text: str) -> bool:
    return isinstance(read_text(json.dumps({"type": "call", "caller_id": text})), Message)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.one_of(CALLER_ID_TEXT, CALLER_ID_EDGES.map(lambda n: "1" * n)))
@example("")  # no caller ID, everywhere
@example("--")  # argparse hands this over as [] without asking the type
def test_the_cli_the_scenario_loader_and_the_web_phone_take_the_same_caller_ids(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    folder = tmp_path_factory.mktemp("caller")
    taken, said = cli_takes(text)
    loaded, problems = loader_takes(folder, text)
    assert taken == loaded == web_takes(text) == is_caller_id(text), text
    if not taken:
        problem = caller_id_problem(text)
        assert said == f"ivr call: error: argument --caller: {problem} (see 'ivr call --help')\n"
        assert problems == [f"{folder / 'caller.call.yaml'}:2: caller_id: {problem}"]


def test_the_caller_options_help_names_the_limit() -> None:
    """The parser imports no limits to print its help: the figure is written out there."""
    (commands,) = [a for a in parser()._actions if isinstance(a, argparse._SubParsersAction)]
    call = commands.choices["call"]
    (caller,) = [a for a in call._actions if "--caller" in a.option_strings]
    assert f"at most {ivr.limits.CALLER_ID_DIGITS} (CALLER_ID_DIGITS)" in (caller.help or "")
