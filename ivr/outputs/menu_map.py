"""The menu as a diagram: its nodes and the engine's edges, as Mermaid text or Graphviz DOT.

One renderer for every picture of a menu: ``ivr graph`` (the menu, with the time to each
leaf) and the scenario coverage report (the same map, with what the calls went through).
Each says *what* to draw in a `Diagram` (which edges, their labels and styles, lines under
a node's title, classes, a legend); this module says *how*, escaping every text taken
from the menu once, here.

The edges are the engine's own: ``CallFlow(menu).machine`` declares every edge a call can
take (``select:<key>``, ``back``, ``finish``, ``shortcut:<node>``, ``main``,
``goto:<node>``, ``end:<outcome>``, ``self-service`` with a contact centre).
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ivr.errors import IvrError
from ivr.menu.model import GlobalAction, Menu, NodeKind

if TYPE_CHECKING:
    from ivr.engine.flow import CallFlow


class EdgeKind(enum.StrEnum):
    SELECT = "select"
    BACK = "back"
    FINISH = "finish"
    SHORTCUT = "shortcut"
    MAIN = "main"
    GOTO = "goto"
    END = "end"
    NEXT = "next"
    """A collect node's valid entry (a record node's message, kept or skipped), to its
    ``next`` node."""
    RESULT = "result"
    """An action node's result (``result:verified``), to its node."""
    CASE = "case"
    """A switch node's value (``case:余额不足``), to its node."""
    DEFAULT = "default"
    """A switch node's other values."""
    SELF_SERVICE = "self-service"
    """No agent to be had (a contact centre closed or full): the caller's self-service key,
    back to the start menu."""


@dataclass(frozen=True, order=True)
class Edge:
    """One declared transition of the machine."""

    source: str
    trigger: str
    dest: str

    @property
    def kind(self) -> EdgeKind:
        return EdgeKind(self.trigger.split(":", 1)[0])

    @property
    def argument(self) -> str:
        """The key of ``select:1``, the node of ``shortcut:x`` or ``goto:x``, ``end:``'s outcome."""
        return self.trigger.split(":", 1)[1] if ":" in self.trigger else ""

    def __str__(self) -> str:
        return f"{self.source} --{self.trigger}--> {self.dest}"


def machine_edges(flow: CallFlow) -> list[Edge]:
    """Every edge the engine's ``transitions`` machine declares, in declaration order."""
    edges = []
    for trigger, event in flow.machine.events.items():
        for source, transitions in event.transitions.items():
            edges += [Edge(source, trigger, str(transition.dest)) for transition in transitions]
    return edges


def edge_label(menu: Menu, edge: Edge) -> str:
    """What an edge is called on a diagram: its key, ``# back``, ``done``, an outcome."""
    keys = {action: key for key, action in menu.global_keys.items()}
    match edge.kind:
        case EdgeKind.SELECT:
            return edge.argument
        case EdgeKind.BACK:
            return f"{keys[GlobalAction.BACK]} back" if GlobalAction.BACK in keys else "back"
        case EdgeKind.FINISH:
            return "done"
        case EdgeKind.SHORTCUT:
            return "spoken"
        case EdgeKind.MAIN:
            return "main"
        case EdgeKind.GOTO:
            return "max failures"
        case EdgeKind.NEXT:
            return "message" if menu.nodes[edge.source].record is not None else "entered"
        case EdgeKind.CASE:
            return f"= {edge.argument}"
        case EdgeKind.DEFAULT:
            return "else"
        case EdgeKind.SELF_SERVICE:
            return "self-service"
    return edge.argument


def global_keys_line(menu: Menu) -> str:
    """The menu's global keys in one line (``0 agent · * repeat · # back``), for a legend."""
    return " · ".join(f"{key} {action}" for key, action in menu.global_keys.items())


SOLID, THICK, DOTTED = "-->", "==>", "-.->"
"""Mermaid's arrows; DOT draws them plain, bold and dashed."""


