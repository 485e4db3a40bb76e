"""The menu's tree, from a checked document: each node's parent and the leaves below a menu.

Kept apart from the checker so a menu from the cache (``ivr.menu.cache``) can walk its tree
without importing jsonschema.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from typing import Any


def find_parents(document: Mapping[str, Any]) -> dict[str, str]:
    """Map each reachable node to the first menu offering it, breadth-first from the start.

    This is the menu's tree: options that lead back up (a link to an ancestor, a node that
    offers itself) are edges of the call, not of the tree, so the tree has no cycle. A
    collect, action or switch node is a step of its menu, not a level: the nodes it leads
    to (``next``, ``results``, ``cases``, ``default``) get its own parent.
    """
    nodes = document.get("nodes", {})
    start = document.get("start")
    parents: dict[str, str] = {}
    queue: deque[Any] = deque([start])
    seen = {start}
    while queue:
        current = queue.popleft()
        raw = nodes.get(current)
        if not isinstance(raw, Mapping):
            continue
        options = raw.get("options", {})
        parent = current
        targets: list[Any] = list(options.values()) if isinstance(options, Mapping) else []
        if not targets:
            targets = flow_targets(raw)
            parent = parents.get(current)
        for target in targets:
            if isinstance(target, str) and target not in seen:
                seen.add(target)
                if parent is not None:
                    parents[target] = parent
                queue.append(target)
    return parents


def flow_targets(raw: Mapping[str, Any]) -> list[Any]:
    """The nodes a collect, action or switch node of a document leads to (any shape)."""
    found: list[Any] = []
    collect = raw.get("collect")
    if isinstance(collect, Mapping):
        found.append(collect.get("next"))
    record = raw.get("record")
    if isinstance(record, Mapping):
        found.append(record.get("next"))
    results = raw.get("results")
    if "operation" in raw and isinstance(results, Mapping):
        found += results.values()
    cases = raw.get("cases")
    if "switch" in raw:
        found += cases.values() if isinstance(cases, Mapping) else []
        found.append(raw.get("default"))
    return found


def tree_leaves(
    node_id: str, options: Mapping[str, Iterable[str]], parents: Mapping[str, str]
) -> list[str]:
    """Answers and procedures in the tree below a menu, depth first in option order.

    ``options``: each menu's targets. Only a menu's children in the tree are followed, and
    each node once, so links back up the tree cannot make the walk endless.
    """
    leaves: list[str] = []
    seen = {node_id}
    stack: list[tuple[str, Iterator[str]]] = [(node_id, iter(options.get(node_id, ())))]
    while stack:
        menu, pending = stack[-1]
        target = next(pending, None)
        if target is None:
            stack.pop()
            continue
        if parents.get(target) != menu or target in seen:
            continue  # offered here, but its place in the tree is elsewhere
        seen.add(target)
        if target in options:
            stack.append((target, iter(options[target])))
        else:
            leaves.append(target)
    return leaves
