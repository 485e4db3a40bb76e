"""Every figure of a report, computed by DuckDB over the JSON Lines of the call logs.

DuckDB reads all the files at once (``read_json`` with explicit columns, so the prompt
texts are never parsed into values), in parallel, into one table of events numbered in
file order (``WITH ORDINALITY``); every figure is then one SQL query over that table or
over the table of calls derived from it. Nothing here loops over events in Python.

**What a call is.** A file whose lines carry no ``call`` is one call (its id: the file);
in a file of many calls (``ivr simulate``) every line names its call, and a call is the
pair (file, call id), so two files may both have a call ``1``.

**The figures** (a call "enters" a node at ``call-start`` and at each ``state`` event):

* containment: calls ended (a ``call-end``) without reaching an agent — outcome neither
  ``transferred`` nor ``callback`` — over the calls that ended;
* transfers by reason: each call's first ``transfer`` event's reason;
* abandonment per node: calls whose ``call-end`` is ``abandoned`` at that node, outside the
  queue; in the queue: abandoned after a ``queue`` ``enter``;
* no-input and no-match rates per node: those events at the node per visit (entry);
* time to reach a node: seconds from the call's start to its first entry, over the calls
  that reached it (p50 and p90, interpolated);
* the queue: calls offered to the agents (an ``agent`` event, or a ``queue`` ``enter``),
  those that entered it (waited), answered (``agent``; ``seconds`` 0 is a free agent at
  once, docs/call-log.md), called back (``callback``), abandoned, refused (``closed``,
  ``full``); the average wait (answered, called back or abandoned: each call's
  ``seconds``), the average speed of answer (every answered call, at once included), and
  the service level: calls answered within 20 s over the calls offered to the agents (the
  share Erlang C predicts; a call abandoned or called back counts as not in time);
* the funnel: the share of calls reaching each level of the menu tree (the start is level
  0), counting each call at the deepest level it reached, and each node's share;
* the edges: consecutive entries in a call (from, to), and each call's end from its node.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ivr.reports.sources import MAX_LINE, NoLogs, Problems, scan

if TYPE_CHECKING:
    import duckdb

    from ivr.menu.model import Menu

SERVICE_SECONDS = 20.0
"""Service level: answered within this many seconds (the usual 80/20 target's 20)."""

AGENT_OUTCOMES = ("transferred", "callback")
"""Outcomes that reached an agent (now or later): not contained."""

COLUMNS = {
    "t": "DOUBLE",
    "type": "VARCHAR",
    "state": "VARCHAR",
    "call": "VARCHAR",
    "reason": "VARCHAR",
    "outcome": "VARCHAR",
    "count": "BIGINT",
    "seconds": "DOUBLE",
}
"""The fields the report reads; the others (prompt texts, keys) are skipped unparsed."""


@dataclass
class NodeFigures:
    node: str
    visits: int = 0
    no_input: int = 0
    no_match: int = 0
    reached: int = 0
    """Calls that entered it at least once."""
    abandoned: int = 0
    """Calls the caller ended here (not in the queue)."""
    p50: float | None = None
    """Seconds from the call's start to its first entry: median over the calls reaching it."""
    p90: float | None = None
    level: int | None = None
    """Depth in the menu tree (the start: 0); None for a node the menu does not have."""
    title: str = ""
    kind: str = ""

    @property
    def no_input_rate(self) -> float | None:
        return self.no_input / self.visits if self.visits else None

    @property
    def no_match_rate(self) -> float | None:
        return self.no_match / self.visits if self.visits else None


@dataclass
class QueueFigures:
    offered: int = 0
    """Calls that reached the agents: answered at once by a free agent or entered the queue."""
    entered: int = 0
    """Calls that joined the queue (waited: no agent was free)."""
    answered: int = 0
    """Calls an agent took, at once or after a wait."""
    callback: int = 0
    abandoned: int = 0
    closed: int = 0
    """Transfers refused because the contact centre was closed."""
    full: int = 0
    """Transfers refused because the queue was full."""
    average_wait: float | None = None
    """Mean of each offered call's wait (until answered, a callback or hanging up)."""
    average_answer: float | None = None
    """Mean wait of the answered calls, 0 for those answered at once (speed of answer)."""
    within_service: int = 0
    """Calls answered within `SERVICE_SECONDS`."""

    @property
    def answered_at_once(self) -> int:
        """Calls a free agent took without a wait (no queue entry)."""
        return self.offered - self.entered

    @property
    def service_level(self) -> float | None:
        return self.within_service / self.offered if self.offered else None


@dataclass
class Level:
    level: int
    calls: int
    """Calls whose deepest node was at this level or below."""
    nodes: list[tuple[str, int]] = field(default_factory=list)
    """Each node of the level (most traffic first) and the calls that reached it."""


@dataclass
class Summary:
    files: int = 0
    calls: int = 0
    ended: int = 0
    """Calls with a ``call-end`` (the others' logs stop early)."""
    outcomes: dict[str, int] = field(default_factory=dict)
    transfers: dict[str, int] = field(default_factory=dict)
    """Calls by the reason of their first transfer."""
    transfers_without_queue: int = 0
    """Transferred calls whose log has no queue events (logs from before the queue)."""
    queue: QueueFigures = field(default_factory=QueueFigures)
    nodes: list[NodeFigures] = field(default_factory=list)
    edges: list[tuple[str, str, int]] = field(default_factory=list)
    """(from, to, calls): consecutive entries; ``end:<outcome>`` for a call's end."""
    funnel: list[Level] = field(default_factory=list)
    start: str = ""
    """The node calls start in (the menu's start, else the commonest ``call-start``)."""
    ignored_lines: int = 0
    seconds: float = 0.0
    """Time spent computing the figures."""

    @property
    def contained(self) -> int:
        return self.ended - sum(self.outcomes.get(o, 0) for o in AGENT_OUTCOMES)

    @property
    def containment(self) -> float | None:
        return self.contained / self.ended if self.ended else None

    @property
    def abandoned_in_menu(self) -> int:
        return sum(n.abandoned for n in self.nodes)

    def node(self, node_id: str) -> NodeFigures:
        return next(n for n in self.nodes if n.node == node_id)

    def to_json(self) -> dict[str, Any]:
        """Every figure, derived ones included, JSON-ready."""
        data = asdict(self)
        data.update(contained=self.contained, containment=self.containment)
        data["queue"]["service_level"] = self.queue.service_level
        data["queue"]["answered_at_once"] = self.queue.answered_at_once
        for node, figures in zip(data["nodes"], self.nodes, strict=True):
            node.update(no_input_rate=figures.no_input_rate, no_match_rate=figures.no_match_rate)
        return data


@dataclass(frozen=True)
class MenuShape:
    """What the report takes from a menu: its start, each node's level, title and kind."""

    start: str
    levels: Mapping[str, int]
    titles: Mapping[str, str] = field(default_factory=dict)
    kinds: Mapping[str, str] = field(default_factory=dict)


def menu_shape(menu: Menu) -> MenuShape:
    """A menu's start, and each node's level in its tree (the parent chain), title and kind."""
    levels: dict[str, int] = {}
    for node_id in menu.nodes:
        depth, parent = 0, menu.nodes[node_id].parent
        while parent is not None and depth <= len(menu.nodes):
            depth, parent = depth + 1, menu.nodes[parent].parent
        levels[node_id] = depth
    return MenuShape(
        menu.start,
        levels,
        {n: node.title for n, node in menu.nodes.items()},
        {n: str(node.kind) for n, node in menu.nodes.items()},
    )


def summarize(
    files: Sequence[Path], problems: Problems, shape: MenuShape | None = None, threads: int = 0
) -> Summary:
    """The figures of every call in ``files``; unusable lines are said in ``problems``."""
    import duckdb

    began = time.perf_counter()
    if not files:
        raise NoLogs("no call logs to read")
    con = duckdb.connect(config={"threads": threads} if threads else {})
    try:
        summary = Summary(files=len(files))
        _load(con, files)
        summary.ignored_lines = _drop_unusable(con, problems)
        _figures(con, summary, shape)
    finally:
        con.close()
    if summary.calls == 0:
        raise NoLogs("no usable call events in the logs given")
    summary.seconds = time.perf_counter() - began
    return summary


def _sql_list(files: Sequence[Path]) -> str:
    return "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in files) + "]"


