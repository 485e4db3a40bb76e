"""Prompt templates: ``{variable}`` and ``{variable:reading}`` in a node's texts.

The syntax is Python's ``str.format`` fields, restricted: a field is a call variable's name
(``[a-z][a-z0-9_]*``), optionally followed by one of `READINGS` after a colon; ``{{`` and
``}}`` are literal braces. No conversions, indexes or format specs: a template can name a
variable and how it is read, nothing more (so filling it cannot fail or run away).

Only the texts a node says itself are templates (``prompt``, ``short_prompt``, ``answer``,
``intro``, ``closing``, ``hold_prompt``); steps (the guide's words) and the messages are
said as written. Parsing lives here (the checker and the engine share it); reading a value
aloud is ``ivr.engine.readings``.
"""

from __future__ import annotations

import re
import string
from typing import NamedTuple

READINGS = ("money", "date", "time", "digits", "number", "text")
"""How a value may be read: 一百二十三元四角五分, 二零二六年十二月二日, 十四点零五分, 幺三八…
(digit by digit), 一百二十三, or the text as it is. Without a reading, a value is read by
its type: amounts as money, dates as dates, times as times, integers as numbers, text as
text."""

TEMPLATE_FIELDS = ("prompt", "short_prompt", "answer", "intro", "closing", "hold_prompt")
"""The node texts that are templates."""

_NAME = re.compile(r"[a-z][a-z0-9_]*")


class Field(NamedTuple):
    name: str
    reading: str
    """One of READINGS, or "" (by the value's type)."""


class TemplateError(ValueError):
    """What is wrong with a template, in words for ``ivr check``."""


def parse(text: str) -> list[tuple[str, Field | None]]:
    """The template as (literal text, field or None) pairs; TemplateError if malformed."""
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as error:
        raise TemplateError(
            f"not a valid template ({error}); write {{{{ and }}}} for literal braces"
        ) from None
    parsed: list[tuple[str, Field | None]] = []
    for literal, name, spec, conversion in parts:
        if name is None:
            parsed.append((literal, None))
            continue
        if conversion or not _NAME.fullmatch(name):
            shown = name if len(name) <= 20 else name[:19] + "…"
            raise TemplateError(
                f"{{{shown}}} is not a call variable: write {{name}} or {{name:reading}} "
                "({{ and }} for literal braces)"
            )
        if spec and spec not in READINGS:
            raise TemplateError(
                f"unknown reading {{{name}:{spec[:20]}}} (readings: {', '.join(READINGS)})"
            )
        parsed.append((literal, Field(name, spec or "")))
    return parsed


def fields(text: str) -> list[Field]:
    """The fields of a well-formed template, in order."""
    return [field for _, field in parse(text) if field is not None]


def is_template(text: str) -> bool:
    """Whether ``text`` has anything to fill (a brace): plain texts are said as they are."""
    return "{" in text or "}" in text
