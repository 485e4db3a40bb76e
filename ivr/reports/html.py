"""The report as one self-contained HTML file: the headline figures, charts drawn by
matplotlib (embedded PNG), the menu heat map laid out by Graphviz (inline SVG) and the node
table. No script, no stylesheet or font from elsewhere: it opens offline, as one file."""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ivr.reports.summary import Summary
from ivr.reports.terminal import headline, seconds, share

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


def heat_svg(menu: Menu, s: Summary) -> str:
    """The heat map laid out by Graphviz's ``dot``, as inline SVG (no XML prolog, doctype
    or namespace URLs)."""
    from ivr.outputs.menu_map import svg
    from ivr.reports.heatmap import heat_diagram

    return strip_svg(svg(heat_diagram(menu, s).dot()))


def page(s: Summary, heat: str | None, problems: list[str]) -> str:
    """The whole HTML document."""
    esc = html.escape
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in headline(s))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN"><head><meta charset="utf-8">',
        "<title>ivr report</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Call logs: {s.files:,} files, {s.calls:,} calls</h1>",
        f'<table class="figures">{rows}</table>',
    ]
    if problems:
        items = "".join(f"<li>{esc(p)}</li>" for p in problems)
        parts.append(f'<h2>Lines not read</h2><ul class="problems">{items}</ul>')
    if heat:
        parts += ["<h2>The menu: traffic and drop-off</h2>", f'<div class="map">{heat}</div>']
    for title, image in charts(s):
        parts += [f"<h2>{esc(title)}</h2>", image]
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "level",
            "node",
            "reached",
            "p50",
            "p90",
            "visits",
            "no-input",
            "no-match",
            "hung up",
        )
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{esc(str(cell))}</td>"
            for cell in (
                "–" if n.level is None else n.level,
                f"{n.title} ({n.node})" if n.title else n.node,
                share(n.reached, s.calls),
                seconds(n.p50),
                seconds(n.p90),
                f"{n.visits:,}",
                share(n.no_input_rate),
                share(n.no_match_rate),
                f"{n.abandoned:,}",
            )
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
