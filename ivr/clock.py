"""Call time: real for a live call, virtual for scripted and recorded runs.

A virtual clock lets a call with three 5-second timeouts run in microseconds with exact,
repeatable times in its log.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the call started."""
        ...

    def sleep_until(self, moment: float) -> None:
        """Let time pass until ``moment`` (no-op if it has passed)."""
        ...


class RealClock:
    def __init__(self) -> None:
        self._origin = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self._origin

    def sleep_until(self, moment: float) -> None:
        delay = moment - self.now()
        if delay > 0:
            time.sleep(delay)


class VirtualClock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self._now = 0.0

    def now(self) -> float:
        return self._now

    def sleep_until(self, moment: float) -> None:
        self._now = max(self._now, moment)