def _load(con: duckdb.DuckDBPyConnection, files: Sequence[Path]) -> None:
    columns = "{" + ", ".join(f"{name!r}: '{kind}'" for name, kind in COLUMNS.items()) + "}"
    con.execute(f"""
        CREATE TEMP TABLE raw AS
        SELECT filename AS file, coalesce(call, '') AS call, ordinality AS n,
               t, type, state, reason, outcome, count, seconds
        FROM read_json({_sql_list(files)}, columns = {columns},
                       format = 'newline_delimited', ignore_errors = true,
                       filename = true, maximum_object_size = {MAX_LINE})
             WITH ORDINALITY
    """)


def _drop_unusable(con: duckdb.DuckDBPyConnection, problems: Problems) -> int:
    """Count the rows DuckDB could not read whole, say where they are, keep the rest."""
    usable = "t IS NOT NULL AND type IS NOT NULL AND state IS NOT NULL AND isfinite(t)"
    bad = con.execute(
        f"SELECT file, count(*) FROM raw WHERE NOT ({usable}) GROUP BY file"
    ).fetchall()
    con.execute(f"CREATE TEMP TABLE ev AS SELECT * FROM raw WHERE {usable}")
    con.execute("DROP TABLE raw")
    for file, _ in sorted(bad):
        if not scan(Path(file), problems):
            problems.add(f"{file}: some lines could not be read")
    return sum(count for _, count in bad)


