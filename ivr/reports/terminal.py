"""The report as rich tables on the terminal: headline figures, the queue, the funnel and
every node."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ivr.reports.summary import SERVICE_SECONDS, NodeFigures, Summary

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table


def share(part: float | None, whole: float | None = None) -> str:
    """``part`` as a percentage (of ``whole`` if given); "–" when undefined."""
    if part is None or (whole is not None and not whole):
        return "–"
    value = part / whole if whole is not None else part
    return f"{100 * value:.1f} %"


def seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} s"


@dataclass(frozen=True)
class Figure:
    """One headline figure: its text, and the numbers a comparison subtracts (a count of
    calls, a share from 0 to 1, seconds); None where the figure has no such number."""

    name: str
    text: str
    count: int | None = None
    rate: float | None = None
    seconds: float | None = None


def figures(s: Summary) -> list[Figure]:
    """The figures at the top of both the terminal and the HTML report."""
    q = s.queue
    without_end = f" ({s.calls - s.ended:,} without an end)" if s.calls != s.ended else ""

    def counted(name: str, count: int, whole: int) -> Figure:
        rate = count / whole if whole else None
        return Figure(name, f"{count:,} ({share(rate)})", count, rate)

    rows = [
        Figure("calls", f"{s.calls:,}{without_end}", s.calls),
        Figure(
            "containment (ended without an agent)",
            f"{share(s.containment)} ({s.contained:,})",
            s.contained,
            s.containment,
        ),
    ]
    rows += [counted(f"outcome: {o}", n, s.ended) for o, n in s.outcomes.items()]
    rows += [counted(f"transfers: {r}", n, s.calls) for r, n in s.transfers.items()]
    rows.append(counted("abandoned in the menu", s.abandoned_in_menu, s.calls))
    if q.offered or q.closed or q.full:
        rows += [
            Figure("queue: offered to the agents", f"{q.offered:,}", q.offered),
            Figure("queue: answered at once", f"{q.answered_at_once:,}", q.answered_at_once),
            Figure("queue: entered (waited)", f"{q.entered:,}", q.entered),
            counted("queue: answered", q.answered, q.offered),
            counted("queue: abandoned", q.abandoned, q.offered),
            counted("queue: callback", q.callback, q.offered),
            Figure("queue: refused as closed", f"{q.closed:,}", q.closed),
            Figure("queue: refused as full", f"{q.full:,}", q.full),
            Figure("queue: average wait", seconds(q.average_wait), seconds=q.average_wait),
            Figure(
                "queue: average speed of answer",
                seconds(q.average_answer),
                seconds=q.average_answer,
            ),
            Figure(
                f"service level (answered within {SERVICE_SECONDS:g} s)",
                share(q.service_level),
                rate=q.service_level,
            ),
        ]
    if s.transfers_without_queue:
        n = s.transfers_without_queue
        rows.append(Figure("transfers without queue data", f"{n:,}", n))
    return rows


def headline(s: Summary) -> list[tuple[str, str]]:
    """The headline figures as (name, value)."""
    return [(f.name, f.text) for f in figures(s)]


def difference(first: Figure | None, second: Figure | None) -> str:
    """How ``second`` differs from ``first``: calls (signed), a share in percentage points,
    seconds; "–" when the two have no number in common."""
    if first is None or second is None:
        return "–"
    parts = []
    if first.count is not None and second.count is not None:
        parts.append(f"{second.count - first.count:+,}")
    if first.rate is not None and second.rate is not None:
        points = f"{100 * (second.rate - first.rate):+.1f} pp"
        parts.append(f"({points})" if parts else points)
    if first.seconds is not None and second.seconds is not None:
        parts.append(f"{second.seconds - first.seconds:+.1f} s")
    return " ".join(parts) or "–"


def side_by_side(reports: Sequence[tuple[str, Summary]]) -> list[tuple[str, list[str], str]]:
    """Every headline figure of any report: (name, its text in each report or ``-``, the
    difference of the last report from the first)."""
    columns = [{f.name: f for f in figures(summary)} for _, summary in reports]
    names = list(dict.fromkeys(name for column in columns for name in column))
    return [
        (
            name,
            [column[name].text if name in column else "-" for column in columns],
            difference(columns[0].get(name), columns[-1].get(name)),
        )
        for name in names
    ]


def print_report(s: Summary, console: Console) -> None:
    from rich.table import Table

    top = Table(title=f"Call logs: {s.files:,} files, {s.calls:,} calls", show_header=False)
    top.add_column("figure")
    top.add_column("value", justify="right")
    for name, value in headline(s):
        top.add_row(name, value)
    console.print(top)

    funnel = Table(title=f"Funnel from {s.start or 'the start'}")
    funnel.add_column("level", justify="right")
    funnel.add_column("calls", justify="right")
    funnel.add_column("share", justify="right")
    funnel.add_column("nodes (share of calls)")
    for level in s.funnel:
        members = ", ".join(f"{n} {share(c, s.calls)}" for n, c in level.nodes[:6])
        more = f" +{len(level.nodes) - 6}" if len(level.nodes) > 6 else ""
        funnel.add_row(
            str(level.level), f"{level.calls:,}", share(level.calls, s.calls), members + more
        )
    console.print(funnel)

    nodes = Table(title="Nodes")
    for name in NODE_COLUMNS:
        nodes.add_column(name, justify="left" if name == "node" else "right")
    for n in s.nodes:
        nodes.add_row(*node_cells(n, s.calls, f"{n.node} {n.title}".strip()))
    console.print(nodes)


NODE_COLUMNS = ("level", "node", "reached", "p50", "p90", "visits", "no-input", "no-match",
                "abandoned")  # fmt: skip
"""The node table's columns, in the terminal and the HTML report alike."""


