"""Menu coverage from call events: nodes, the machine's edges, error paths, the diagram."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from ivr.drivers.testing import run_script
from ivr.engine.events import CallEvent, EventType, Outcome
from ivr.engine.flow import Call, CallFlow
from ivr.menu.model import Menu
from ivr.outputs.call_log import CallLog
from ivr.scenarios import ScenarioResult, Status, run_scenarios
from ivr.scenarios.coverage import (
    Coverage,
    Edge,
    EdgeKind,
    ErrorPath,
    coverage_by_menu,
    machine_edges,
    write_coverage,
)
from tests.conftest import ROOT

CALLS = ROOT / "tests" / "calls"


@pytest.fixture(scope="module")
def shipped(korean_model: object) -> tuple[list[ScenarioResult], Counter[Edge]]:
    """Every shipped scenario played once for this module, with the edges the engine took
    recorded inside it (``record_engine_edges``): that they pass, the wallet's figures and
    the comparison of edges below all read this one run. The Korean ones hear with the
    process's shared model (tests/conftest.py)."""
    with pytest.MonkeyPatch.context() as patch:
        taken = record_engine_edges(patch)
        results = run_scenarios([CALLS])
    return results, taken


@pytest.fixture(scope="module")
def wallet_results(
    shipped: tuple[list[ScenarioResult], Counter[Edge]],
) -> list[ScenarioResult]:
    """The results of the shipped wallet scenarios (tests/calls/wallet)."""
    found = [r for r in shipped[0] if r.path.is_relative_to(CALLS / "wallet")]
    assert len(found) == len(list((CALLS / "wallet").rglob("*.call.yaml")))
    return found


@pytest.fixture(scope="module")
def wallet_coverage(wallet_results: list[ScenarioResult]) -> Coverage:
    (coverage,) = coverage_by_menu(wallet_results).values()
    return coverage


def test_the_shipped_wallet_scenarios_pass(wallet_results: list[ScenarioResult]) -> None:
    by_status = {result.path.name: result.status for result in wallet_results}
    assert by_status.pop("speech-zh-password.call.yaml") in (Status.SKIPPED, Status.PASSED)
    failed = [
        r.explain() for r in wallet_results if r.status not in (Status.PASSED, Status.SKIPPED)
    ]
    assert not failed, "\n\n".join(failed)
    assert set(by_status.values()) == {Status.PASSED}


def test_the_shipped_korean_speech_scenarios_pass(
    shipped: tuple[list[ScenarioResult], Counter[Edge]],
) -> None:
    results = [r for r in shipped[0] if r.path.is_relative_to(CALLS / "korean")]
    assert len(results) == 6
    failed = [result.explain() + result.reason for result in results if not result.passed]
    assert not failed, "\n\n".join(failed)
    heard = {
        result.path.name: [(e.text, e.decision) for _, e in result.events if e.text and e.decision]
        for result in results
    }
    assert heard["say-three-accepted.call.yaml"] == [("셋", "accept")]
    assert heard["say-weather-rejected.call.yaml"][0][1] == "reject"
    assert heard["say-confirm-then-three.call.yaml"] == [("셋", "confirm"), ("예", "accept")]


def test_the_shipped_wallet_scenarios_cover_every_node_and_keypad_edge(
    wallet_coverage: Coverage,
) -> None:
    coverage = wallet_coverage
    assert coverage.menu.path.name == "wallet.zh-CN.yaml"
    assert coverage.unentered() == []
    assert coverage.states == (68, 68)
    assert coverage.covered([EdgeKind.SELECT]) == (45, 45)
    assert coverage.covered([EdgeKind.FINISH]) == (27, 27)
    # back (#) from every node of the guide's tree; the self-service nodes' own # is the
    # same engine rule, taken in a few of them
    guide_tree = list(coverage.menu.nodes)[:20]
    backs = [e for e in coverage.uncovered([EdgeKind.BACK]) if e.source in guide_tree]
    assert backs == []
    assert coverage.uncovered([EdgeKind.SELECT, EdgeKind.FINISH]) == []
    flow_kinds = [EdgeKind.NEXT, EdgeKind.RESULT, EdgeKind.CASE, EdgeKind.DEFAULT]
    # every result, value and entry, but a database failing between two requests of one
    # call (the error paths of the first request are covered: database missing)
    assert [str(e) for e in coverage.uncovered(flow_kinds)] == [
        "find --result:error--> sorry",
        "verify --result:error--> sorry",
        "my_failed --result:error--> sorry",
        "my_refund --result:error--> sorry",
        "my_records --result:error--> sorry",
        "my_real_name --result:error--> sorry",
        "my_invoice --result:error--> sorry",
        "file_suggestion --result:error--> ticket_sorry",
        "file_complaint_mine --result:error--> ticket_sorry",
        "file_suggestion_mine --result:error--> ticket_sorry",
    ]
    assert coverage.unexplained == []