def _figures(con: duckdb.DuckDBPyConnection, s: Summary, shape: MenuShape | None) -> None:
    con.execute("""
        CREATE TEMP TABLE calls AS
        SELECT file, call,
               coalesce(min(t) FILTER (type = 'call-start'), min(t)) AS start,
               arg_max(outcome, n) FILTER (type = 'call-end') AS outcome,
               arg_max(state, n) FILTER (type = 'call-end') AS end_state,
               arg_min(reason, n) FILTER (type = 'transfer') AS transfer,
               coalesce(bool_or(type = 'queue' AND reason = 'enter'), false) AS queued,
               arg_min(reason, n) FILTER (type = 'queue' AND reason IN ('closed', 'full'))
                   AS refused,
               min(seconds) FILTER (type = 'agent') AS answered_after,
               min(seconds) FILTER (type = 'callback') AS callback_after,
               min(seconds) FILTER (type = 'hangup' AND seconds IS NOT NULL) AS gave_up_after
        FROM ev GROUP BY file, call
    """)
    s.calls, s.ended = con.execute("SELECT count(*), count(outcome) FROM calls").fetchone() or (
        0,
        0,
    )
    if not s.calls:
        return
    rows = con.execute("SELECT outcome, count(*) FROM calls WHERE outcome IS NOT NULL GROUP BY 1")
    s.outcomes = dict(sorted(rows.fetchall(), key=lambda r: -r[1]))
    rows = con.execute("SELECT transfer, count(*) FROM calls WHERE transfer IS NOT NULL GROUP BY 1")
    s.transfers = dict(sorted(rows.fetchall(), key=lambda r: -r[1]))
    s.transfers_without_queue = _one(
        con,
        """
        SELECT count(*) FROM calls WHERE outcome = 'transferred' AND NOT queued
            AND answered_after IS NULL AND refused IS NULL""",
    )
    _queue(con, s.queue)
    _nodes(con, s, shape)


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    row = con.execute(sql).fetchone()
    return row[0] if row else None


def _queue(con: duckdb.DuckDBPyConnection, q: QueueFigures) -> None:
    offered = "(queued OR answered_after IS NOT NULL)"
    row = con.execute(f"""
        SELECT count(*) FILTER ({offered}),
               count(*) FILTER (queued),
               count(*) FILTER (answered_after IS NOT NULL),
               count(*) FILTER (queued AND callback_after IS NOT NULL),
               count(*) FILTER (queued AND outcome = 'abandoned'),
               count(*) FILTER (refused = 'closed'),
               count(*) FILTER (refused = 'full'),
               avg(coalesce(answered_after, callback_after, gave_up_after)) FILTER ({offered}),
               avg(answered_after),
               count(*) FILTER (answered_after <= {SERVICE_SECONDS})
        FROM calls
    """).fetchone()
    assert row is not None
    (q.offered, q.entered, q.answered, q.callback, q.abandoned, q.closed, q.full,
     q.average_wait, q.average_answer, q.within_service) = row  # fmt: skip


