"""Record mode: ``ivr call --record DIR`` keeps a live call so it can be replayed as a test.

The folder gets the caller's side as one WAV (microphone audio, and every key as its DTMF
tone at the moment it was pressed), the call log, and a scenario that replays the WAV as a
whole-call recording and expects the same path: the nodes entered, in order, and the
outcome. The replay runs on the recording's clock, so timing (barge-in, timeouts) is the
live call's.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ivr.engine.events import CallEvent, EventType
from ivr.outputs.paths import write_replacing

RECORDING = "caller.wav"
SCENARIO = "recorded.call.yaml"
HANG_UP_MARGIN = 2.0
"""Seconds of silence kept after a call the hotline ended (see `PathRecorder.recorded_until`)."""


@dataclass
class PathRecorder:
    """A call listener that remembers the path the call took."""

    states: list[str] = field(default_factory=list)
    outcome: str | None = None
    duration: float = 0.0

    @property
    def recorded_until(self) -> float:
        """Where the caller's recording ends. A call the hotline ended (a transfer, a goodbye)
        gets some silence past its end: the recording's end is the caller hanging up, and a
        replay whose estimated prompts run a few ms longer must not hang up first."""
        return self.duration + (0.0 if self.outcome == "abandoned" else HANG_UP_MARGIN)

    def __call__(self, event: CallEvent, moment: float) -> None:
        if event.type is EventType.STATE:
            self.states.append(event.state)
        elif event.type is EventType.CALL_END and event.outcome is not None:
            self.outcome = str(event.outcome)
            self.duration = moment


def write_scenario(
    folder: Path,
    menu: Path,
    path: PathRecorder,
    spoken: bool,
    speech: bool,
    time: dt.datetime | None = None,
) -> Path:
    """The scenario that replays ``folder/caller.wav`` and expects the recorded path.

    ``time``: when the call was made (local to its contact centre), so a replay that reaches
    the queue meets the same simulated centre the live call met.
    """
    scenario: dict[str, object] = {
        "name": f"recorded call ({' → '.join(path.states) or 'main menu only'})",
        "menu": os.path.relpath(menu.resolve(), folder.resolve()),
        "recording": RECORDING,
        "prompts": "spoken" if spoken else "estimated",
        "speech": speech,
        **({} if time is None else {"time": time.strftime("%Y-%m-%dT%H:%M:%S")}),
        "expect": {
            "states": path.states,
            "outcome": path.outcome,
            "max_duration": round(path.duration + 1.0, 1),
        },
    }
    target = folder / SCENARIO
    text = yaml.safe_dump(scenario, allow_unicode=True, sort_keys=False)
    header = "# Recorded by ivr call --record; replay: ivr test " + SCENARIO + "\n"
    write_replacing(target, lambda partial: partial.write_text(header + text, encoding="utf-8"))
    return target
