"""The menu as a heat map of the calls: each node filled by the share of calls that reached
it, framed red by the share that hung up there; each edge as thick as its traffic and
labelled with its key and share. Drawn by `ivr.outputs.menu_map` (the diagram of
``ivr graph`` and of coverage), laid out by Graphviz."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ivr.outputs.menu_map import (
    DOTTED,
    SOLID,
    THICK,
    Diagram,
    Edge,
    EdgeKind,
    Link,
    edge_label,
    machine_edges,
)
from ivr.reports.summary import Summary

if TYPE_CHECKING:
    from ivr.menu.model import Menu

HEAT = ("#ffffff", "#fff5eb", "#fee6ce", "#fdd0a2", "#fdae6b", "#fd8d3c", "#f16913", "#d94801")
"""Fill by the share of calls reaching a node: none, then seven steps to all."""
DROP = (("#9e9e9e", "1"), ("#e57373", "2"), ("#c62828", "3"), ("#8e0000", "5"))
"""Frame (colour, width) by the share of the node's callers that hung up there."""
WIDTHS = ("1", "2", "3.5", "5", "7")
"""Edge width by the share of calls taking it."""


def _bucket(value: float, steps: int) -> int:
    return min(steps - 1, int(value * steps)) if value > 0 else 0


def heat_diagram(menu: Menu, s: Summary) -> Diagram:
    from ivr.engine.flow import CallFlow

    declared: dict[tuple[str, str], list[Edge]] = {}
    for edge in machine_edges(CallFlow(menu)):
        declared.setdefault((edge.source, edge.dest), []).append(edge)
    calls = max(s.calls, 1)
    links = []
    for source, dest, count in s.edges:
        if source not in menu.nodes or (dest not in menu.nodes and not dest.startswith("end:")):
            continue
        edges = declared.get((source, dest))
        if edges:
            edge = edges[0]
            label = " / ".join(dict.fromkeys(edge_label(menu, e) for e in edges))
        else:
            kind = "end" if dest.startswith("end:") else "goto"
            edge = Edge(source, f"{kind}:{dest.removeprefix('end:')}", dest)
            label = "" if kind == "end" else "moved"
        share = count / calls
        width = WIDTHS[_bucket(share, len(WIDTHS))]
        arrow = DOTTED if edge.kind is EdgeKind.END else THICK if share >= 0.2 else SOLID
        text = f"{label} · {100 * share:.1f} %".lstrip(" ·")
        links.append(Link(edge, text, arrow, f"w{width}"))
    by_node = {n.node: n for n in s.nodes}
    notes: dict[str, list[str]] = {}
    classes: dict[str, str] = {}
    class_styles: dict[str, str] = {}
    for node_id in menu.nodes:
        n = by_node.get(node_id)
        reached = n.reached / calls if n else 0.0
        dropped = n.abandoned / n.reached if n and n.reached else 0.0
        heat, drop = (
            _bucket(reached, len(HEAT) - 1) + (reached > 0),
            _bucket(dropped * 4, len(DROP)),
        )
        name = f"h{heat}d{drop}"
        colour, width = DROP[drop]
        class_styles[name] = f"fill:{HEAT[heat]},stroke:{colour},stroke-width:{width}px"
        classes[node_id] = name
        if n is None or not n.reached:
            notes[node_id] = ["not reached"]
            continue
        lines = [f"reached {100 * reached:.1f} % · hung up here {100 * dropped:.1f} %"]
        if n.p50 is not None and node_id != s.start:
            lines.append(f"first entry p50 {n.p50:.0f} s · p90 {n.p90 or 0:.0f} s")
        rates = (n.no_input_rate or 0.0, n.no_match_rate or 0.0)
        if any(rates):
            lines.append(f"no-input {100 * rates[0]:.0f} % · no-match {100 * rates[1]:.0f} %")
        notes[node_id] = lines
    unknown = sum(1 for n in s.nodes if n.node not in menu.nodes)
    legend = [
        f"{s.calls:,} calls; fill: share of calls reaching the node,",
        "red frame: share of its callers hanging up there; edge width: traffic.",
        *([f"{unknown} nodes of the logs are not in this menu (not drawn)"] if unknown else []),
    ]
    return Diagram(
        menu,
        links,
        notes=notes,
        classes=classes,
        class_styles={**class_styles, "legend": "fill:#fffde7,stroke:#9e9d24"},
        link_styles={f"w{w}": f"stroke:#6d4c41,stroke-width:{w}px" for w in WIDTHS},
        legend=legend,
        comments=[f"{menu.title}: ivr report heat map"],
    )
