"""``ivr test``: run call scenarios and check them."""

from __future__ import annotations

import argparse

from ivr.cli.common import console, err, on_the_line


def run(args: argparse.Namespace) -> int:
    """Run the scenarios, print a line each and the summary; write the reports asked for."""
    from ivr.scenarios.report import run_cli

    if args.model is not None:  # a --model that names nothing: one line, before any run
        from ivr.hearing.models import find_model

        find_model(args.model, "", None)
    for report in (args.junit, args.coverage):
        if report is not None:  # checked already; created as --log's folder always was
            report.parent.mkdir(parents=True, exist_ok=True)
    return run_cli(
        args.paths,
        junit=args.junit,
        coverage=args.coverage,
        out=console(),
        err=err.console,
        line=on_the_line(args),
        artifacts=args.out,
        model=args.model,
    )
