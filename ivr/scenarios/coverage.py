"""Menu coverage: which nodes, edges and error paths a set of calls went through.

The graph is the engine's own: ``CallFlow(menu).machine`` declares every edge a call can
take (``select:<key>``, ``back``, ``finish``, ``shortcut:<node>``, ``main``,
``goto:<node>``, ``end:<outcome>``), listed and drawn by `ivr.outputs.menu_map`. Calls are
read from their events (a scenario result, a recorded call, or the records of a call log),
never by instrumenting the engine.

**How an edge is found from the events.** The engine reports a ``state`` event each time
it takes an edge between nodes, with the node entered; the call's node before it is the
``state`` of the previous ``state`` event (the start node at ``call-start``). Such a pair
(from, to) is almost always one edge of the machine. When the machine has several edges
between the same two nodes, the cause decides, as the engine did:

* the caller's last input (``key`` or ``utterance``) since the previous prompt: a global
  ``back`` key or phrase means ``back``, ``main`` means ``main``; a step key in a procedure
  and anything else means ``finish`` (an answer or closing that ended, or was left by a
  key meant for the parent menu); an answer to a confirmation stands for the utterance
  being confirmed;
* a ``no-input``/``no-match`` event that reached the node's maximum means ``goto``;
* with no input since the last prompt (an answer that played to its end) it is ``finish``.

From an action node the ``reply`` event's result names the edge (``result:<result>``);
a collect node leaves by ``next``, a switch by ``case:<value>`` or ``default`` (two cases
to the same node are told apart by nothing in the log: the first is counted).

A ``call-end`` event is the edge ``end:<outcome>`` from the node it names. Error paths
are counted per node from the events themselves: ``no-input``, ``no-match``,
``max-failures`` (the count reached the node's limit) and ``barge-in``.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ivr.engine.events import CallEvent, EventType, Outcome, PromptKind
from ivr.engine.flow import CallFlow
from ivr.menu.model import GlobalAction, Menu, NodeKind
from ivr.outputs.menu_map import DOTTED, THICK, Diagram, Link, edge_label
from ivr.outputs.menu_map import Edge as Edge  # the machine's edges, named here too
from ivr.outputs.menu_map import EdgeKind as EdgeKind
from ivr.outputs.menu_map import machine_edges as machine_edges
from ivr.outputs.paths import write_replacing

if TYPE_CHECKING:
    from rich.table import Table

    from ivr.scenarios.model import ScenarioResult


class ErrorPath(enum.StrEnum):
    NO_INPUT = "no-input"
    NO_MATCH = "no-match"
    MAX_FAILURES = "max-failures"
    BARGE_IN = "barge-in"


_AUTOMATIC = (
    EdgeKind.SELECT,
    EdgeKind.SHORTCUT,
    EdgeKind.FINISH,
    EdgeKind.BACK,
    EdgeKind.MAIN,
    EdgeKind.NEXT,
    EdgeKind.RESULT,
    EdgeKind.CASE,
    EdgeKind.DEFAULT,
)
"""Preference among parallel edges when the cause names none of them."""

_GLOBAL_ACTIONS = frozenset(action.value for action in GlobalAction)

DEFAULT_KINDS = (EdgeKind.SELECT, EdgeKind.BACK, EdgeKind.FINISH)
"""The edges a keypad-only scenario set can and should cover completely."""

_CLASS_STYLES = {
    "covered": "fill:#e8f5e9,stroke:#2e7d32,stroke-width:2px",
    "uncovered": "fill:#ffebee,stroke:#c62828,stroke-width:1px,stroke-dasharray:4 3",
}
_LINK_STYLES = {
    "taken": "stroke:#2e7d32,stroke-width:3px",
    "missed": "stroke:#c62828,stroke-width:1px",
}


class Coverage:
    """Nodes entered, edges taken and error paths seen, over any number of calls to one menu."""

    def __init__(self, menu: Menu | CallFlow) -> None:
        self.flow = menu if isinstance(menu, CallFlow) else CallFlow(menu)
        self.menu = self.flow.menu
        self.edges = machine_edges(self.flow)
        self._declared = set(self.edges)
        self._between: dict[tuple[str, str], list[Edge]] = {}
        for edge in self.edges:
            self._between.setdefault((edge.source, edge.dest), []).append(edge)
        self.entered: Counter[str] = Counter()
        self.taken: Counter[Edge] = Counter()
        self.errors: Counter[tuple[str, ErrorPath]] = Counter()
        self.unexplained: list[str] = []
        """Moves between nodes that the machine has no edge for (a bug if not empty)."""
        self.calls = 0

    # -- reading calls ----------------------------------------------------------------

    def add_call(self, events: Iterable[CallEvent | tuple[float, CallEvent]]) -> None:
        """Count one call, from its events in order (with or without their call times)."""
        self.calls += 1
        node: str | None = None
        cause: CallEvent | None = None
        confirming: CallEvent | None = None
        failure: CallEvent | None = None
        reply: str | None = None
        moved_since_cause = False
        for item in events:
            event = item[1] if isinstance(item, tuple) else item
            match event.type:
                case EventType.CALL_START:
                    node = event.state
                    self.entered[node] += 1
                case EventType.KEY | EventType.UTTERANCE:
                    cause, failure, moved_since_cause = event, None, False
                    if event.type is EventType.UTTERANCE and event.decision == "confirm":
                        confirming = event
                case EventType.NO_INPUT | EventType.NO_MATCH:
                    kind = ErrorPath(event.type.value)
                    self.errors[(event.state, kind)] += 1
                    if self._is_last_try(event):
                        self.errors[(event.state, ErrorPath.MAX_FAILURES)] += 1
                        failure = event
                case EventType.BARGE_IN:
                    self.errors[(event.state, ErrorPath.BARGE_IN)] += 1
                case EventType.REPLY:
                    reply = event.result
                case EventType.PROMPT:
                    if moved_since_cause and event.kind is not PromptKind.NOTICE:
                        cause = None  # what follows is the new node's own doing
                case EventType.STATE:
                    source = node if node is not None else self.menu.start
                    intent = self._intent(source, cause, confirming, failure)
                    if reply is not None and self.menu.nodes[source].kind is NodeKind.ACTION:
                        edge = self._result_edge(source, event.state, reply)
                    else:
                        edge = self._explain(source, event.state, intent, cause)
                    reply = None
                    if edge is not None:
                        self.taken[edge] += 1
                    self.entered[event.state] += 1
                    node = event.state
                    failure, confirming, moved_since_cause = None, None, True
                case EventType.CALL_END:
                    outcome = event.outcome or Outcome.ABANDONED
                    edge = Edge(event.state, f"end:{outcome}", f"end:{outcome}")
                    if edge in self._declared:
                        self.taken[edge] += 1
                    else:
                        self.unexplained.append(str(edge))

    def add_records(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Count one call from its call log records (``ivr call --log``, JSON Lines)."""
        fields = set(CallEvent.__dataclass_fields__) - {"type"}
        self.add_call(
            CallEvent(
                EventType(record["type"]),
                **{name: value for name, value in record.items() if name in fields},
            )
            for record in records
        )

    def add_results(self, results: Iterable[ScenarioResult]) -> None:
        """Count the calls of scenario results that ran against this menu."""
        target = self.menu.path.resolve()
        for result in results:
            if result.events and result.menu_path and result.menu_path.resolve() == target:
                self.add_call(result.events)

    def _is_last_try(self, event: CallEvent) -> bool:
        settings = self.menu.nodes[event.state].settings
        limit = settings.max_no_input if event.type is EventType.NO_INPUT else settings.max_no_match
        return (event.count or 0) >= limit

    def _intent(
        self,
        source: str,
        cause: CallEvent | None,
        confirming: CallEvent | None,
        failure: CallEvent | None,
    ) -> EdgeKind | None:
        """What the caller's last input (or the last failure) asked for, among parallel edges."""
        if failure is not None:
            return EdgeKind.GOTO
        if cause is None:
            return EdgeKind.FINISH
        menu = self.menu
        if cause.type is EventType.KEY:
            key = cause.key or ""
            steps = menu.step_keys
            if menu.nodes[source].kind is NodeKind.PROCEDURE and key in (
                steps.next, steps.repeat, steps.previous):  # fmt: skip
                return EdgeKind.FINISH
            action = menu.global_keys.get(key)
            if confirming is not None and key == menu.confirm_keys.yes:
                return self._intent(source, confirming, None, None)
        else:
            phrase = cause.phrase or ""
            if confirming is not None and phrase in menu.confirm_phrases.get("yes", ()):
                return self._intent(source, confirming, None, None)
            action = next(
                (GlobalAction(name) for name, said in menu.global_phrases.items()
                 if phrase in said and name in _GLOBAL_ACTIONS),
                None,
            )  # fmt: skip
        if action is GlobalAction.BACK:
            return EdgeKind.BACK
        if action is GlobalAction.MAIN:
            return EdgeKind.MAIN
        return None

    def _result_edge(self, source: str, dest: str, result: str) -> Edge | None:
        edge = Edge(source, f"result:{result}", dest)
        if edge in self._declared:
            return edge
        self.unexplained.append(f"{source} -> {dest} ({result})")
        return None

    def _explain(
        self, source: str, dest: str, intent: EdgeKind | None, cause: CallEvent | None
    ) -> Edge | None:
        candidates = self._between.get((source, dest), [])
        if not candidates:
            self.unexplained.append(f"{source} -> {dest}")
            return None
        if len(candidates) == 1:
            return candidates[0]
        for kind in ([intent] if intent else []) + list(_AUTOMATIC):
            fitting = [edge for edge in candidates if edge.kind is kind]
            if kind is EdgeKind.SELECT and cause is not None and cause.key:
                fitting = [e for e in fitting if e.argument == cause.key] or fitting
            if fitting:
                return fitting[0]
        return candidates[0]

    # -- figures ----------------------------------------------------------------------

    def edges_of(self, kinds: Iterable[EdgeKind | str] = tuple(EdgeKind)) -> list[Edge]:
        wanted = {EdgeKind(kind) for kind in kinds}
        return [edge for edge in self.edges if edge.kind in wanted]

    def covered(self, kinds: Iterable[EdgeKind | str] = tuple(EdgeKind)) -> tuple[int, int]:
        """(edges taken, edges declared) of these kinds."""
        edges = self.edges_of(kinds)
        return sum(1 for edge in edges if self.taken[edge]), len(edges)

    def uncovered(self, kinds: Iterable[EdgeKind | str] = tuple(EdgeKind)) -> list[Edge]:
        return [edge for edge in self.edges_of(kinds) if not self.taken[edge]]

    def percent(self, kinds: Iterable[EdgeKind | str] = DEFAULT_KINDS) -> float:
        done, total = self.covered(kinds)
        return 100.0 * done / total if total else 100.0

    @property
    def states(self) -> tuple[int, int]:
        """(nodes entered, nodes in the menu)."""
        return sum(1 for node in self.menu.nodes if self.entered[node]), len(self.menu.nodes)

    def unentered(self) -> list[str]:
        return [node for node in self.menu.nodes if not self.entered[node]]

    def error_nodes(self, kind: ErrorPath) -> list[str]:
        """Nodes where this error path was seen, in menu order."""
        return [node for node in self.menu.nodes if self.errors[(node, kind)]]

    def summary(self) -> list[tuple[str, int, int]]:
        """(what, covered, total) rows: nodes, then each kind of edge, then error paths."""
        rows = [("nodes entered", *self.states)]
        for kind in EdgeKind:
            done, total = self.covered([kind])
            if total:
                rows.append((f"{kind} edges", done, total))
        nodes = len(self.menu.nodes)
        for error in ErrorPath:
            rows.append((f"{error} (nodes)", len(self.error_nodes(error)), nodes))
        return rows

    # -- reports ----------------------------------------------------------------------

    def table(self) -> Table:
        """A rich table of the figures, then each node with what was seen there."""
        from rich.table import Table

        table = Table(
            title=f"Coverage of {self.menu.path.name} ({self.calls} calls)", title_justify="left"
        )
        table.add_column("node")
        table.add_column("title")
        table.add_column("entered", justify="right")
        table.add_column("edges out", justify="right")
        table.add_column("error paths")
        table.add_column("not taken", overflow="fold")
        for node_id, node in self.menu.nodes.items():
            out = [edge for edge in self.edges if edge.source == node_id]
            shown = [edge for edge in out if edge.kind in DEFAULT_KINDS]
            missing = [edge.trigger for edge in shown if not self.taken[edge]]
            done = sum(1 for edge in out if self.taken[edge])
            errors = " ".join(
                f"{error}×{self.errors[(node_id, error)]}"
                for error in ErrorPath
                if self.errors[(node_id, error)]
            )
            entered = self.entered[node_id]
            table.add_row(
                node_id,
                node.title,
                str(entered) if entered else "[red]0[/]",
                f"{done}/{len(out)}",
                errors,
                ", ".join(missing),
            )
        table.add_section()
        for what, done, total in self.summary():
            share = 100.0 * done / total if total else 100.0
            colour = "green" if done == total else "yellow" if done else "red"
            table.add_row(what, "", f"[{colour}]{done}/{total}[/]", f"{share:.0f} %", "", "")
        return table

    def mermaid(
        self,
        *,
        always: Sequence[EdgeKind | str] = (
            EdgeKind.SELECT,
            EdgeKind.BACK,
            EdgeKind.FINISH,
            EdgeKind.GOTO,
        ),
    ) -> str:
        """A Mermaid flowchart of the menu; taken edges thick and green, the others dotted.

        Edges of the kinds in ``always`` are drawn whether taken or not; the others
        (``main`` from every node, ``end:*`` from every node, spoken shortcuts) only when
        taken, so the diagram stays readable. Nodes entered get the class ``covered``,
        the others ``uncovered`` (dashed red); end states are drawn as circles.
        """
        drawn_kinds = {EdgeKind(kind) for kind in always}
        links = []
        for edge in self.edges:
            taken = self.taken[edge]
            if edge.kind in drawn_kinds or taken:
                label = edge_label(self.menu, edge) + (f" ×{taken}" if taken > 1 else "")
                links.append(
                    Link(edge, label, THICK if taken else DOTTED, "taken" if taken else "missed")
                )
        ends = {link.edge.dest for link in links if link.edge.kind is EdgeKind.END}
        classes = {n: "covered" if self.entered[n] else "uncovered" for n in self.menu.nodes}
        classes.update(dict.fromkeys(ends, "covered"))
        return Diagram(
            self.menu,
            links,
            classes=classes,
            class_styles=_CLASS_STYLES,
            link_styles=_LINK_STYLES,
        ).mermaid()

    def markdown(self) -> str:
        """The figures as a Markdown table and the Mermaid diagram, for a .md report."""
        lines = [f"## Coverage of `{self.menu.path.name}` ({self.calls} calls)", ""]
        lines += ["| | covered | total | |", "|---|---:|---:|---:|"]
        for what, done, total in self.summary():
            share = 100.0 * done / total if total else 100.0
            lines.append(f"| {what} | {done} | {total} | {share:.0f} % |")
        missing = [str(edge) for edge in self.uncovered(DEFAULT_KINDS)]
        if missing:
            lines += ["", "Not taken: " + ", ".join(f"`{m}`" for m in missing)]
        lines += ["", "```mermaid", self.mermaid().rstrip("\n"), "```", ""]
        return "\n".join(lines)