DRAWN = frozenset(
    {
        EdgeKind.SELECT,
        EdgeKind.GOTO,
        EdgeKind.NEXT,
        EdgeKind.RESULT,
        EdgeKind.CASE,
        EdgeKind.DEFAULT,
    }
)
"""The edges a map of the menu draws: options, failure gotos, collect, result and switch
branches (global keys go in its legend, not as an edge from every node)."""


def map_links(menu: Menu) -> list[Link]:
    """The drawn edges of the menu, labelled, in the order of their source nodes in the
    file (``ivr graph`` and the web phone's map)."""
    from ivr.engine.flow import CallFlow

    order = {node: index for index, node in enumerate(menu.nodes)}
    edges = sorted(machine_edges(CallFlow(menu)), key=lambda edge: order[edge.source])
    return [Link(edge, edge_label(menu, edge)) for edge in edges if edge.kind in DRAWN]


@dataclass(frozen=True)
class Link:
    """One edge as drawn."""

    edge: Edge
    label: str
    arrow: str = SOLID
    style: str = ""
    """A name in `Diagram.link_styles`, or "" for none."""


@dataclass(frozen=True)
class Diagram:
    """What to draw of a menu. Nodes come in menu order, then the end states the links
    lead to (as circles); menus are boxes, answers rounded, procedures framed twice."""

    menu: Menu
    links: Sequence[Link]
    notes: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """Lines under a node's title and id, by node id."""
    show_kind: bool = False
    """Name each node's kind after its id (menu, answer, procedure)."""
    classes: Mapping[str, str] = field(default_factory=dict)
    """Node id or end state (``end:transferred``) -> the name of its class."""
    class_styles: Mapping[str, str] = field(default_factory=dict)
    """Class name -> its style, in Mermaid's CSS-like form (``fill:#fff,stroke:#000``)."""
    link_styles: Mapping[str, str] = field(default_factory=dict)
    """Link style name -> its style, the same form; drawn in this order."""
    legend: Sequence[str] = ()
    """Lines of a box beside the diagram (global keys, what the figures assume)."""
    comments: Sequence[str] = ()
    """Lines said in the text only (``%%`` in Mermaid, ``//`` in DOT)."""

    @property
    def ends(self) -> list[str]:
        """The end states the links lead to, sorted."""
        return sorted({link.edge.dest for link in self.links if link.edge.kind is EdgeKind.END})

    def _subtitle(self, node_id: str) -> str:
        if not self.show_kind:
            return node_id
        return f"{node_id} · {self.menu.nodes[node_id].kind}"

    # -- Mermaid --------------------------------------------------------------------------

    def mermaid(self) -> str:
        """A Mermaid flowchart (top-down)."""
        lines = ["flowchart TD"]
        lines += [f"  %% {_one_line(comment)}" for comment in self.comments]
        lines += [f"  classDef {name} {style}" for name, style in self.class_styles.items()]
        for node_id, node in self.menu.nodes.items():
            text = [node.title, f"<small>{_escape(self._subtitle(node_id))}</small>"]
            label = "<br/>".join(
                [_escape(text[0]), text[1], *(_escape(n) for n in self.notes.get(node_id, ()))]
            )
            opening, closing = _MERMAID_SHAPES[node.kind]
            lines.append(f"  {mermaid_id(node_id)}{opening}{_wrap(label)}{closing}")
        ends = self.ends
        for end in ends:
            lines.append(f"  {mermaid_id(end)}(({mermaid_quote(end.split(':', 1)[1])}))")
        if self.legend:
            body = "<br/>".join(_escape(line) for line in self.legend)
            lines.append(f"  {LEGEND}[{_wrap(body)}]")
        styled: dict[str, list[int]] = {name: [] for name in self.link_styles}
        for index, link in enumerate(self.links):
            edge = link.edge
            lines.append(
                f"  {mermaid_id(edge.source)} {link.arrow}|{mermaid_quote(link.label)}| "
                f"{mermaid_id(edge.dest)}"
            )
            if link.style:
                styled[link.style].append(index)
        for name, indexes in styled.items():
            if indexes:
                lines.append(f"  linkStyle {','.join(map(str, indexes))} {self.link_styles[name]}")
        for name in self.class_styles:
            named = [n for n in [*self.menu.nodes, *ends] if self.classes.get(n) == name]
            members = [mermaid_id(n) for n in named]
            if name == LEGEND_CLASS and self.legend:
                members.append(LEGEND)
            if members:
                lines.append(f"  class {','.join(members)} {name}")
        return "\n".join(lines) + "\n"

    # -- Graphviz -------------------------------------------------------------------------

    def dot(self) -> str:
        """The same diagram as Graphviz DOT source (built with the ``graphviz`` package)."""
        graph = graphviz_package().Digraph(
            "menu",
            graph_attr={"rankdir": "LR", "label": _dot_text([self.menu.title]), "labelloc": "t"},
            node_attr={"fontname": "sans-serif", "fontsize": "11"},
            edge_attr={"fontname": "sans-serif", "fontsize": "10"},
        )
        graph.body += [f"\t// {_one_line(comment)}\n" for comment in self.comments]
        for node_id, node in self.menu.nodes.items():
            text = [node.title, self._subtitle(node_id), *self.notes.get(node_id, ())]
            attrs = {**_DOT_SHAPES[node.kind], **self._dot_class(node_id)}
            graph.node(mermaid_id(node_id), _dot_text(text), **attrs)
        for end in self.ends:
            attrs = {"shape": "circle", **self._dot_class(end)}
            graph.node(mermaid_id(end), _dot_text([end.split(":", 1)[1]]), **attrs)
        if self.legend:
            attrs = {"shape": "note", **self._dot_class(LEGEND, LEGEND_CLASS)}
            graph.node(LEGEND, _dot_text(self.legend, align="l"), **attrs)
        for link in self.links:
            attrs = {**_DOT_ARROWS.get(link.arrow, {})}
            if link.style:
                attrs.update(_dot_style(self.link_styles[link.style]))
            graph.edge(
                mermaid_id(link.edge.source),
                mermaid_id(link.edge.dest),
                label=_dot_text([link.label]),
                **attrs,
            )
        return str(graph.source)

    def _dot_class(self, name: str, default: str = "") -> dict[str, str]:
        style = self.class_styles.get(self.classes.get(name, default), "")
        return _dot_style(style) if style else {}


