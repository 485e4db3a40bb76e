"""``ivr simulate``: a caller population through one menu, or two side by side."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import IO

from ivr.cli.common import console, default_menu, load


def run(args: argparse.Namespace) -> int:
    """Simulate ``--calls`` callers of ``--population`` through the menu (and ``--compare``),
    write the logs into ``--out`` and print the summary."""
    from ivr.drivers.population import load_population
    from ivr.drivers.simulation import simulate, write_summary

    population = load_population(args.population)
    menus = [load(args.menu or default_menu())]
    if args.compare is not None:
        menus.append(load(args.compare))
    summaries = []
    for index, menu in enumerate(menus):
        with contextlib.ExitStack() as stack:
            log = None
            if args.out is not None:
                args.out.mkdir(parents=True, exist_ok=True)
                log = stack.enter_context(_log_file(args.out, menu.path, index))
            summaries.append(simulate(menu, population, args.calls, args.seed, log))
    console().print(write_summary(summaries), markup=False, highlight=False)
    return 0


def _log_file(folder: Path, menu: Path, index: int) -> IO[str]:
    name = menu.name.removesuffix(".yaml")
    path = folder / (f"{name}.jsonl" if index == 0 else f"{name}.compare.jsonl")
    return path.open("w", encoding="utf-8")
