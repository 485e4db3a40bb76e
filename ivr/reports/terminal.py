"""The report as rich tables on the terminal: headline figures, the queue, the funnel and
every node."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ivr.reports.summary import SERVICE_SECONDS, Summary

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


def headline(s: Summary) -> list[tuple[str, str]]:
    """The figures at the top of both the terminal and the HTML report, as (name, value)."""
    q = s.queue
    without_end = f" ({s.calls - s.ended:,} without an end)" if s.calls != s.ended else ""
    rows = [
        ("calls", f"{s.calls:,}{without_end}"),
        ("containment (ended without an agent)", f"{share(s.containment)} ({s.contained:,})"),
    ]
    rows += [(f"outcome: {o}", f"{n:,} ({share(n, s.ended)})") for o, n in s.outcomes.items()]
    rows += [(f"transfers: {r}", f"{n:,} ({share(n, s.calls)})") for r, n in s.transfers.items()]
    abandoned = s.abandoned_in_menu
    rows.append(("abandoned in the menu", f"{abandoned:,} ({share(abandoned, s.calls)})"))
    if q.offered or q.closed or q.full:
        rows += [
            ("queue: offered to the agents", f"{q.offered:,}"),
            ("queue: answered at once", f"{q.answered_at_once:,}"),
            ("queue: entered (waited)", f"{q.entered:,}"),
            ("queue: answered", f"{q.answered:,} ({share(q.answered, q.offered)})"),
            ("queue: abandoned", f"{q.abandoned:,} ({share(q.abandoned, q.offered)})"),
            ("queue: callback", f"{q.callback:,} ({share(q.callback, q.offered)})"),
            ("queue: refused (closed / full)", f"{q.closed:,} / {q.full:,}"),
            ("queue: average wait", seconds(q.average_wait)),
            ("queue: average speed of answer", seconds(q.average_answer)),
            (f"service level (answered within {SERVICE_SECONDS:g} s)", share(q.service_level)),
        ]
    if s.transfers_without_queue:
        rows.append(("transfers without queue data", f"{s.transfers_without_queue:,}"))
    return rows


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
    for name in (
        "level",
        "node",
        "reached",
        "p50",
        "p90",
        "visits",
        "no-input",
        "no-match",
        "abandoned",
    ):
        nodes.add_column(name, justify="left" if name == "node" else "right")
    for n in s.nodes:
        label = f"{n.node} {n.title}".strip()
        nodes.add_row(
            "–" if n.level is None else str(n.level),
            label,
            share(n.reached, s.calls),
            seconds(n.p50),
            seconds(n.p90),
            f"{n.visits:,}",
            share(n.no_input_rate),
            share(n.no_match_rate),
            f"{n.abandoned:,}",
        )
    console.print(nodes)


def print_comparison(reports: list[tuple[str, Summary]], console: Console) -> None:
    """The headline figures of two (or more) sets of logs side by side, one column each; a
    figure one set does not have is ``-``; then every node's figures (`node_comparison`)."""
    from rich.table import Table

    table = Table(title="Side by side")
    table.add_column("figure")
    columns = [dict(headline(summary)) for _, summary in reports]
    for name, _ in reports:
        table.add_column(name, justify="right")
    names = list(dict.fromkeys(name for figures in columns for name in figures))
    for name in names:
        table.add_row(name, *[figures.get(name, "-") for figures in columns])
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


def node_comparison(reports: list[tuple[str, Summary]]) -> Table:
    """Per node, each figure of every report in one cell, in the reports' order
    (``34.3 → 30.1``): the node ids of the first report's order, then those only the others
    have; a report that never visits a node has ``-`` there. Narrow enough for a terminal."""
    from rich.table import Table

    table = Table(title="Side by side, per node (" + " → ".join(n for n, _ in reports) + ")")
    table.add_column("node")
    for title in NODE_FIGURES.values():
        table.add_column(title, justify="right")
    per_report = [node_figures(summary) for _, summary in reports]
    order = list(dict.fromkeys(node for figures in per_report for node in figures))
    for node in order:
        cells = [
            " → ".join(figures.get(node, {}).get(figure, "-") for figures in per_report)
            for figure in NODE_FIGURES
        ]
        table.add_row(node, *cells)
    return table
