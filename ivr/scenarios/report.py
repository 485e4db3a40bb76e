"""Reports of scenario results: the terminal table, the summary, JUnit XML, and ``ivr test``.

run_cli is what the ``ivr test`` command does: run with a progress bar, show the table and
the failures, write the JUnit XML and the coverage reports.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from xml.etree import ElementTree

from ivr.menu.problems import printable
from ivr.outputs.paths import write_replacing
from ivr.scenarios.loading import find_scenarios
from ivr.scenarios.model import SUFFIX, ScenarioResult, Status
from ivr.scenarios.running import LineModel, run_scenarios

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from ivr.scenarios.coverage import Coverage


def summary_line(results: Sequence[ScenarioResult]) -> str:
    """``12 passed, 1 failed, 2 skipped in 0.31 s (call time 1,234 s)``."""
    counts = Counter(result.status for result in results)
    parts = [f"{counts[Status.PASSED]} passed", f"{counts[Status.FAILED]} failed"]
    if counts[Status.SKIPPED]:
        parts.append(f"{counts[Status.SKIPPED]} skipped")
    if counts[Status.ERROR]:
        parts.append(f"{counts[Status.ERROR]} errors")
    wall = sum(result.wall for result in results)
    call = sum(result.duration for result in results)
    return f"{', '.join(parts)} in {wall:.2f} s (call time {call:,.0f} s)"


_MARKS = {
    Status.PASSED: "[green]✓ passed[/]",
    Status.FAILED: "[red]✗ failed[/]",
    Status.SKIPPED: "[yellow]– skipped[/]",
    Status.ERROR: "[red]! error[/]",
}


def results_table(results: Sequence[ScenarioResult], *, title: str = "Call scenarios") -> Table:
    """A rich table: one row per scenario, with the first failure or the skip reason."""
    from rich.markup import escape
    from rich.table import Table

    notes = [_note(result) for result in results]
    table = Table(title=title, title_justify="left")
    table.add_column("", no_wrap=True)
    table.add_column("scenario", ratio=2, overflow="fold")
    table.add_column("turns", justify="right")
    table.add_column("outcome")
    table.add_column("call", justify="right", no_wrap=True)
    table.add_column("wall", justify="right", no_wrap=True)
    if any(notes):
        table.add_column("note", ratio=3, overflow="fold")
    for result, note in zip(results, notes, strict=True):
        cells = [
            _MARKS[result.status],
            f"{escape(printable(result.name))}\n[dim]{escape(printable(result.path.name))}[/]",
            str(result.turns),
            str(result.outcome or ""),
            f"{result.duration:.1f} s",
            f"{result.wall * 1000:.0f} ms",
        ]
        table.add_row(*cells, *([escape(printable(note))] if any(notes) else []))
    return table


def _note(result: ScenarioResult) -> str:
    if result.status is Status.SKIPPED:
        return printable(result.reason)
    if result.failures:
        extra = len(result.failures) - 1
        return printable(str(result.failures[0])) + (f" (+{extra} more)" if extra else "")
    if result.status is Status.ERROR:
        return "; ".join(result.failure_lines()[:2])
    return ""


def write_junit(results: Sequence[ScenarioResult], path: str | Path) -> None:
    """JUnit XML for CI tools: one testcase per scenario; failure, error or skipped in it."""
    counts = Counter(result.status for result in results)
    total_wall = sum(result.wall for result in results)
    suites = ElementTree.Element(
        "testsuites",
        name="ivr call scenarios",
        tests=str(len(results)),
        failures=str(counts[Status.FAILED]),
        errors=str(counts[Status.ERROR]),
        skipped=str(counts[Status.SKIPPED]),
        time=f"{total_wall:.3f}",
    )
    suite = ElementTree.SubElement(
        suites,
        "testsuite",
        name="ivr.scenarios",
        tests=str(len(results)),
        failures=str(counts[Status.FAILED]),
        errors=str(counts[Status.ERROR]),
        skipped=str(counts[Status.SKIPPED]),
        time=f"{total_wall:.3f}",
    )
    for result in results:
        case = ElementTree.SubElement(
            suite,
            "testcase",
            classname=_classname(result.path),
            name=result.name,
            file=str(result.path),
            time=f"{result.wall:.3f}",
        )
        if result.status is Status.FAILED:
            first = result.failures[0]
            failure = ElementTree.SubElement(
                case, "failure", message=str(first), type="ScenarioFailure"
            )
            failure.text = result.explain()
        elif result.status is Status.ERROR:
            error = ElementTree.SubElement(
                case, "error", message=result.reason or "error", type="ScenarioError"
            )
            error.text = "\n".join(result.failure_lines())
        elif result.status is Status.SKIPPED:
            ElementTree.SubElement(case, "skipped", message=result.reason)
        if result.events:
            out = ElementTree.SubElement(case, "system-out")
            out.text = f"call time {result.duration:.1f} s, outcome {result.outcome}\n" + "\n".join(
                json.dumps(record, ensure_ascii=False) for record in result.records
            )
    for element in suites.iter():  # names, messages and calls may hold anything
        element.attrib = {key: xml_text(value) for key, value in element.attrib.items()}
        element.text = xml_text(element.text) if element.text else element.text
    tree = ElementTree.ElementTree(suites)
    ElementTree.indent(tree)
    write_replacing(  # whole or not at all: CI parses it
        Path(path), lambda target: tree.write(str(target), encoding="utf-8", xml_declaration=True)
    )


_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""Characters XML 1.0 forbids (most controls, lone surrogates, U+FFFE/U+FFFF)."""


