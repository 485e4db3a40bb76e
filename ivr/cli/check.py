"""``ivr check``: validate menu files, and their phrases against a speech model."""

from __future__ import annotations

import argparse

from ivr.cli import common
from ivr.cli.common import console, default_menu, err, load
from ivr.errors import IvrError


def run(args: argparse.Namespace) -> int:
    """Check each menu (and, with --model, its phrases against the model); every problem
    is a ``path:line: message`` line."""
    from ivr.menu.problems import MenuInvalid

    paths = args.menus or [default_menu()]
    failed = False
    for path in paths:
        try:
            menu = load(path)
        except MenuInvalid as invalid:
            failed = True
            for problem in invalid.problems:
                err.print(str(problem), markup=False)
            continue
        if args.model is not None:
            from ivr.hearing.phrase_check import phrases_missing_from_model

            try:
                model = common.model(menu, args.model)
            except IvrError as error:
                err.print(f"ivr check: {error}", markup=False)
                return 1
            for problem in phrases_missing_from_model(menu, model):
                failed = True
                err.print(str(problem), markup=False)
    if not failed:
        console().print(f"{len(paths)} menu file(s) OK", markup=False)
    return 1 if failed else 0
