"""``ivr report LOGS…``: the figures of many call logs (terminal tables, HTML, JSON).

Exit status: 0 when every line of every log was read; 1 when something could not be (a
missing path, a folder without logs, unusable lines: each said as ``path:line: message``,
at most `MAX_PROBLEMS` of them) — the report of the rest is still printed and written —
or when nothing at all could be read.
"""

from __future__ import annotations

import argparse
import json
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from ivr.cli.common import console, default_menu, err, load

if TYPE_CHECKING:
    from ivr.reports.summary import Summary


def run(args: argparse.Namespace) -> int:
    from ivr.outputs.paths import write_replacing
    from ivr.reports.sources import Problems, find_logs
    from ivr.reports.summary import menu_shape, summarize
    from ivr.reports.terminal import print_comparison, print_report

    menu = load(args.menu or default_menu())
    problems = Problems()
    files = find_logs(args.logs, problems)
    try:
        summary = summarize(files, problems, menu_shape(menu))
    finally:
        for line in problems.said():
            err.print(f"ivr report: {line}", markup=False)
    said = len(problems.said())
    print_report(summary, console(args.quiet))
    reports: list[tuple[str, Summary]] = [(_named(args.logs), summary)]
    if args.compare:
        other = find_logs(args.compare, problems)
        try:
            compared = summarize(other, problems, menu_shape(menu))
        finally:
            for line in problems.said()[said:]:
                err.print(f"ivr report: {line}", markup=False)
        reports.append((_named(args.compare), compared))
        print_comparison(reports, console(args.quiet))
    if args.json is not None:
        text = json.dumps(summary.to_json(), ensure_ascii=False, indent=1) + "\n"
        write_replacing(args.json, partial(Path.write_text, data=text, encoding="utf-8"))
    if args.html is not None:
        from ivr.reports.html import heat_svg, page

        document = page(summary, heat_svg(menu, summary), problems.said(), reports)
        write_replacing(args.html, partial(Path.write_text, data=document, encoding="utf-8"))
    return 1 if problems else 0


def _named(paths: list[Path]) -> str:
    """A column's title: the logs given, by name."""
    return ", ".join(path.name or str(path) for path in paths)
