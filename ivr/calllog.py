"""The call log: JSON Lines, one event per line, flushed as it happens.

Flushing per event means a call that crashes or is killed still leaves every event up to
that moment on disk.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

from ivr.events import CallEvent


class CallLog:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO = path.open("w", encoding="utf-8")

    def __call__(self, event: CallEvent, moment: float) -> None:
        record = {"t": round(moment, 3), **event.to_record()}
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()
