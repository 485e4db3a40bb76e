"""The report as one self-contained HTML file: the headline figures, charts drawn by
matplotlib (embedded PNG), the menu heat map laid out by Graphviz (inline SVG) and the node
table; with ``--compare``, the other logs beside these (figures, nodes and paired charts),
since a designer who changed the menu wants to see the difference where they read the rest.
No script, no stylesheet or font from elsewhere: it opens offline, as one file."""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ivr.reports.summary import NodeFigures, Summary
from ivr.reports.terminal import (
    NODE_COLUMNS,
    NODE_FIGURES,
    headline,
    node_cells,
    node_rows,
    side_by_side,
)

if TYPE_CHECKING:
    from ivr.menu.model import Menu

CJK_FONTS = ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC")
"""Fonts with Chinese glyphs, in order of preference (scripts/setup installs the first)."""
_FONT_FILES = ("/usr/share/fonts/truetype/wqy", "/usr/share/fonts/opentype/noto")


def _pyplot() -> Any:
    """matplotlib's pyplot without a display, with a CJK font first if one is installed
    (added by file when matplotlib's font cache predates it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    known = {f.name for f in font_manager.fontManager.ttflist}
    if not known & set(CJK_FONTS):
        for folder in _FONT_FILES:
            for path in sorted(Path(folder).glob("*.tt[cf]")) + sorted(Path(folder).glob("*CJK*")):
                font_manager.fontManager.addfont(str(path))
        known = {f.name for f in font_manager.fontManager.ttflist}
    fonts = [name for name in CJK_FONTS if name in known]
    plt.rcParams["font.sans-serif"] = [*fonts, "DejaVu Sans"]
    plt.rcParams["axes.unicode_minus"] = False
    return plt


def _png(draw: Callable[[Any, Any], None], height: float = 3.2) -> str:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, height), dpi=100)
    try:
        draw(figure, axes)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    finally:
        plt.close(figure)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="" src="data:image/png;base64,{data}">'


def _label(s: Summary, node: str) -> str:
    title = next((n.title for n in s.nodes if n.node == node), "")
    return f"{title} ({node})" if title else node


def _any_label(summaries: Sequence[Summary], node: str) -> str:
    """The node with its title from the first report whose menu names it."""
    for s in summaries:
        titled = _label(s, node)
        if titled != node:
            return titled
    return node


def charts(s: Summary) -> list[tuple[str, str]]:
    """(title, <img>) for each chart that has data."""
    found = []
    if s.funnel:

        def funnel(_: Any, ax: Any) -> None:
            levels = [f"level {f.level}" for f in s.funnel]
            values = [100 * f.calls / s.calls for f in s.funnel]
            ax.barh(levels[::-1], values[::-1], color="#fd8d3c")
            ax.set_xlabel("% of calls reaching the level (deepest node)")
            ax.set_xlim(0, 100)
            for y, v in enumerate(values[::-1]):
                ax.text(v + 1, y, f"{v:.1f} %", va="center")

        found.append(("Path funnel from the start", _png(funnel, 0.6 * len(s.funnel) + 1.2)))
    if s.outcomes:

        def outcomes(_: Any, ax: Any) -> None:
            names = list(s.outcomes)
            ax.bar(names, [s.outcomes[n] for n in names], color="#6baed6")
            ax.set_ylabel("calls")

        found.append(("How calls ended", _png(outcomes, 2.8)))
    leaves = [n for n in s.nodes if n.p50 is not None and n.node != s.start and n.reached]
    leaves = sorted(leaves, key=lambda n: -n.reached)[:20]
    if leaves:

        def reach(_: Any, ax: Any) -> None:
            labels = [_label(s, n.node) for n in leaves][::-1]
            ax.barh(labels, [n.p90 or 0 for n in leaves][::-1], color="#c6dbef", label="p90")
            ax.barh(labels, [n.p50 or 0 for n in leaves][::-1], color="#2171b5", label="p50")
            ax.set_xlabel("seconds from the start of the call to the first entry")
            ax.legend()

        found.append(
            ("Time to reach each node (most visited)", _png(reach, 0.3 * len(leaves) + 1.2))
        )
    failing = [n for n in s.nodes if n.visits and (n.no_input or n.no_match)]
    failing = sorted(failing, key=lambda n: -(n.no_input + n.no_match) / n.visits)[:15]
    if failing:

        def rates(_: Any, ax: Any) -> None:
            labels = [_label(s, n.node) for n in failing][::-1]
            ax.barh(
                labels,
                [100 * (n.no_input_rate or 0) for n in failing][::-1],
                color="#9e9ac8",
                label="no-input",
            )
            ax.barh(labels, [100 * (n.no_match_rate or 0) for n in failing][::-1],
                    left=[100 * (n.no_input_rate or 0) for n in failing][::-1],
                    color="#ef6548", label="no-match")  # fmt: skip
            ax.set_xlabel("events per visit (%)")
            ax.legend()

        found.append(("No-input and no-match per visit", _png(rates, 0.3 * len(failing) + 1.2)))
    return found


PAIR_COLOURS = ("#9ecae1", "#08519c")
"""The first set of logs light, the compared set dark, in every paired chart."""


def _paired(
    reports: Sequence[tuple[str, Summary]],
    labels: list[str],
    values: list[list[float]],
    axis: str,
) -> str:
    """Horizontal bars, one pair (or group) per label, one colour per report."""
    count = len(reports)
    height = 0.8 / count

    def draw(_: Any, ax: Any) -> None:
        rows = range(len(labels))
        for index, ((name, _summary), row) in enumerate(zip(reports, values, strict=True)):
            offset = (count - 1 - index) * height - 0.4 + height / 2
            ax.barh(
                [len(labels) - 1 - y + offset for y in rows],
                row,
                height=height,
                color=PAIR_COLOURS[index % len(PAIR_COLOURS)],
                label=name,
            )
        ax.set_yticks([len(labels) - 1 - y for y in rows], labels)
        ax.set_xlabel(axis)
        # above the bars, never over them
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=count, frameon=False)

    return _png(draw, 0.22 * count * len(labels) + 1.7)


def comparison_charts(reports: Sequence[tuple[str, Summary]]) -> list[tuple[str, str]]:
    """(title, <img>) of the charts that put the sets of logs next to each other: how calls
    ended, the time to reach each node and where callers hung up, in paired bars."""
    found = []
    summaries = [summary for _, summary in reports]
    outcomes = list(dict.fromkeys(o for s in summaries for o in s.outcomes))
    if outcomes:
        values = [
            [100 * s.outcomes.get(o, 0) / (s.ended or 1) for o in outcomes] for s in summaries
        ]
        chart = _paired(reports, outcomes, values, "% of the calls that ended")
        found.append(("How calls ended, side by side", chart))

    def by_node(
        pick: Callable[[Summary, str], float | None], nodes: list[str]
    ) -> list[list[float]]:
        return [[pick(s, node) or 0.0 for node in nodes] for s in summaries]

    def figures_of(s: Summary, node: str) -> NodeFigures | None:
        return next((n for n in s.nodes if n.node == node), None)

    def label(node: str) -> str:
        return _any_label(summaries, node)

    reach: dict[str, int] = {}
    for s in summaries:
        for n in s.nodes:
            if n.p50 is not None and n.node != s.start and n.reached:
                reach[n.node] = max(reach.get(n.node, 0), n.reached)
    timed = sorted(reach, key=lambda node: -reach[node])[:20]
    if timed:

        def p50(s: Summary, node: str) -> float | None:
            n = figures_of(s, node)
            return None if n is None else n.p50

        axis = "seconds from the start of the call to the first entry (p50)"
        chart = _paired(reports, [label(n) for n in timed], by_node(p50, timed), axis)
        found.append(("Time to reach each node, side by side (median)", chart))
    dropping: dict[str, float] = {}
    for s in summaries:
        for n in s.nodes:
            if n.reached and n.abandoned:
                dropping[n.node] = max(dropping.get(n.node, 0.0), n.abandoned / n.reached)
    dropped = sorted(dropping, key=lambda node: -dropping[node])[:20]
    if dropped:

        def hung_up(s: Summary, node: str) -> float | None:
            n = figures_of(s, node)
            return 100 * n.abandoned / n.reached if n is not None and n.reached else None

        axis = "% of the calls reaching the node that the caller ended there"
        labels = [label(n) for n in dropped]
        chart = _paired(reports, labels, by_node(hung_up, dropped), axis)
        found.append(("Drop-off per node, side by side", chart))
    return found


def comparison(reports: Sequence[tuple[str, Summary]]) -> list[str]:
    """The HTML of the side-by-side section: the headline figures of each set and the
    difference, every node's figures (``A → B``, as the terminal prints them) and the
    paired charts."""
    esc = html.escape
    names = [name for name, _ in reports]
    head = "".join(f"<th>{esc(h)}</th>" for h in ("figure", *names, "difference"))
    rows = "".join(
        f"<tr><th>{esc(name)}</th>"
        + "".join(f"<td>{esc(v)}</td>" for v in (*values, change))
        + "</tr>"
        for name, values, change in side_by_side(reports)
    )
    summaries = [summary for _, summary in reports]
    node_head = "".join(f"<th>{esc(h)}</th>" for h in ("node", *NODE_FIGURES.values()))
    node_body = "".join(
        f"<tr><th>{esc(_any_label(summaries, node))}</th>"
        + "".join(f"<td>{esc(cell)}</td>" for cell in cells)
        + "</tr>"
        for node, cells in node_rows(reports)
    )
    parts = [
        f"<h2>Side by side: {esc(' → '.join(names))}</h2>",
        f'<table class="figures compare"><tr>{head}</tr>{rows}</table>',
        f"<h2>Side by side, per node ({esc(' → '.join(names))})</h2>",
        f'<table class="figures compare"><tr>{node_head}</tr>{node_body}</table>',
    ]
    for title, image in comparison_charts(reports):
        parts += [f"<h2>{esc(title)}</h2>", image]
    return parts


def heat_svg(menu: Menu, s: Summary) -> str:
    """The heat map laid out by Graphviz's ``dot``, as inline SVG (no XML prolog, doctype
    or namespace URLs)."""
    from ivr.outputs.menu_map import svg
    from ivr.reports.heatmap import heat_diagram

    return strip_svg(svg(heat_diagram(menu, s).dot()))


def page(
    s: Summary,
    heat: str | None,
    problems: list[str],
    compared: Sequence[tuple[str, Summary]] = (),
) -> str:
    """The whole HTML document; ``compared``: every set of logs by name, these first, for
    the side-by-side section (empty: none). The heat map and the rest are these logs'."""
    esc = html.escape
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in headline(s))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN"><head><meta charset="utf-8">',
        "<title>ivr report</title>",
        f"<style>{_STYLE}</style></head><body>",
    ]
    if len(compared) > 1:
        names = " compared with ".join(esc(name) for name, _ in compared)
        parts += [f"<h1>Call logs: {names}</h1>", *comparison(compared)]
        parts.append(f"<h1>{esc(compared[0][0])}: {s.files:,} files, {s.calls:,} calls</h1>")
    else:
        parts.append(f"<h1>Call logs: {s.files:,} files, {s.calls:,} calls</h1>")
    parts.append(f'<table class="figures">{rows}</table>')
    if problems:
        items = "".join(f"<li>{esc(p)}</li>" for p in problems)
        parts.append(f'<h2>Lines not read</h2><ul class="problems">{items}</ul>')
    if heat:
        parts += ["<h2>The menu: traffic and drop-off</h2>", f'<div class="map">{heat}</div>']
    for title, image in charts(s):
        parts += [f"<h2>{esc(title)}</h2>", image]
    head = "".join(f"<th>{h}</th>" for h in NODE_COLUMNS)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{esc(cell)}</td>"
            for cell in node_cells(n, s.calls, f"{n.title} ({n.node})" if n.title else n.node)
        )
        + "</tr>"
        for n in s.nodes
    )
    parts += ["<h2>Nodes</h2>", f'<table class="nodes"><tr>{head}</tr>{body}</table>']
    parts.append(f'<p class="note">Computed in {s.seconds:.2f} s by ivr report.</p></body></html>')
    return "\n".join(parts) + "\n"


_STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:70em}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}"
    ".figures td{text-align:right}.map svg{max-width:100%;height:auto}"
    ".problems{color:#b71c1c}.note{color:#777}"
)


def strip_svg(text: str) -> str:
    """Graphviz's SVG as an inline element: from ``<svg`` on, without comments or the
    namespace declarations (HTML puts ``<svg>`` in its namespace by itself)."""
    text = text[text.find("<svg") :]
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    return re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", text)
