"""A caller who speaks recorded utterances, on a virtual clock: ``ivr call --audio a.wav b.wav``.

Each recording is one utterance, said once the hotline has finished speaking (after a
short think time), or, when its name is given with a leading ``!``, one second into the
prompt being said (barge-in). The audio goes through the real recognizer chunk by chunk
while the virtual clock moves with the audio, so end-of-speech and timers behave as on a
phone line, faster than real time. When the recordings run out the caller hangs up; so
does a caller whose recording cannot be read to its end (``ClipCaller.read_error``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import numpy as np

from ivr.audio.phone_line import LineModel, through_line
from ivr.audio.wav import Audio, AudioClip, open_wav
from ivr.callers.plan import SPEECH_RATE, PlannedCaller, Speech
from ivr.clock import VirtualClock
from ivr.engine.inputs import HangUp
from ivr.hearing.tracker import UtteranceTracker

RATE = SPEECH_RATE
TRAILING_SILENCE = 2.0
"""Silence after each recording, so the recognizer can hear that the caller stopped."""

BARGE_IN = "!"


@dataclass(frozen=True)
class SaidClip:
    """One utterance: a clip in memory or a WAV file, said from its start as it is read,
    through ``line`` if one is given."""

    clip: Audio
    barge_in: bool = False
    name: str = ""
    line: LineModel | None = None


def load_clips(names: list[str], line: LineModel | None = None) -> list[SaidClip]:
    """Check ``--audio`` arguments; ``!name.wav`` barges in. Raises AudioFileError (one line).

    Every header is checked now, so a bad file stops the call before it starts, but the
    audio is read only as it is said, block by block, as a telephone test tool plays a
    file into a call: the hotline's timers and end of speech decide how much of it is
    heard, so an utterance file of hours costs no more memory than one of seconds, and no
    length limit beyond ``WAV_SECONDS`` is needed. A ``line``
    (``ivr.audio.phone_line.Line``) is applied as the file is said, also in blocks; with
    noise it first reads the file once to measure its level (see ``Line.blocks``).
    """
    recordings = []
    for name in names:
        barge_in = name.startswith(BARGE_IN)
        path = Path(name.removeprefix(BARGE_IN))
        recordings.append(SaidClip(open_wav(path), barge_in, str(path), line))
    return recordings


def speech_of(audio: Audio, line: LineModel | None = None, waits_if_unheard: bool = True) -> Speech:
    """Audio as the caller says it: through ``line``, at the recognizer's rate, with
    `TRAILING_SILENCE` after it; a WAV file is read in blocks only as it is said."""
    silence = AudioClip(np.zeros(int(RATE * TRAILING_SILENCE), dtype=np.int16), RATE)
    return Speech(chain(through_line(audio, line, RATE), [silence]), waits_if_unheard)


def speech_start(
    now: float, until: float, listening: bool, barge_in: bool, think_time: float, delay: float
) -> float | None:
    """When a caller starts to say something, if in this wait: ``think_time`` after the
    prompts end (not if that is the no-input deadline or later), or, for a barge-in,
    ``delay`` into the prompt being said (at its end at the latest)."""
    if listening:
        start = now + think_time
        return start if start < until else None
    return min(now + delay, until) if barge_in else None


class ClipsPlan:
    """Says each recording in turn, as `ClipCaller` does; hangs up when none is left."""

    def __init__(
        self, recordings: list[SaidClip], think_time: float = 0.5, barge_in_delay: float = 1.0
    ) -> None:
        self.recordings = deque(recordings)
        self.think_time = think_time
        self.barge_in_delay = barge_in_delay

    def next_input(
        self, now: float, until: float, listening: bool
    ) -> tuple[float, HangUp | Speech] | None:
        if not self.recordings:
            return (now, HangUp()) if listening else None
        recording = self.recordings[0]
        start = speech_start(
            now, until, listening, recording.barge_in, self.think_time, self.barge_in_delay
        )
        if start is None:
            return None
        self.recordings.popleft()
        return start, speech_of(recording.clip, recording.line)


class ClipCaller(PlannedCaller):
    """Recorded utterances as a session's caller, on a virtual clock."""

    def __init__(
        self,
        recordings: list[SaidClip],
        tracker: UtteranceTracker,
        clock: VirtualClock,
        think_time: float = 0.5,
        barge_in_delay: float = 1.0,
    ) -> None:
        super().__init__(ClipsPlan(recordings, think_time, barge_in_delay), clock, tracker)
