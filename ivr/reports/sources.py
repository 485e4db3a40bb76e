"""Which files a report reads, and what is wrong in them, as ``path:line: message``.

Folders are searched for ``*.jsonl`` (recursively, sorted); files are read whatever their
name. DuckDB reads every line it can (`ivr.reports.summary`); a line it cannot use becomes
a row without ``t``, ``type`` or ``state``, which it counts per file. Only the files with
such rows are read again here, line by line with a bounded line length, to say where and
why — so a clean million-call set costs no second pass.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ivr.errors import IvrError

MAX_LINE = 64 * 1024 * 1024
"""The longest line read (bytes): DuckDB's ``maximum_object_size`` too. A call log's line
is one event, well under a kilobyte; a longer one is reported, not read into memory."""

MAX_PROBLEMS = 20
"""Problems said one per line; the rest are counted in one more line."""

REQUIRED = {"t": "a number", "type": "a string", "state": "a string"}
"""What every event must have for the report to use it."""


class NoLogs(IvrError):
    """No call log to read at all (every path missing or empty, or no usable event)."""


@dataclass
class Problems:
    """What is wrong in the input, bounded: the first ``MAX_PROBLEMS`` said, the rest counted."""

    lines: list[str] = field(default_factory=list)
    more: int = 0

    def add(self, line: str) -> None:
        if len(self.lines) < MAX_PROBLEMS:
            self.lines.append(line)
        else:
            self.more += 1

    def __bool__(self) -> bool:
        return bool(self.lines)

    def __len__(self) -> int:
        return len(self.lines) + self.more

    def said(self) -> list[str]:
        """The lines to print: each problem, then how many more were not said."""
        extra = [f"… and {self.more} more problems"] if self.more else []
        return [*self.lines, *extra]


def find_logs(paths: Sequence[Path], problems: Problems) -> list[Path]:
    """The log files named or found in the folders named, each once, in the order given
    (a folder's files sorted); a missing path or a folder without logs is a problem."""
    found: dict[Path, None] = {}
    for path in paths:
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*.jsonl") if p.is_file())
            if not inside:
                problems.add(f"{path}: no call logs (*.jsonl) in this folder")
            found.update(dict.fromkeys(inside))
        elif path.is_file():
            found[path] = None
        elif path.exists():
            problems.add(f"{path}: not a file or a folder")
        else:
            problems.add(f"{path}: no such file or folder")
    return list(found)


def scan(path: Path, problems: Problems, limit: int = MAX_LINE) -> int:
    """Say each unusable line of ``path`` (its number and why); the number of them.

    A file whose first line is binary (a WAV, an archive) is said once as not a call log."""
    bad = 0
    try:
        with path.open("rb") as stream:
            for number, (line, complete) in enumerate(_lines(stream, limit), start=1):
                why = _why_unusable(line, complete, limit)
                if why is None:
                    continue
                bad += 1
                if number == 1 and _binary(line):
                    problems.add(f"{path}:{number}: not a call log (JSON Lines): {why}")
                    return bad + sum(1 for _ in stream)
                problems.add(f"{path}:{number}: {why}")
    except OSError as error:
        problems.add(f"{path}: {error.strerror or error}")
    return bad


def _binary(line: bytes) -> bool:
    return b"\x00" in line or not line.lstrip()[:1].isascii()


def _lines(stream: BinaryIO, limit: int) -> Iterator[tuple[bytes, bool]]:
    """Each line (without its end) and whether it was read whole: a longer line yields its
    first ``limit`` bytes, the rest skipped in chunks (never all in memory)."""
    read = stream.readline
    while True:
        line: bytes = read(limit + 1)
        if not line:
            return
        if len(line) > limit and not line.endswith(b"\n"):
            while (rest := read(1 << 20)) and not rest.endswith(b"\n"):
                pass
            yield line[:limit], False
            continue
        yield line.rstrip(b"\r\n"), True


def _why_unusable(line: bytes, complete: bool, limit: int) -> str | None:
    """Why one line is no event the report can use, or None if it is one (blank lines are
    skipped, as DuckDB skips them)."""
    if not complete:
        return f"line longer than {limit:,} bytes: skipped"
    if not line.strip():
        return None
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"not UTF-8 (byte {error.start + 1})"
    try:
        record = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        message = error.msg if isinstance(error, json.JSONDecodeError) else "nested too deep"
        return f"not a JSON object: {message}"
    if not isinstance(record, dict):
        return f"not a JSON object: {type(record).__name__}"
    for name, kind in REQUIRED.items():
        value = record.get(name)
        ok = (
            isinstance(value, str)
            if kind == "a string"
            else isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
        )
        if not ok:
            return f"{name!r} must be {kind}" if name in record else f"no {name!r}"
    return None
