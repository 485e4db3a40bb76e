"""``ivr graph``: the menu as a diagram (Mermaid, DOT or SVG), with the time a caller needs
to reach each answer and procedure by keys.

The times are played, not summed: for each leaf a caller presses the keys that lead there
(the tree's path from the start) in a call driven by a `Session` on a virtual clock, with
prompts timed as a text-only call times them (`SilentPlayer`: 0.33 s per character), and
the figure is the call time of the ``state`` event that enters the leaf. Two callers:

* **listening**: each key the moment the prompts have ended (no think time);
* **barge-in**: each key the moment the prompt being said has named it (the text up to and
  including the key, at the same rate); a key no prompt names is pressed when the prompts
  end. Keys always stop a prompt here (the menu's ``speech.barge_in`` is about speech), so
  a caller who knows the menu could reach every leaf at 0 s; this figure is for one who
  listens for the key.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from ivr.cli.common import default_menu, load

if TYPE_CHECKING:
    from ivr.clock import VirtualClock
    from ivr.engine.flow import CallFlow
    from ivr.engine.inputs import CallerAction
    from ivr.menu.model import Menu
    from ivr.outputs.menu_map import Diagram

Duration = Callable[[str], float]


@dataclass(frozen=True)
class Reach:
    """How a caller reaches one answer or procedure by keys, and when."""

    node: str
    keys: tuple[str, ...]
    listening: float
    """Call time it is entered when each key is pressed as soon as the prompts end."""
    barge_in: float
    """Call time it is entered when each key is pressed as soon as a prompt names it."""


def run(args: argparse.Namespace) -> int:
    menu = load(args.menu or default_menu())
    diagram = menu_diagram(menu, reach_times(menu))
    if args.format == "mermaid":
        text = diagram.mermaid()
    elif args.format == "dot":
        text = diagram.dot()
    else:
        from ivr.outputs.menu_map import svg

        text = svg(diagram.dot())
    out: Path | None = args.out
    if out is None:
        sys.stdout.write(text)
    else:  # a file is replaced whole; a pipe or a device is written in place
        from ivr.outputs.paths import write_replacing

        write_replacing(out, partial(Path.write_text, data=text, encoding="utf-8"))
    return 0


# -- the times ---------------------------------------------------------------------------------


def key_paths(menu: Menu) -> dict[str, tuple[str, ...]]:
    """The keys from the start to each answer and procedure, along the tree (each node's
    parent is the first menu offering it, breadth-first: the shortest way by keys)."""
    from ivr.menu.model import NodeKind

    paths: dict[str, tuple[str, ...]] = {}
    for node_id, node in menu.nodes.items():
        if node.kind not in (NodeKind.ANSWER, NodeKind.PROCEDURE):
            continue
        keys: list[str] = []
        child: str | None = node_id
        while child is not None and child != menu.start:
            parent = menu.nodes[child].parent
            if parent is not None:
                key = next((k for k, to in menu.nodes[parent].options.items() if to == child), None)
                if key is None:
                    break  # reached through a collect, action or switch node: not by keys
                keys.append(key)
            child = parent
        if child == menu.start:
            paths[node_id] = tuple(reversed(keys))
    return paths


def reach_times(menu: Menu, duration: Duration | None = None) -> dict[str, Reach]:
    """Each answer and procedure reachable by keys, with both callers' times (module doc)."""
    from ivr.engine.flow import CallFlow
    from ivr.prompts.player import estimated_duration

    timing = duration or estimated_duration
    flow = CallFlow(menu)
    return {
        node: Reach(
            node,
            keys,
            time_to_enter(flow, node, keys, barge_in=False, duration=timing),
            time_to_enter(flow, node, keys, barge_in=True, duration=timing),
        )
        for node, keys in key_paths(menu).items()
    }


