"""Menu problems as the one-line ``path:line: message`` form editors and CI can jump to.

A problem is always one short printable line, whatever the file held: control characters,
line separators and bidi overrides are escaped, values are quoted as short excerpts, and a
message is cut at ``MESSAGE_CHARS``. A hostile file therefore cannot write megabytes of
error text, dump its own content or drive the terminal.
"""

from __future__ import annotations

import reprlib
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivr.errors import IvrError

MESSAGE_CHARS = 400
"""Longest problem message; longer ones are cut (the excerpts in them are shorter still)."""
MAX_PROBLEMS = 100
"""Most problems reported at once; a note says that more were found (a 200 kB list of
wrong values would otherwise print a line for each)."""

_UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
"""Unicode categories escaped on output: controls, format (bidi), surrogates, line breaks."""


def printable(text: str) -> str:
    """``text`` on one line with every control, format or separator character escaped."""
    if text.isprintable():
        return text
    return "".join(
        ch.encode("unicode_escape").decode("ascii")
        if unicodedata.category(ch) in _UNPRINTABLE
        else ch
        for ch in text
    )


def shorten(text: str, limit: int = 60) -> str:
    """``text`` made printable and cut to about ``limit`` characters."""
    cut = text[: limit * 2] if len(text) > limit * 2 else text  # bound the work first
    shown = printable(cut)
    if len(shown) > limit or len(cut) < len(text):
        return shown[: limit - 1] + "…"
    return shown


class _ShortRepr(reprlib.Repr):
    """reprlib's bounded repr, also for the Located containers the YAML loader builds."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 2
        self.maxdict = self.maxlist = self.maxtuple = self.maxset = 4
        self.maxstring = self.maxother = self.maxlong = 40

    def repr1(self, x: Any, level: int) -> str:
        if isinstance(x, dict):
            return self.repr_dict(x, level)
        if isinstance(x, list):
            return self.repr_list(x, level)
        return super().repr1(x, level)


_SHORT = _ShortRepr()


def excerpt(value: Any, limit: int = 60) -> str:
    """A value as a short one-line quote: ``'abc…'``, ``[1, 2, ...]``; never the whole thing."""
    return shorten(_SHORT.repr(value), limit)


@dataclass(frozen=True, order=True)
class MenuProblem:
    """One thing wrong with a menu file, located at a line (1-based)."""

    path: Path
    line: int
    message: str

    def __post_init__(self) -> None:
        clean = shorten(self.message, MESSAGE_CHARS)
        if clean != self.message:
            object.__setattr__(self, "message", clean)

    def __str__(self) -> str:
        return f"{printable(str(self.path))}:{self.line}: {self.message}"


class MenuInvalid(IvrError):
    """A menu file that cannot be played; carries every problem found, not just the first."""

    def __init__(self, problems: list[MenuProblem]) -> None:
        self.problems = sorted(problems)
        if len(self.problems) > MAX_PROBLEMS:
            last = self.problems[MAX_PROBLEMS - 1]
            more = f"more problems not shown (at most {MAX_PROBLEMS} are reported)"
            self.problems = [*self.problems[:MAX_PROBLEMS], MenuProblem(last.path, last.line, more)]
        super().__init__("\n".join(str(p) for p in self.problems))

    def lines(self, command: str) -> list[str]:
        """One ``path:line: message`` per problem (no command name: an editor reads them)."""
        return [str(problem) for problem in self.problems]