def xml_text(text: str) -> str:
    """``text`` with each character XML 1.0 forbids written as its escape (\\x1b), so
    the JUnit file always parses; ElementTree escapes only & < > and quotes."""
    return _NOT_XML.sub(lambda found: found[0].encode("unicode_escape").decode("ascii"), text)


def _classname(path: Path) -> str:
    """``tests/calls/wallet/x.call.yaml`` -> ``tests.calls.wallet`` (CI tools group by it)."""
    try:
        relative = path.resolve().relative_to(Path.cwd())
    except ValueError:
        relative = path
    parts = relative.parent.parts
    return ".".join(part for part in parts if part not in ("/", "..", ".")) or "scenarios"


def run_cli(
    paths: Sequence[str | Path],
    *,
    junit: Path | None = None,
    coverage: Path | None = None,
    out: Console,
    err: Console,
    line: LineModel | None = None,
    artifacts: Path | None = None,
    model: str | None = None,
) -> int:
    """What ``ivr test`` does: run, show a progress bar and the table, write reports.

    Returns the exit status: 0 if nothing failed (skips are fine), 1 otherwise.
    """
    from rich.markup import escape
    from rich.progress import Progress

    files = find_scenarios(paths)
    if not files:
        where = ", ".join(str(p) for p in paths)
        err.print(f"ivr test: no {SUFFIX} files in {where}", markup=False)
        return 1
    with Progress(console=out, transient=True) as bar:
        task = bar.add_task("calls", total=len(files))

        def advance(done: int, total: int, result: ScenarioResult) -> None:
            bar.update(task, completed=done, description=escape(printable(result.name)))

        results = run_scenarios(files, advance, line=line, artifacts=artifacts, model=model)
    out.print(results_table(results))
    for result in results:
        if result.status in (Status.FAILED, Status.ERROR):
            for failure in result.failure_lines():
                err.print(failure, markup=False, highlight=False)
    if junit is not None:
        write_junit(results, junit)
        out.print(f"JUnit XML: {junit}", markup=False)
    if coverage is not None:
        from ivr.scenarios.coverage import coverage_by_menu, write_coverage

        covered: list[Coverage] = list(coverage_by_menu(results).values())
        for report in covered:
            out.print(report.table())
        for written in write_coverage(covered, coverage):
            out.print(f"coverage diagram: {written}", markup=False)
    out.print(summary_line(results), markup=False, highlight=False)
    failed = any(result.status in (Status.FAILED, Status.ERROR) for result in results)
    return 1 if failed else 0