def time_to_enter(
    flow: CallFlow, node: str, keys: tuple[str, ...], *, barge_in: bool, duration: Duration
) -> float:
    """Play a call that presses ``keys`` (as soon as the prompts end, or as soon as a prompt
    names each key) and hangs up on arrival; the call time ``node`` was entered."""
    from ivr.callers.plan import PlannedCaller
    from ivr.clock import VirtualClock
    from ivr.drivers.session import Session
    from ivr.engine.events import CallEvent, EventType

    if node == flow.menu.start:
        return 0.0
    clock = VirtualClock()
    player = _TextPlayer(clock, duration)
    entered: list[float] = []

    def note(event: CallEvent, moment: float) -> None:
        if event.type is EventType.STATE and event.state == node and not entered:
            entered.append(moment)

    plan = _KeyPlan(keys, player, barge_in=barge_in)
    Session(flow, PlannedCaller(plan, clock), player, clock, [note]).run()
    if not entered:  # the keys of the tree's path lead there, or the engine has a bug
        raise RuntimeError(f"the keys {' '.join(keys)} did not lead to {node}")
    return entered[0]


class _TextPlayer:
    """Prompts timed as a text-only call times them; remembers the one being said."""

    def __init__(self, clock: VirtualClock, duration: Duration) -> None:
        self.clock = clock
        self.duration = duration
        self.text = ""
        self.started = 0.0

    def start(self, text: str) -> float:
        self.text, self.started = text, self.clock.now()
        return self.duration(text)

    def stop(self) -> None:
        return None


_SPOKEN = {"*": ("*", "＊", "星号键", "星号"), "#": ("#", "＃", "井号键", "井号")}
"""How a prompt names a key that is not a digit (the wallet says 星号键 and 井号键)."""


def named_at(text: str, key: str) -> int | None:
    """How many characters of ``text`` are said when it has named ``key`` (a digit not
    part of a longer number, or ``*``/``#`` by name), or None if it does not name it."""
    ends = []
    for name in _SPOKEN.get(key, (key,)):
        found = re.search(rf"(?<![0-9０-９]){re.escape(name)}(?![0-9０-９])", text)
        if found:
            ends.append(found.end())
    return min(ends) if ends else None


class _KeyPlan:
    """The caller's plan: the keys to a leaf, then a hang-up as soon as it is entered."""

    def __init__(self, keys: tuple[str, ...], player: _TextPlayer, *, barge_in: bool) -> None:
        self.keys = list(keys)
        self.player = player
        self.barge_in = barge_in

    def next_input(
        self, now: float, until: float, listening: bool
    ) -> tuple[float, CallerAction] | None:
        from ivr.engine.inputs import HangUp, KeyPress

        if not self.keys:
            return now, HangUp()
        key = self.keys[0]
        at = now
        if not listening:
            player = self.player
            said = named_at(player.text, key) if self.barge_in else None
            if said is None:
                return None  # the prompt goes on: asked again at the next wait
            at = max(now, player.started + player.duration(player.text[:said]))
        self.keys.pop(0)
        return at, KeyPress(key)


# -- the diagram -------------------------------------------------------------------------------


def menu_diagram(menu: Menu, reaches: dict[str, Reach]) -> Diagram:
    """The menu's nodes (title, id and kind; each leaf with its keys and times), its key
    edges and failure gotos, and a legend with the global keys and what the times assume."""
    from ivr.outputs.menu_map import Diagram, map_links

    links = map_links(menu)
    notes = {
        node: [f"keys {' '.join(r.keys)}: {r.listening:.1f} s · barge-in {r.barge_in:.1f} s"]
        for node, r in reaches.items()
    }
    legend = [f"global keys: {global_keys(menu)}", *assumptions()]
    return Diagram(
        menu,
        links,
        notes=notes,
        show_kind=True,
        class_styles={"legend": "fill:#fffde7,stroke:#9e9d24"},
        legend=legend,
        comments=[f"{menu.title} ({menu.path.name}): ivr graph", *legend],
    )


def global_keys(menu: Menu) -> str:
    from ivr.outputs.menu_map import global_keys_line

    return global_keys_line(menu) or "none"


def assumptions() -> list[str]:
    """What the times assume, said in the diagram."""
    from ivr.prompts.player import SECONDS_PER_CHARACTER

    return [
        "times: when a caller using only keys enters each answer or procedure,",
        f"played on a virtual clock, prompts text-only ({SECONDS_PER_CHARACTER} s per character),",
        "no think time. First figure: each key as soon as the prompts have ended;",
        "barge-in: each key as soon as the prompt being said has named it.",
    ]


# -- SVG ---------------------------------------------------------------------------------------
