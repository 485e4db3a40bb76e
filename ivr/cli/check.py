"""``ivr check``: validate menu files, and their phrases against a speech model."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ivr.cli.common import console, default_menu, err, load
from ivr.errors import IvrError

if TYPE_CHECKING:
    from ivr.menu.model import Menu


def run(args: argparse.Namespace) -> int:
    """Check each menu, its prompt recordings (and, with --model, its phrases against the
    model); every problem is a ``path:line: message`` or ``path: message`` line."""
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
        for line in _recordings(menu):
            failed = True
            err.print(line, markup=False)
        if args.model is not None:
            from ivr import wiring
            from ivr.hearing.phrase_check import confusable_phrases, phrases_missing_from_model
            from ivr.hearing.recognizer import model_words

            try:  # the words are all a phrase check needs: the model itself is not loaded
                model_dir = wiring.model_path(args.model, menu)
                words = model_words(model_dir)
            except IvrError as error:
                err.print(f"ivr check: {error}", markup=False)
                return 1
            for problem in phrases_missing_from_model(menu, words, model_dir.name):
                failed = True
                err.print(str(problem), markup=False)
            for problem in confusable_phrases(menu, model_dir.name):
                failed = True
                err.print(str(problem), markup=False)
    if not failed:
        console().print(f"{len(paths)} menu file(s) OK", markup=False)
    return 1 if failed else 0


def _recordings(menu: Menu) -> list[str]:
    """Recordings of no prompt, and prompts whose text changed after they were recorded."""
    from ivr import wiring
    from ivr.prompts.recordings import problems

    return problems(wiring.recordings_folder(menu), menu.prompts())
