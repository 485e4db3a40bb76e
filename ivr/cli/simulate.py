"""``ivr simulate``: a caller population through one menu, or two side by side."""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ivr.cli.common import console, default_menu, load

if TYPE_CHECKING:
    from ivr.menu.model import Menu


def run(args: argparse.Namespace) -> int:
    """Simulate ``--calls`` callers of ``--population`` through the menu (and ``--compare``),
    write the logs into ``--out`` and print the summary; with ``--compare``, then the
    report's side by side of the two logs (what ``ivr report A --compare B`` prints)."""
    from ivr.drivers.population import load_population
    from ivr.drivers.simulation import simulate, write_summary

    population = load_population(args.population)
    menus = [load(args.menu or default_menu())]
    if args.compare is not None:
        menus.append(load(args.compare))
    summaries = []
    with contextlib.ExitStack() as outer:
        folder = args.out
        if folder is None and args.compare is not None:
            # the side by side is the report's, read from the logs: kept until printed
            folder = Path(outer.enter_context(tempfile.TemporaryDirectory(prefix="ivr-sim-")))
        logs = []
        for index, menu in enumerate(menus):
            with contextlib.ExitStack() as stack:
                log = None
                if folder is not None:
                    folder.mkdir(parents=True, exist_ok=True)
                    path = _log_path(folder, menu.path, index)
                    logs.append(path)
                    log = stack.enter_context(path.open("w", encoding="utf-8"))
                summaries.append(simulate(menu, population, args.calls, args.seed, log))
        console().print(write_summary(summaries), markup=False, highlight=False)
        if args.compare is not None:
            _side_by_side(list(zip(menus, logs, strict=True)))
    return 0


def _side_by_side(runs: list[tuple[Menu, Path]]) -> None:
    """Each run's log summarised as ``ivr report`` does (each with its own menu's shape),
    printed by the report's own comparison."""
    from ivr.reports.sources import Problems
    from ivr.reports.summary import menu_shape, summarize
    from ivr.reports.terminal import print_comparison

    reports = []
    for menu, log in runs:
        reports.append((log.name, summarize([log], Problems(), menu_shape(menu))))
    print_comparison(reports, console())


def _log_path(folder: Path, menu: Path, index: int) -> Path:
    name = menu.name.removesuffix(".yaml")
    return folder / (f"{name}.jsonl" if index == 0 else f"{name}.compare.jsonl")
