"""A caller population for ``ivr simulate``: who calls, why, how well they know the menu.

A population file (YAML, ``menus/population.sample.yaml``) says:

- ``start``: the local date and time of the first moment (the contact centre's hours
  apply), ``arrivals_per_hour``: callers arrive at random (Poisson) at that rate;
- ``intents``: what callers want, each a node of the menu to reach (``target``; ``agent``:
  an agent) with its ``share``; the keys that lead there are found in each menu, so the same
  population goes through two designs (``--compare``);
- ``knowledge``: shares of callers who ``wait`` for each prompt to end before pressing, who
  ``type_ahead`` (press during the prompt: barge-in);
- ``wrong_key`` and ``silence``: the chance, at each key, of pressing a key with no option
  or of saying nothing (the no-input timeout);
- ``patience``: seconds a caller stays in the menu without reaching their goal, and in the
  queue, before hanging up (uniform between the two numbers given);
- ``callback``: the chance of accepting a callback when offered;
- ``speech``: the share who speak instead of pressing. Simulated speech needs a recognizer
  model and synthesized audio for every utterance, which a simulation of 10⁵ callers cannot
  afford, so this must be 0 for now (keys only); the file says so rather than pretend.

A caller is a `CallerPlan`: asked at each wait, it presses its next key (after a think time,
or during the prompt if it types ahead), hangs up when its patience runs out, and once its
goal is reached hangs up at the next turn (an answer heard to its end, then the menu).
"""

from __future__ import annotations

import datetime as dt
import random
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivr.engine.inputs import CallerAction, HangUp, KeyPress
from ivr.limits import POPULATION_INTENTS, TIMER_SECONDS
from ivr.menu.model import GlobalAction, Menu, NodeKind
from ivr.menu.problems import MenuInvalid, MenuProblem

AGENT = "agent"
"""The intent target that asks for an agent (the menu's agent key)."""


@dataclass(frozen=True)
class Intent:
    target: str
    share: float


@dataclass(frozen=True)
class Population:
    path: Path
    start: dt.datetime
    arrivals_per_hour: float
    intents: tuple[Intent, ...]
    type_ahead: float = 0.2
    """Share of callers who press during the prompts (the rest wait for them to end)."""
    wrong_key: float = 0.03
    silence: float = 0.02
    think: tuple[float, float] = (1.0, 3.0)
    menu_patience: tuple[float, float] = (120.0, 600.0)
    queue_patience: tuple[float, float] = (60.0, 900.0)
    callback: float = 0.5
    speech: float = 0.0


_FIELDS = {
    "start",
    "arrivals_per_hour",
    "intents",
    "knowledge",
    "wrong_key",
    "silence",
    "think",
    "patience",
    "callback",
    "speech",
}


def load_population(path: Path) -> Population:
    """Read and check a population file; MenuInvalid with ``path:line: message`` problems."""
    from ivr.menu.source import line_of, load_located

    doc, problems = load_located(path)

    def problem(location: list[Any], message: str) -> None:
        problems.append(MenuProblem(path, line_of(doc, location), message))

    if not isinstance(doc, Mapping):
        raise MenuInvalid([MenuProblem(path, 1, "a population is a YAML mapping of fields")])
    for name in doc:
        if name not in _FIELDS:
            problem([name], f"unknown field {name!r} (allowed: {', '.join(sorted(_FIELDS))})")

    def share(location: list[Any], value: Any, default: float) -> float:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            problem(location, f"{'/'.join(map(str, location))}: {value!r} is not a share (0-1)")
            return default
        return float(value)

    def span(location: list[Any], value: Any, default: tuple[float, float]) -> tuple[float, float]:
        if value is None:
            return default
        ok = (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
            and 0 <= value[0] <= value[1] <= TIMER_SECONDS
        )
        if not ok:
            problem(
                location,
                f"{'/'.join(map(str, location))}: give [low, high] seconds, "
                f"0 <= low <= high <= {TIMER_SECONDS:g} (limit TIMER_SECONDS)",
            )
            return default
        return float(value[0]), float(value[1])

    start = dt.datetime(2026, 3, 16, 10, 0)
    if "start" in doc:
        try:
            start = dt.datetime.fromisoformat(str(doc["start"]))
        except ValueError:
            problem(["start"], f"start: {doc['start']!r} is not a date and time")
    rate = doc.get("arrivals_per_hour")
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate <= 1e6:
        problem(["arrivals_per_hour"], "arrivals_per_hour: a number of calls per hour (0-1e6]")
        rate = 1.0
    intents: list[Intent] = []
    raw_intents = doc.get("intents")
    if not isinstance(raw_intents, list) or not raw_intents:
        problem(["intents"], "intents: a list of {target, share}")
        raw_intents = []
    if len(raw_intents) > POPULATION_INTENTS:
        problem(["intents"], f"intents: at most {POPULATION_INTENTS} (limit POPULATION_INTENTS)")
        raw_intents = []
    for index, raw in enumerate(raw_intents):
        here = ["intents", index]
        if not isinstance(raw, Mapping) or not isinstance(raw.get("target"), str):
            problem(here, f"intents/{index}: give a target (a node id, or agent) and a share")
            continue
        weight = raw.get("share")
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
            problem([*here, "share"], f"intents/{index}/share: a number >= 0")
            continue
        intents.append(Intent(raw["target"], float(weight)))
    if intents and sum(intent.share for intent in intents) <= 0:
        problem(["intents"], "intents: the shares add up to 0")
    knowledge = doc.get("knowledge", {})
    if not isinstance(knowledge, Mapping):
        problem(["knowledge"], "knowledge: a mapping with type_ahead (a share)")
        knowledge = {}
    patience = doc.get("patience", {})
    if not isinstance(patience, Mapping):
        problem(["patience"], "patience: a mapping with menu and queue ([low, high] seconds)")
        patience = {}
    speech = share(["speech"], doc.get("speech"), 0.0)
    if speech > 0:
        problem(
            ["speech"],
            "speech: simulated callers keep to keys for now (speech needs a recognizer model "
            "and synthesized audio for every utterance); set it to 0",
        )
    population = Population(
        path=path,
        start=start,
        arrivals_per_hour=float(rate),
        intents=tuple(intents),
        type_ahead=share(["knowledge", "type_ahead"], knowledge.get("type_ahead"), 0.2),
        wrong_key=share(["wrong_key"], doc.get("wrong_key"), 0.03),
        silence=share(["silence"], doc.get("silence"), 0.02),
        think=span(["think"], doc.get("think"), (1.0, 3.0)),
        menu_patience=span(["patience", "menu"], patience.get("menu"), (120.0, 600.0)),
        queue_patience=span(["patience", "queue"], patience.get("queue"), (60.0, 900.0)),
        callback=share(["callback"], doc.get("callback"), 0.5),
        speech=speech,
    )
    if problems:
        raise MenuInvalid(problems)
    return population