LEGEND = "legend"
"""The legend's node id: menu nodes are ``n_<id>``, so it is never one of theirs."""
LEGEND_CLASS = "legend"
"""The class the legend gets, when the diagram styles one of that name."""

_MERMAID_SHAPES = {
    NodeKind.MENU: ("[", "]"),
    NodeKind.ANSWER: ("(", ")"),
    NodeKind.PROCEDURE: ("[[", "]]"),
    NodeKind.COLLECT: ("[/", "/]"),
    NodeKind.ACTION: ("[(", ")]"),
    NodeKind.SWITCH: ("{", "}"),
    NodeKind.RECORD: ("[\\", "/]"),
}
_DOT_SHAPES: dict[NodeKind, dict[str, str]] = {
    NodeKind.MENU: {"shape": "box"},
    NodeKind.ANSWER: {"shape": "box", "style": "rounded"},
    NodeKind.PROCEDURE: {"shape": "box", "peripheries": "2"},
    NodeKind.COLLECT: {"shape": "parallelogram"},
    NodeKind.ACTION: {"shape": "cylinder"},
    NodeKind.SWITCH: {"shape": "diamond"},
    NodeKind.RECORD: {"shape": "trapezium"},
}
_DOT_ARROWS: dict[str, dict[str, str]] = {
    SOLID: {},
    THICK: {"penwidth": "2.5"},
    DOTTED: {"style": "dashed"},
}


def mermaid_id(name: str) -> str:
    """A Mermaid node id: prefixed so that a node called ``end`` cannot end the chart."""
    return "n_" + name.replace(":", "_")