def coverage_by_menu(results: Iterable[ScenarioResult]) -> dict[Path, Coverage]:
    """One Coverage per menu, over every scenario result that played a call."""
    from ivr.scenarios.loading import _load_menu

    found: dict[Path, Coverage] = {}
    for result in results:
        if not result.events or result.menu_path is None:
            continue
        key = result.menu_path.resolve()
        if key not in found:
            found[key] = Coverage(_load_menu(key))
        found[key].add_call(result.events)
    return found


def write_coverage(coverages: Sequence[Coverage], path: str | Path) -> list[Path]:
    """Write the diagrams: ``.md`` (figures and diagrams, one section per menu) or
    ``.mmd`` (the bare flowchart; with several menus, one file per menu named
    ``<stem>.<menu>.mmd``). Returns the files written."""
    path = Path(path)
    if path.suffix != ".mmd":
        body = "# Call coverage\n\n" + "\n".join(c.markdown() for c in coverages)
        files = {path: body}
    elif len(coverages) == 1:
        files = {path: coverages[0].mermaid()}
    else:
        files = {
            path.with_name(f"{path.stem}.{c.menu.path.name.removesuffix('.yaml')}.mmd"): c.mermaid()
            for c in coverages
        }
    for target, text in files.items():  # each whole or not at all
        write_replacing(target, partial(Path.write_text, data=text, encoding="utf-8"))
    return list(files)
