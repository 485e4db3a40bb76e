"""What a call leaves behind besides its log: a transcript of both sides, and a stereo WAV
of the whole call (caller left, hotline right) to listen to.

Both are call listeners. The WAV needs the caller's audio too: callers that have audio
(recordings, the microphone) hand it to `CallAudio.caller_audio`; keys become DTMF tones.
A record node's voice message is cut from the same caller channel and written beside the
call WAV under the reference its ``record`` event names (``<call-id>-message.wav``).
"""

from __future__ import annotations

import functools
import math
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ivr.audio.wav import AudioClip, to_rate
from ivr.engine.events import CallEvent, EventType
from ivr.outputs.call_log import LineFile, Warn
from ivr.outputs.catalogue import Words, outcome, record_reason, words_for
from ivr.outputs.paths import write_replacing

RATE = 16000
KEY_TONE_MS = 60
KEY_GAP = 0.05
"""Keys pressed faster than a tone and a gap are spread out, so each can still be heard
(ITU-T Q.24 receivers need 40 ms of tone and 40 ms of pause)."""


class Transcript:
    """Both sides of the call as text, one line per event, with call times, in the words
    of the menu's language (ivr/outputs/catalogue.py).

    Written line by line as the call goes; if a line cannot be written (a full disk) the
    file is removed rather than left incomplete, with one warning.
    """

    def __init__(self, path: Path, warn: Warn | None = None, language: str = "zh-CN") -> None:
        self._file = LineFile(path, warn, keep_on_failure=False)
        self.words = words_for(language)

    @property
    def failure(self) -> str | None:
        """Why the transcript was given up, if it was."""
        return self._file.failure

    def __call__(self, event: CallEvent, moment: float) -> None:
        line = describe(event, self.words)
        if line:
            self._file.write_line(f"{moment:8.2f}s  {line}")

    def close(self) -> None:
        self._file.close()


def describe(event: CallEvent, words: Words | None = None) -> str:
    """One transcript line: who said or did what."""
    words = words or words_for("zh-CN")
    hotline, caller = f"{words.hotline}  ", f"{words.caller}  "
    aside = " " * 6
    match event.type:
        case EventType.PROMPT:
            return f"{hotline}{event.text}"
        case EventType.KEY:
            return caller + words.t_key.format(key=event.key)
        case EventType.DIGITS:
            return aside + words.t_digits.format(text=event.text)
        case EventType.REQUEST:
            return aside + words.t_request.format(operation=event.operation)
        case EventType.REPLY:
            reason = f" ({event.reason})" if event.reason else ""
            return aside + words.t_reply.format(result=event.result) + reason
        case EventType.RECORD:
            reason = record_reason(words, event.reason)  # the log keeps the code
            if event.reason == "start":
                return aside + words.t_record_start.format(reason=reason)
            said = words.t_record.format(reason=reason, seconds=f"{event.seconds or 0:g}")
            return aside + said + (f" → {event.text}" if event.text else "")
        case EventType.UTTERANCE:
            decision = words.decisions.get(str(event.decision), str(event.decision))
            if event.phrase:
                decision += f" → {event.phrase}"
            said = words.t_utterance.format(
                text=event.text, confidence=event.confidence, decision=decision
            )
            return caller + said
        case EventType.BARGE_IN:
            by = words.by_key if event.reason == "key" else words.by_speech
            return aside + words.t_barge_in.format(by=by)
        case EventType.NO_INPUT:
            return aside + words.t_no_input.format(count=event.count)
        case EventType.NO_MATCH:
            if event.reason == "invalid-entry":
                return aside + words.t_no_match_entry.format(text=event.text, count=event.count)
            return aside + words.t_no_match.format(count=event.count)
        case EventType.STATE:
            return f"{aside}→ {event.state} {event.text or ''}".rstrip()
        case EventType.TRANSFER:
            return aside + words.t_transfer
        case EventType.HANGUP:
            who = words.hangup_caller if event.reason == "caller" else words.hangup_hotline
            return aside + who.removeprefix("☎ ")
        case EventType.CALL_END:
            ended = outcome(words, event.outcome)
            return aside + words.t_call_end.format(outcome=ended, state=event.state)
    return ""