def key_paths(menu: Menu, population: Population) -> dict[str, str]:
    """The keys that lead from the start to each intent's target in ``menu`` (the shortest,
    by menu options); MenuInvalid naming the population's targets the menu cannot reach."""
    agent = next((k for k, a in menu.global_keys.items() if a is GlobalAction.AGENT), None)
    paths: dict[str, str] = {menu.start: ""}
    queue = deque([menu.start])
    while queue:
        node = menu.nodes[queue.popleft()]
        if node.kind is not NodeKind.MENU:
            continue
        for key, target in node.options.items():
            if target not in paths:
                paths[target] = paths[node.id] + key
                queue.append(target)
    found: dict[str, str] = {}
    problems = []
    for intent in population.intents:
        if intent.target == AGENT:
            if agent is None:
                problems.append(
                    MenuProblem(population.path, 1, f"{menu.path}: the menu has no agent key")
                )
            else:
                found[AGENT] = agent
        elif intent.target in paths:
            found[intent.target] = paths[intent.target]
        else:
            problems.append(
                MenuProblem(
                    population.path,
                    1,
                    f"target {intent.target!r}: no menu option of {menu.path} leads there",
                )
            )
    if problems:
        raise MenuInvalid(problems)
    return found


class PopulationCaller:
    """One caller of a population (a `CallerPlan`): its keys, habits and patience."""

    __slots__ = (
        "accepts_callback",
        "done",
        "gave_up_at",
        "keys",
        "population",
        "queue_patience",
        "rng",
        "started",
        "type_ahead",
        "wrong_keys",
    )

    def __init__(
        self,
        population: Population,
        keys: str,
        rng: random.Random,
        started: float,
        wrong_keys: str,
        callback_key: str | None = None,
    ) -> None:
        self.population = population
        self.rng = rng
        self.keys = deque(keys)
        self.started = started
        self.type_ahead = rng.random() < population.type_ahead
        self.gave_up_at = started + rng.uniform(*population.menu_patience)
        self.queue_patience = rng.uniform(*population.queue_patience)
        self.accepts_callback = callback_key if rng.random() < population.callback else None
        """The key to press at a callback offer (callers who want an agent), or None."""
        self.wrong_keys = wrong_keys
        """Keys that are no option of the start menu (for a wrong key)."""
        self.done: float | None = None
        """When the last key of the path was pressed."""

    def next_input(
        self, now: float, until: float, listening: bool
    ) -> tuple[float, CallerAction] | None:
        rng, population = self.rng, self.population
        if self.done is not None:  # the goal reached: an answer heard, or the queue
            if listening:
                if self.keys:  # the callback offer (queue) or the offer with no agent
                    key = self.keys.popleft()
                    return now + rng.uniform(*population.think), KeyPress(key)
                return now, HangUp()
            give_up = self.done + self.queue_patience
            return (max(give_up, now), HangUp()) if give_up <= until else None
        if self.gave_up_at <= until and (not listening or now >= self.gave_up_at):
            return max(self.gave_up_at, now), HangUp()
        if not self.keys:
            return None
        if listening:
            if rng.random() < population.silence:
                return None
            at = now + rng.uniform(*population.think)
        elif self.type_ahead:
            at = now + rng.uniform(0.5, 2.0)
            if at >= until:
                return None
        else:
            return None
        if at > self.gave_up_at:
            return (self.gave_up_at, HangUp()) if self.gave_up_at <= until else None
        if self.wrong_keys and rng.random() < population.wrong_key:
            return at, KeyPress(rng.choice(self.wrong_keys))
        key = self.keys.popleft()
        if not self.keys:
            self.done = at
            if self.accepts_callback is not None:
                self.keys.append(self.accepts_callback)
        return at, KeyPress(key)