def node_cells(n: NodeFigures, calls: int, label: str) -> tuple[str, ...]:
    """One node's row of the node table (`NODE_COLUMNS`); ``label`` names the node."""
    return (
        "–" if n.level is None else str(n.level),
        label,
        share(n.reached, calls),
        seconds(n.p50),
        seconds(n.p90),
        f"{n.visits:,}",
        share(n.no_input_rate),
        share(n.no_match_rate),
        f"{n.abandoned:,}",
    )


def print_comparison(reports: Sequence[tuple[str, Summary]], console: Console) -> None:
    """The headline figures of two (or more) sets of logs side by side, one column each
    and the difference of the last from the first (`side_by_side`); a figure one set does
    not have is ``-``; then every node's figures (`node_comparison`). ``ivr report
    --compare`` and ``ivr simulate --compare`` both print this."""
    from rich.table import Table

    table = Table(title="Side by side")
    table.add_column("figure")
    for name, _ in reports:
        table.add_column(name, justify="right")
    table.add_column("difference", justify="right")
    for name, values, change in side_by_side(reports):
        table.add_row(name, *values, change)
    console.print(table)
    console.print(node_comparison(reports))


NODE_FIGURES = {
    "reached": "reached %",
    "p50": "p50 s",
    "abandoned": "abandoned %",
    "no-input": "no-input %",
    "no-match": "no-match %",
}
"""Each node's figures side by side (name: column title): the share of calls reaching it,
the median time to reach it, the share of those the caller ended there (outside the
queue), no-input and no-match per visit."""


def _number(value: float | None, scale: float = 1.0) -> str:
    return "–" if value is None else f"{scale * value:.1f}"


def node_figures(s: Summary) -> dict[str, dict[str, str]]:
    """Every visited node's `NODE_FIGURES` of one report, as plain numbers, by node id."""
    return {
        n.node: {
            "reached": _number(n.reached / s.calls if s.calls else None, 100),
            "p50": _number(n.p50),
            "abandoned": _number(n.abandoned / n.reached if n.reached else None, 100),
            "no-input": _number(n.no_input_rate, 100),
            "no-match": _number(n.no_match_rate, 100),
        }
        for n in s.nodes
        if n.visits
    }


def node_rows(reports: Sequence[tuple[str, Summary]]) -> list[tuple[str, list[str]]]:
    """Per node, each of `NODE_FIGURES` with every report's value in one cell, in the
    reports' order (``34.3 → 30.1``): the node ids of the first report's order, then those
    only the others have; a report that never visits a node has ``-`` there."""
    per_report = [node_figures(summary) for _, summary in reports]
    order = list(dict.fromkeys(node for figures in per_report for node in figures))
    return [
        (
            node,
            [
                " → ".join(figures.get(node, {}).get(figure, "-") for figures in per_report)
                for figure in NODE_FIGURES
            ],
        )
        for node in order
    ]


def node_comparison(reports: Sequence[tuple[str, Summary]]) -> Table:
    """`node_rows` as a table, narrow enough for a terminal."""
    from rich.table import Table

    table = Table(title="Side by side, per node (" + " → ".join(n for n, _ in reports) + ")")
    table.add_column("node")
    for title in NODE_FIGURES.values():
        table.add_column(title, justify="right")
    for node, cells in node_rows(reports):
        table.add_row(node, *cells)
    return table
