"""``ivr check --model M``: every phrase a caller may say must be made of the model's words.

Vosk drops a grammar phrase with an unknown word with only a log line; callers would then
be unable to say it. This finds such phrases before a call does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ivr.engine.flow import CallFlow
from ivr.menu.problems import MenuProblem

if TYPE_CHECKING:
    from ivr.hearing.recognizer import VoskModel
    from ivr.menu.model import Menu


def phrases_missing_from_model(menu: Menu, model: VoskModel) -> list[MenuProblem]:
    """One problem per phrase with words the model does not know, at the phrase's line."""
    from ivr.hearing.recognizer import UnknownWords

    lines = menu.path.read_text(encoding="utf-8").splitlines()
    flow = CallFlow(menu)
    phrases = dict.fromkeys(phrase for grammar in flow.all_grammars() for phrase in grammar)
    problems = []
    for phrase in phrases:
        try:
            model.vocabulary.segment(phrase)
        except UnknownWords as unknown:
            missing = " ".join(unknown.missing)
            problems.append(
                MenuProblem(
                    menu.path,
                    _line_of(lines, phrase),
                    f"phrase {phrase!r} cannot be recognized: {missing} not in {model.path.name}",
                )
            )
    return problems


def _line_of(lines: list[str], phrase: str) -> int:
    """The first line that names the phrase (it may come from a default: then line 1)."""
    return next((number for number, line in enumerate(lines, 1) if phrase in line), 1)
