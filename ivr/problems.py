"""Menu problems as the one-line ``path:line: message`` form editors and CI can jump to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, order=True)
class MenuProblem:
    """One thing wrong with a menu file, located at a line (1-based)."""

    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class MenuInvalid(Exception):
    """A menu file that cannot be played; carries every problem found, not just the first."""

    def __init__(self, problems: list[MenuProblem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