def test_error_paths_are_counted_per_node(wallet_coverage: Coverage) -> None:
    coverage = wallet_coverage
    for path in ErrorPath:
        assert "main" in coverage.error_nodes(path), path
    assert {"main", "account", "password_recovery"} <= set(coverage.error_nodes(ErrorPath.NO_INPUT))
    assert {"main", "transactions", "transaction_failed"} <= set(
        coverage.error_nodes(ErrorPath.NO_MATCH)
    )
    assert "e_invoice" in coverage.error_nodes(ErrorPath.MAX_FAILURES)
    answers = {"registration", "refund", "records", "download_install", "app_update"}
    assert answers <= set(coverage.error_nodes(ErrorPath.BARGE_IN))
    transferred = {e.source for e in coverage.edges_of([EdgeKind.END]) if coverage.taken[e]}
    assert {"main", "transactions", "e_invoice", "refund"} <= transferred


def test_edges_are_the_machine_edges(wallet_coverage: Coverage) -> None:
    edges = machine_edges(wallet_coverage.flow)
    kinds = Counter(edge.kind for edge in edges)
    assert kinds == {
        EdgeKind.SELECT: 45,
        EdgeKind.BACK: 53,
        EdgeKind.FINISH: 27,
        EdgeKind.SHORTCUT: 17,
        EdgeKind.MAIN: 53,
        EdgeKind.END: 272,  # four outcomes from every node: a callback is the fourth
        EdgeKind.NEXT: 6,  # two collect nodes, four record nodes
        EdgeKind.RESULT: 36,
        EdgeKind.CASE: 6,
        EdgeKind.DEFAULT: 2,
        EdgeKind.SELF_SERVICE: 68,  # the contact centre's "no agent now": back to main
    }
    assert Edge("main", "select:1", "account") in edges
    assert Edge("account", "end:transferred", "end:transferred") in edges


# --- the edges found from events are the edges the engine took ------------------------


def record_engine_edges(patch: pytest.MonkeyPatch) -> Counter[Edge]:
    """Every edge the engine takes while ``patch`` lasts, recorded inside it: the truth to
    compare against."""
    taken: Counter[Edge] = Counter()
    move, end = CallFlow._move, CallFlow._end

    def recording_move(self: CallFlow, call: Call, trigger: str, **kwargs: Any) -> Any:
        source = call.state
        events = move(self, call, trigger, **kwargs)
        taken[Edge(source, trigger, call.state)] += 1
        return events

    def recording_end(self: CallFlow, call: Call, outcome: Outcome) -> Any:
        taken[Edge(call.state, f"end:{outcome}", f"end:{outcome}")] += 1
        return end(self, call, outcome)

    patch.setattr(CallFlow, "_move", recording_move)
    patch.setattr(CallFlow, "_end", recording_end)
    return taken


@pytest.fixture
def engine_edges(monkeypatch: pytest.MonkeyPatch) -> Counter[Edge]:
    return record_engine_edges(monkeypatch)


def test_edges_from_the_shipped_scenarios_match_the_engine(
    shipped: tuple[list[ScenarioResult], Counter[Edge]],
) -> None:
    results, engine_edges = shipped
    played = [r for r in results if r.status is Status.PASSED]
    assert len(played) >= 28
    found: Counter[Edge] = Counter()
    for coverage in coverage_by_menu(played).values():
        assert coverage.unexplained == []
        found.update(coverage.taken)
    assert found == engine_edges


GOTO_MENU = {
    '{"0": agent, "*": repeat, "#": back}': '{"0": agent, "*": repeat, "#": back, "9": main}',
    "  no_input_timeout: 5": "  no_input_timeout: 5\n  on_max_failures: {action: goto, target: main}",
}


@pytest.mark.parametrize(
    "script",
    [
        "19",  # main key: account -> main, where back would also lead
        "1#",  # back key: the same two nodes
        "1___",  # max no-input in account: goto main, the same two nodes again
        "2",  # an answer under main that ends by itself: finish, not back or main
        "2!#",  # back during that answer
        "2!9",  # main during it
        "11#",  # back from a procedure
        "111111",  # a procedure to its end and past its closing
        "12!1",  # a key for the parent menu during an answer: finish, then select
        "1999",  # main, then no-match in main
    ],
)
def test_parallel_edges_are_told_apart_by_their_cause(
    make_menu: Callable[..., Menu], engine_edges: Counter[Edge], script: str
) -> None:
    menu = make_menu(GOTO_MENU)
    coverage = Coverage(menu)
    coverage.add_call(run_script(menu, script).events)
    assert coverage.unexplained == []
    assert coverage.taken == engine_edges