def _nodes(con: duckdb.DuckDBPyConnection, s: Summary, shape: MenuShape | None) -> None:
    nodes: dict[str, NodeFigures] = {}

    def node(name: str) -> NodeFigures:
        if name not in nodes:
            nodes[name] = NodeFigures(name)
        return nodes[name]

    for name, visits, no_input, no_match in con.execute("""
        SELECT state, count(*) FILTER (type IN ('state', 'call-start')),
               count(*) FILTER (type = 'no-input'), count(*) FILTER (type = 'no-match')
        FROM ev GROUP BY state
    """).fetchall():
        figures = node(name)
        figures.visits, figures.no_input, figures.no_match = visits, no_input, no_match
    con.execute("""
        CREATE TEMP TABLE firsts AS
        SELECT e.file, e.call, e.state AS node, min(e.t) - any_value(c.start) AS reach
        FROM ev e JOIN calls c ON e.file = c.file AND e.call = c.call
        WHERE e.type IN ('state', 'call-start')
        GROUP BY e.file, e.call, e.state
    """)
    for name, reached, p50, p90 in con.execute("""
        SELECT node, count(*), quantile_cont(reach, 0.5), quantile_cont(reach, 0.9)
        FROM firsts GROUP BY node
    """).fetchall():
        figures = node(name)
        figures.reached, figures.p50, figures.p90 = reached, p50, p90
    for name, abandoned in con.execute("""
        SELECT end_state, count(*) FROM calls
        WHERE outcome = 'abandoned' AND NOT queued GROUP BY end_state
    """).fetchall():
        node(name).abandoned = abandoned
    s.edges = [
        (a, b, c)
        for a, b, c in con.execute("""
            SELECT source, state, count(*) FROM (
                SELECT state, lag(state) OVER (PARTITION BY file, call ORDER BY n) AS source
                FROM ev WHERE type IN ('state', 'call-start'))
            WHERE source IS NOT NULL GROUP BY ALL
            UNION ALL
            SELECT end_state, 'end:' || outcome, count(*) FROM calls
            WHERE outcome IS NOT NULL GROUP BY ALL
            ORDER BY 3 DESC, 1, 2
        """).fetchall()
    ]
    starts = con.execute(
        "SELECT state, count(*) FROM ev WHERE type = 'call-start' GROUP BY 1 ORDER BY 2 DESC, 1"
    ).fetchall()
    s.start = shape.start if shape is not None else (starts[0][0] if starts else "")
    levels = dict(shape.levels) if shape is not None else _levels_from_edges(s.start, s.edges)
    for name, figures in nodes.items():
        figures.level = levels.get(name)
        if shape is not None:
            figures.title = shape.titles.get(name, "")
            figures.kind = shape.kinds.get(name, "")
    s.nodes = sorted(nodes.values(), key=lambda n: (n.level is None, n.level or 0, -n.reached))
    s.funnel = _funnel(con, s.nodes, levels)


def _levels_from_edges(start: str, edges: Sequence[tuple[str, str, int]]) -> dict[str, int]:
    """Without a menu: each node's level is its fewest moves from the start, breadth-first
    over the moves the calls made."""
    following: dict[str, list[str]] = {}
    for a, b, _ in edges:
        if not b.startswith("end:"):
            following.setdefault(a, []).append(b)
    if not start:
        return {}
    levels = {start: 0}
    waiting = deque([start])
    while waiting:
        source = waiting.popleft()
        for dest in following.get(source, ()):
            if dest not in levels:
                levels[dest] = levels[source] + 1
                waiting.append(dest)
    return levels


def _funnel(
    con: duckdb.DuckDBPyConnection, nodes: Sequence[NodeFigures], levels: Mapping[str, int]
) -> list[Level]:
    if not levels:
        return []
    con.execute("CREATE TEMP TABLE levels (node VARCHAR, level INTEGER)")
    con.executemany("INSERT INTO levels VALUES (?, ?)", list(levels.items()))
    deepest = dict(
        con.execute("""
            SELECT level, count(*) FROM (
                SELECT max(l.level) AS level FROM firsts f JOIN levels l USING (node)
                GROUP BY f.file, f.call)
            GROUP BY level
        """).fetchall()
    )
    top = max(deepest, default=-1)
    funnel = []
    for level in range(top + 1):
        calls = sum(count for depth, count in deepest.items() if depth >= level)
        members = [(n.node, n.reached) for n in nodes if n.level == level and n.reached]
        funnel.append(Level(level, calls, sorted(members, key=lambda m: (-m[1], m[0]))))
    return funnel