class CallAudio:
    """Collects both sides of a call and writes them as one stereo WAV."""

    def __init__(
        self, prompt_audio: Callable[[str], AudioClip] | None, keys_as_tones: bool = True
    ) -> None:
        self.prompt_audio = prompt_audio
        self.keys_as_tones = keys_as_tones
        self._keys_free_at = 0.0
        """False when the caller's audio already holds its keys (a whole-call recording)."""
        self._caller: list[tuple[float, npt.NDArray[np.int16]]] = []
        self._hotline: list[tuple[float, npt.NDArray[np.int16]]] = []
        self._tones: list[tuple[float, npt.NDArray[np.int16]]] = []
        """The tones of the keys pressed outside sensitive entries (never silenced)."""
        self._muted: list[tuple[float, float]] = []
        """Call times the caller's channel is silenced: sensitive entries (PCI "pause")."""
        self._muted_since: float | None = None
        self._recording_since = 0.0
        self.messages: list[tuple[str, float, float]] = []
        """Voice messages kept: (reference, start, end) in call time."""

    def __call__(self, event: CallEvent, moment: float) -> None:
        if event.type in (EventType.STATE, EventType.CALL_START, EventType.CALL_END):
            self._mute(bool(event.sensitive), moment)
        if event.type is EventType.RECORD:
            if event.reason == "start":
                self._recording_since = moment
            elif event.text and event.seconds is not None:
                start = self._recording_since
                self.messages.append((event.text, start, start + event.seconds))
        if event.type is EventType.PROMPT and event.text and self.prompt_audio is not None:
            self._cut_hotline(moment)  # a prompt timed by an estimate may run longer
            clip = to_rate(self.prompt_audio(event.text), RATE)
            self._hotline.append((moment, clip.samples))
        elif event.type is EventType.BARGE_IN:
            self._cut_hotline(moment)
        elif (
            event.type is EventType.KEY and event.key and self.keys_as_tones and not event.sensitive
        ):
            from ivr.audio.dtmf import generate

            tone = to_rate(generate(event.key, rate=8000, tone_ms=KEY_TONE_MS, gap_ms=0), RATE)
            start = max(moment, self._keys_free_at)
            self._tones.append((start, tone.samples))
            self._keys_free_at = start + tone.duration + KEY_GAP

    def _mute(self, sensitive: bool, moment: float) -> None:
        """A sensitive entry starts (the call entered its node) or ends (it left)."""
        if sensitive and self._muted_since is None:
            self._muted_since = moment
        elif not sensitive and self._muted_since is not None:
            self._muted.append((self._muted_since, moment))
            self._muted_since = None

    def _caller_track(self) -> npt.NDArray[np.int16]:
        """The caller's side: their audio silent wherever a sensitive entry was being
        collected (a sensitive key makes no tone at all), and the other keys' tones."""
        speech = _mix(self._caller)
        spans = self._muted + (
            [(self._muted_since, math.inf)] if self._muted_since is not None else []
        )
        for start, end in spans:
            speech[int(start * RATE) : int(min(end * RATE, len(speech)))] = 0
        return _mix([(0.0, speech), *self._tones]) if self._tones else speech

    def caller_audio(self, start: float, samples: npt.NDArray[np.int16]) -> None:
        """Audio the caller sent, starting at call time ``start`` (16 kHz mono)."""
        self._caller.append((start, samples))

    def _cut_hotline(self, moment: float) -> None:
        """The hotline's last prompt stops at ``moment`` if it was still being said."""
        if self._hotline:
            start, samples = self._hotline[-1]
            self._hotline[-1] = (start, samples[: max(int((moment - start) * RATE), 0)])

    def write_caller(self, path: Path, until: float = 0.0) -> None:
        """The caller's side alone, as a mono WAV: a whole-call recording to replay.

        It lasts at least ``until`` (the end of the call), so a replay hangs up when the
        caller did.
        """
        from ivr.audio.wav import write_wav

        track = self._caller_track()
        padding = max(int(until * RATE) - len(track), 0)
        clip = AudioClip(np.concatenate([track, np.zeros(padding, np.int16)]), RATE)
        write_replacing(path, lambda partial: write_wav(partial, clip))

    def write_messages(self, folder: Path) -> None:
        """Each voice message as a mono WAV in ``folder``: the caller's channel from the
        end of the beep for the message's length. A caller with no audio (keys only)
        left silence there, and that is what the file holds."""
        track = self._caller_track()
        for name, start, end in self.messages:
            part = track[int(start * RATE) : int(end * RATE)]
            padding = max(int(end * RATE) - int(start * RATE) - len(part), 0)
            clip = AudioClip(np.concatenate([part, np.zeros(padding, np.int16)]), RATE)
            target = folder / Path(name).name  # a reference is a file name, never a path
            write_replacing(target, functools.partial(_write_clip, clip=clip))

    def write(self, path: Path) -> None:
        """The stereo WAV, complete or not at all: an OSError leaves no file at ``path``;
        then the call's voice messages beside it."""
        self._write_stereo(path)
        self.write_messages(path.parent)

    def _write_stereo(self, path: Path) -> None:
        left = self._caller_track()
        right = _mix(self._hotline)
        length = max(len(left), len(right))
        stereo = np.zeros((length, 2), np.int16)
        stereo[: len(left), 0] = left
        stereo[: len(right), 1] = right

        def write_stereo(partial: Path) -> None:
            with wave.open(str(partial), "wb") as out:
                out.setnchannels(2)
                out.setsampwidth(2)
                out.setframerate(RATE)
                out.writeframes(stereo.astype("<i2").tobytes())

        write_replacing(path, write_stereo)


def _write_clip(partial: Path, clip: AudioClip) -> None:
    from ivr.audio.wav import write_wav

    write_wav(partial, clip)


def _mix(parts: list[tuple[float, npt.NDArray[np.int16]]]) -> npt.NDArray[np.int16]:
    """The parts added into one track. ``parts`` is copied first: a live microphone may
    still be appending to it (a call kept with --record is written before the microphone
    stops), and a part appended between sizing the track and adding it did not fit."""
    parts = list(parts)
    if not parts:
        return np.zeros(0, np.int16)
    end = max(int(start * RATE) + len(samples) for start, samples in parts)
    track = np.zeros(end, np.int32)
    for start, samples in parts:
        at = int(start * RATE)
        track[at : at + len(samples)] += samples
    return np.clip(track, -32768, 32767).astype(np.int16)