def test_a_call_log_counts_like_the_events(tmp_path: Path, make_menu: Callable[..., Menu]) -> None:
    menu = make_menu(GOTO_MENU)
    log_path = tmp_path / "call.jsonl"
    log = CallLog(log_path)
    recording = run_script(menu, "11!#2!9_9", listeners=(log,))
    log.close()
    from_events, from_log = Coverage(menu), Coverage(menu)
    from_events.add_call(recording.events)
    lines = log_path.read_text(encoding="utf-8").splitlines()
    from_log.add_records(json.loads(line) for line in lines)
    assert from_log.taken == from_events.taken and from_log.taken
    assert from_log.entered == from_events.entered
    assert from_log.errors == from_events.errors


# --- reports ----------------------------------------------------------------------------


def one_call(wallet: Menu, script: str) -> Coverage:
    coverage = Coverage(wallet)
    coverage.add_call(run_script(wallet, script).events)
    return coverage


def test_the_mermaid_diagram_marks_covered_edges(wallet: Menu) -> None:
    text = one_call(wallet, "11").mermaid()
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    links = [line.strip() for line in lines if re.search(r" (==>|-\.->)\|", line)]
    assert 'n_main ==>|"1"| n_account' in links
    assert 'n_account ==>|"1"| n_registration' in links
    assert 'n_registration ==>|"done"| n_account' in links
    assert 'n_account ==>|"abandoned"| n_end_abandoned' in links  # taken: drawn
    assert 'n_main -.->|"2"| n_transactions' in links
    assert 'n_registration -.->|"#35; back"| n_account' in links
    assert not any("-->" in link and "shortcut" in link for link in links)
    thick = [i for i, link in enumerate(links) if "==>" in link]
    (taken_style,) = [line for line in lines if "stroke-width:3px" in line]
    assert taken_style.strip().startswith(f"linkStyle {','.join(map(str, thick))} ")
    (covered,) = [line for line in lines if line.strip().endswith(" covered")]
    assert "n_main" in covered and "n_registration" in covered and "n_end_abandoned" in covered
    (uncovered,) = [line for line in lines if line.strip().endswith(" uncovered")]
    assert "n_transactions" in uncovered and "n_main" not in uncovered
    assert 'n_main["主菜单<br/><small>main</small>"]' in text
    assert 'n_registration("账户注册<br/><small>registration</small>")' in text  # an answer
    assert 'n_password_recovery[["找回密码<br/><small>password_recovery</small>"]]' in text
    assert not re.search(r'\|"#(?!35;)', text)  # '#' is written as an entity in labels


def test_the_diagram_counts_repeated_edges(wallet: Menu) -> None:
    text = one_call(wallet, "11!1!1").mermaid()
    assert 'n_account ==>|"1 ×3"| n_registration' in text


def test_the_table_and_markdown_show_the_figures(wallet_coverage: Coverage) -> None:
    console = Console(width=200, record=True)
    console.print(wallet_coverage.table())
    text = console.export_text()
    assert "Coverage of wallet.zh-CN.yaml" in text
    assert re.search(r"select edges\s+│\s+│\s+45/45\s+│\s+100 %", text), text
    markdown = wallet_coverage.markdown()
    assert "| finish edges | 27 | 27 | 100 % |" in markdown
    assert "```mermaid\nflowchart TD" in markdown


def test_write_coverage_md_and_one_mmd_per_menu(tmp_path: Path) -> None:
    results = run_scenarios(
        [
            CALLS / "wallet" / "agent-main.call.yaml",
            CALLS / "korean" / "say-agent-transfers.call.yaml",
        ]
    )
    reports = list(coverage_by_menu([r for r in results if r.events]).values())
    (md,) = write_coverage(reports, tmp_path / "out" / "coverage.md")
    assert md.read_text(encoding="utf-8").startswith("# Call coverage\n")
    written = write_coverage(reports, tmp_path / "coverage.mmd")
    assert len(written) == len(reports)
    for path in written:
        assert path.read_text(encoding="utf-8").startswith("flowchart TD\n")
    if len(reports) == 2:
        assert sorted(p.name for p in written) == [
            "coverage.korean.ko-KR.mmd",
            "coverage.wallet.zh-CN.mmd",
        ]


def test_an_unknown_move_is_reported_not_counted(wallet: Menu) -> None:
    coverage = Coverage(wallet)
    coverage.add_call(
        [CallEvent(EventType.CALL_START, "account"), CallEvent(EventType.STATE, "refund")]
    )
    assert coverage.unexplained == ["account -> refund"]
    assert not coverage.taken
    assert coverage.entered["refund"] == 1
