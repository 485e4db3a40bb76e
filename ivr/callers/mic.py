"""A live caller who speaks into the microphone and may press keys: ``ivr call --mic``.

A sounddevice input stream (16 kHz mono int16, 20 ms blocks) hands audio to one worker
thread that owns the recognizer; keys from the console keypad and what the recognizer
hears arrive on one queue, so the session handles them alike. With ``half_duplex`` the
microphone is ignored while a prompt plays: a laptop's own speaker would otherwise barge
in on every prompt.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

from ivr.audio.wav import AudioDeviceUnavailable, import_sounddevice
from ivr.callers.keypad import KeyboardCaller
from ivr.clock import Clock
from ivr.engine.inputs import CallerAction
from ivr.hearing.tracker import UtteranceTracker

log = logging.getLogger(__name__)

RATE = 16000
BLOCK = RATE // 50  # 20 ms
_HINT = "call without --mic (keys) or with --typed"


class MicrophoneCaller:
    """Use as a context manager: it opens the microphone and the keypad."""

    def __init__(
        self,
        tracker: UtteranceTracker,
        clock: Clock,
        device: str | int | None = None,
        half_duplex: bool = False,
        keypad_fd: int | None = None,
    ) -> None:
        self.tracker = tracker
        self.clock = clock
        self.device = device
        self.half_duplex = half_duplex
        self._inputs: queue.Queue[CallerAction] = queue.Queue()
        self._keypad = KeyboardCaller(clock, keypad_fd, inputs=self._inputs)
        self._audio: queue.Queue[bytes] = queue.Queue(maxsize=250)  # 5 s of slack
        self._lock = threading.Lock()
        self._muted = False
        self._running = False
        self._stream: Any = None
        self.audio_sink: Callable[[float, npt.NDArray[np.int16]], None] | None = None
        """Receives everything the microphone hears, with its call time (record mode)."""

    def __enter__(self) -> MicrophoneCaller:
        sd = import_sounddevice(_HINT)
        try:
            self._stream = sd.InputStream(
                samplerate=RATE,
                blocksize=BLOCK,
                device=self.device,
                channels=1,
                dtype="int16",
                callback=self._on_audio,
            )
            self._stream.start()
        except (ValueError, sd.PortAudioError) as error:
            what = "the default microphone" if self.device is None else repr(self.device)
            reason = " ".join(str(error).split())
            raise AudioDeviceUnavailable(f"cannot open {what}: {reason}; {_HINT}") from None
        self._running = True
        threading.Thread(target=self._listen, name="microphone", daemon=True).start()
        self._keypad.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._running = False
        self._keypad.__exit__(exc_type, exc, tb)
        if self._stream is not None:
            self._stream.close()

    def _on_audio(self, indata: Any, frames: int, time: Any, status: Any) -> None:
        if status:
            log.debug("microphone: %s", status)
        try:
            self._audio.put_nowait(bytes(indata))
        except queue.Full:
            log.warning("recognizer falls behind the microphone; audio dropped")

    def _listen(self) -> None:
        while self._running:
            try:
                block = self._audio.get(timeout=0.1)
            except queue.Empty:
                continue
            if self.audio_sink is not None:
                samples = np.frombuffer(block, dtype=np.int16)
                self.audio_sink(self.clock.now() - len(samples) / RATE, samples)
            with self._lock:
                if self._muted:
                    continue
                heard = self.tracker.feed(block)
            if heard is not None:
                self._inputs.put(heard)

    def expect(self, phrases: tuple[str, ...], end_of_speech: float | None) -> None:
        with self._lock:
            self.tracker.expect(phrases, end_of_speech)

    def next_input(self, until: float, listening: bool) -> CallerAction | None:
        self._muted = self.half_duplex and not listening
        try:
            return self._inputs.get(timeout=max(until - self.clock.now(), 0.0))
        except queue.Empty:
            pass
        if not listening:
            return None
        with self._lock:  # the no-input timer ran out: take what was heard, if anything
            return self.tracker.finish() if self.tracker.in_speech else None