_ENTITIES = {'"': "#quot;", "#": "#35;", "<": "#lt;", ">": "#gt;", "&": "#amp;"}
"""Mermaid's entity codes (``#name;`` or ``#number;``) for what would end a quoted label
or be read as HTML in it; '#' itself, so that text looking like a code stays text."""
_NUMBERED = "|`"
"""Written as numbered codes too: a pipe ends an edge label, and a backquote after the
opening quote starts a Markdown string. Brackets, braces and ';' are text inside quotes."""


def _escape(text: str) -> str:
    """Menu text as Mermaid label text: every character that means something to Mermaid
    or to HTML, and every control or format character (a line break in a title), written
    as an entity code; the rest (CJK, punctuation, emoji) as it is."""
    out = []
    for char in text:
        if char in _ENTITIES:
            out.append(_ENTITIES[char])
        elif char in _NUMBERED or (char != " " and unicodedata.category(char)[0] in "CZ"):
            out.append(f"#{ord(char)};")
        else:
            out.append(char)
    return "".join(out)


def _wrap(label: str) -> str:
    return f'"{label}"'


def mermaid_quote(text: str) -> str:
    """Plain text as a quoted Mermaid label: ``"…"``, with `_escape`'s entity codes."""
    return _wrap(_escape(text))


def mermaid_unescape(label: str) -> str:
    """The text a quoted label shows (its entity codes decoded): for tests and tools."""
    names = {code[1:-1]: char for char, code in _ENTITIES.items()}

    def decode(match: re.Match[str]) -> str:
        code = match.group(1)
        return chr(int(code)) if code.isdigit() else names[code]

    inner = label[1:-1] if label.startswith('"') and label.endswith('"') else label
    return re.sub(r"#(\d+|quot|lt|gt|amp);", decode, inner)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _dot_text(lines: Sequence[str], align: str = "n") -> Any:
    """Lines as one DOT label: each line's backslashes kept literal, joined by DOT's line
    break (``\\n`` centred, ``\\l`` left-aligned), never taken for an HTML label."""
    end = "\\l" if align == "l" else "\\n"
    text = end.join(line.replace("\\", "\\\\") for line in lines)
    return graphviz_package().nohtml(text + end if align == "l" else text)


def graphviz_package() -> Any:
    """The ``graphviz`` package (untyped), imported when a DOT diagram is first made."""
    import graphviz  # type: ignore[import-untyped]

    return graphviz


def _dot_style(style: str) -> dict[str, str]:
    """A Mermaid style (``fill:#e8f5e9,stroke:#2e7d32,stroke-width:2px``) as DOT attributes."""
    attrs: dict[str, str] = {}
    styles: list[str] = []
    for item in style.split(","):
        name, _, value = item.partition(":")
        match name.strip():
            case "fill":
                attrs["fillcolor"] = value
                styles.append("filled")
            case "stroke":
                attrs["color"] = value
            case "stroke-width":
                attrs["penwidth"] = value.removesuffix("px")
            case "stroke-dasharray":
                styles.append("dashed")
    if styles:
        attrs["style"] = ",".join(styles)
    return attrs


class GraphvizMissing(IvrError):
    """A picture needs Graphviz's ``dot``, and it is not installed."""


class GraphvizFailed(IvrError):
    """``dot`` ran and failed."""


def svg(source: str) -> str:
    """The DOT source laid out by Graphviz's ``dot``, as SVG text (``ivr graph``, the heat
    map of ``ivr report``)."""
    graphviz = graphviz_package()
    try:
        return str(graphviz.pipe_string("dot", "svg", source, encoding="utf-8"))
    except graphviz.ExecutableNotFound:
        raise GraphvizMissing(
            "Graphviz's dot is not installed: install graphviz (apt-get install graphviz)"
        ) from None
    except graphviz.CalledProcessError as error:
        detail = " ".join(str(error.stderr or "").split()) or str(error)
        raise GraphvizFailed(f"dot failed: {detail}") from None
