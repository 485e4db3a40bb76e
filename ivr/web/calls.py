"""Web calls: each runs through the same `Session`, timeline and wiring as ``ivr call``.

A web call is a live call on a real clock in a thread of its own, as a console call is in
the main thread: the session blocks on its caller (`WebCaller`: a queue the WebSocket fills
with keys, speech the recognizer heard and the hang-up), says prompts through its player
(`WebPlayer`: the prompt's duration from the rendered clip, as ``RenderingPlayer`` times it,
and a message telling the page which clip to play and, on barge-in, to stop it), and
reports each event to the call log, transcript and call audio built by
``wiring.artifacts`` and to the page (`PageView`). Nothing here knows about HTTP: messages
leave through a ``send`` function that must be safe to call from any thread.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ivr.engine.inputs import CallerAction, HangUp, KeyPress

if TYPE_CHECKING:
    import datetime as dt

    from ivr.drivers.centre import SimulatedCentre
    from ivr.engine.backoffice import BackOffice
    from ivr.engine.events import CallEvent
    from ivr.engine.flow import Call
    from ivr.hearing.tracker import UtteranceTracker
    from ivr.menu.model import Menu
    from ivr.prompts.recordings import PromptFiles

log = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], None]
"""Hands one message to the page; safe from any thread, never blocks."""

ARTIFACTS = {
    "call.jsonl": "application/x-ndjson; charset=utf-8",
    "transcript.txt": "text/plain; charset=utf-8",
    "call.wav": "audio/wav",
}
"""The files a call leaves, by name: the only names a download may ask for."""

PROMPTS_KEPT = 10_000
"""Prompts the server knows at once (IDs, files, durations: a few hundred bytes each); the
wallet menu has about 150 fixed ones, self-service calls add one or two each."""


class PromptAudio:
    """The menu's rendered prompts, each with an ID the page fetches it by and its duration.

    Shared by every call of the server: a prompt is rendered (or its recording found) once
    and its duration read once, from the WAV's header (the page plays the file; the server
    needs only its length, so no samples are kept); the IDs come from the text, so only
    prompts the hotline has said, or was asked to prepare, can be fetched. The last
    `PROMPTS_KEPT` prompts said are known: templated prompts (a caller's payment, date and
    amount) make new ones with every call, and the server must not grow with them.
    """

    def __init__(self, files: PromptFiles, kept: int = PROMPTS_KEPT) -> None:
        self.files = files
        self.kept = kept
        self._lock = threading.Lock()
        self._known: OrderedDict[str, tuple[Path, float]] = OrderedDict()

    @staticmethod
    def id_of(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]

    def _get(self, prompt_id: str) -> tuple[Path, float] | None:
        with self._lock:
            known = self._known.get(prompt_id)
            if known is not None:
                self._known.move_to_end(prompt_id)
            return known

    def register(self, text: str) -> tuple[str, float]:
        """The prompt's ID and duration in seconds (rendering it first if needed)."""
        from ivr.audio.wav import open_wav

        prompt_id = self.id_of(text)
        known = self._get(prompt_id)
        if known is not None:
            return prompt_id, known[1]
        path = self.files.get(text)  # the prompt cache locks each prompt while rendering it
        duration = open_wav(path).duration  # the header only: the frames the file holds
        with self._lock:
            self._known[prompt_id] = (path, duration)
            self._known.move_to_end(prompt_id)
            while len(self._known) > self.kept:
                self._known.popitem(last=False)
        return prompt_id, duration

    def path(self, prompt_id: str) -> Path | None:
        """The WAV file of a prompt said before; None for any other ID."""
        known = self._get(prompt_id)
        return None if known is None else known[0]

    def __len__(self) -> int:
        return len(self._known)

    def prepare(self, texts: list[str], stop: threading.Event) -> None:
        """Render and time every prompt (a background thread at start), until ``stop``."""
        for text in dict.fromkeys(texts):
            if stop.is_set():
                return
            try:
                self.register(text)
            except Exception as error:  # a prompt that cannot be rendered is timed as text
                log.warning("prompt not prepared (%s): %s", error, text[:40])


class WebPlayer:
    """Says prompts in the page: the rendered clip's duration, and messages to play it and
    to stop it on barge-in. A prompt that cannot be rendered is shown as text for its
    estimated length, as ``SpeakingPlayer`` does."""

    def __init__(self, prompts: PromptAudio, send: Send) -> None:
        self.prompts = prompts
        self.send = send

    def start(self, text: str) -> float:
        from ivr.prompts.player import estimated_duration

        try:
            prompt_id, duration = self.prompts.register(text)
        except Exception as error:
            log.warning("prompt not rendered (%s); shown as text", error)
            self.send({"type": "play", "text": text, "url": None})
            return estimated_duration(text)
        self.send(
            {
                "type": "play",
                "text": text,
                "url": f"/prompts/{prompt_id}.wav",
                "duration": round(duration, 3),
            }
        )
        return duration

    def stop(self) -> None:
        self.send({"type": "stop"})


class WebCaller:
    """The caller at the page: keys, the hang-up and (with the microphone on) speech.

    As ``MicrophoneCaller``: one worker thread owns the recognizer and feeds it each 20 ms
    frame; what it hears and the keys arrive on one queue the session waits on.
    """

    def __init__(self, clock: Any, tracker: Callable[[], UtteranceTracker] | None) -> None:
        self.clock = clock
        self._make_tracker = tracker
        self._tracker: UtteranceTracker | None = None
        self._inputs: queue.Queue[CallerAction] = queue.Queue()
        self._audio: queue.Queue[bytes | None] = queue.Queue(maxsize=250)  # 5 s of slack
        self._lock = threading.Lock()
        self._heard: tuple[tuple[str, ...], float | None] | None = None
        self._listener: threading.Thread | None = None
        self.mic_on = False
        self.audio_sink: Callable[[float, Any], None] | None = None
        """Receives the caller's audio with its call time (the call WAV's caller side)."""

    # -- from the page (the event loop's thread) -----------------------------------------

    def key(self, key: str) -> None:
        self._inputs.put(KeyPress(key))

    def hang_up(self) -> None:
        self._inputs.put(HangUp())

    def microphone(self, on: bool) -> None:
        """Switch the microphone; the recognizer is made the first time it is switched on."""
        if on and self._listener is None:
            assert self._make_tracker is not None
            tracker = self._make_tracker()
            with self._lock:
                self._tracker = tracker
                if self._heard is not None:
                    tracker.expect(*self._heard)
            self._listener = threading.Thread(target=self._listen, name="web-mic", daemon=True)
            self._listener.start()
        self.mic_on = on

    def audio(self, frame: bytes) -> bool:
        """One frame of speech; False if the recognizer has fallen 5 s behind (dropped)."""
        if not self.mic_on:
            return True
        try:
            self._audio.put_nowait(frame)
        except queue.Full:
            return False
        return True

    def close(self) -> None:
        """The call is over: stop the recognizer's thread."""
        if self._listener is not None:
            try:
                self._audio.put_nowait(None)
            except queue.Full:
                self._drain_and_stop()

    def _drain_and_stop(self) -> None:
        while True:
            try:
                self._audio.get_nowait()
            except queue.Empty:
                break
        self._audio.put_nowait(None)

    def _listen(self) -> None:
        import numpy as np

        while (block := self._audio.get()) is not None:
            if self.audio_sink is not None:
                samples = np.frombuffer(block, dtype="<i2").astype(np.int16)
                self.audio_sink(self.clock.now() - len(samples) / 16000, samples)
            with self._lock:
                assert self._tracker is not None
                heard = self._tracker.feed(block)
            if heard is not None:
                self._inputs.put(heard)

    # -- the session's caller ------------------------------------------------------------

    def expect(self, phrases: tuple[str, ...], end_of_speech: float | None) -> None:
        with self._lock:
            self._heard = (phrases, end_of_speech)
            if self._tracker is not None:
                self._tracker.expect(phrases, end_of_speech)

    def next_input(self, until: float, listening: bool) -> CallerAction | None:
        try:
            return self._inputs.get(timeout=max(until - self.clock.now(), 0.0))
        except queue.Empty:
            pass
        if not listening:
            return None
        with self._lock:  # the no-input timer ran out: take what was heard, if anything
            tracker = self._tracker
            return tracker.finish() if tracker is not None and tracker.in_speech else None


class PageView:
    """Listener and watcher: each event as the call log records it, with its transcript
    line, and what the hotline is doing, to the page."""

    def __init__(self, send: Send, language: str) -> None:
        from ivr.outputs.catalogue import words_for

        self.send = send
        self.words = words_for(language)

    def __call__(self, event: CallEvent, moment: float) -> None:
        from ivr.outputs.artifacts import describe

        self.send(
            {
                "type": "event",
                "t": round(moment, 3),
                "record": event.to_record(),
                "line": describe(event, self.words),
            }
        )

    def status(self, activity: str, now: float, until: float, call: Call) -> None:
        self.send({"type": "status", "activity": activity, "node": call.state, "t": round(now, 3)})


@dataclass
class CallRecord:
    """A call the server placed: where its files are, under its unguessable token."""

    folder: Path
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    done: threading.Event = field(default_factory=threading.Event)
    outcome: str = ""


class WebCall:
    """One call from the page: a `Session` in a thread of its own."""

    def __init__(
        self,
        menu: Menu,
        prompts: PromptAudio,
        record: CallRecord,
        send: Send,
        *,
        caller_id: str | None = None,
        tracker: Callable[[], UtteranceTracker] | None = None,
        backoffice: BackOffice | None = None,
        finished: Callable[[WebCall], None] | None = None,
        call_time: dt.datetime | None = None,
    ) -> None:
        from ivr.clock import RealClock

        self.menu = menu
        self.prompts = prompts
        self.record = record
        self.send = send
        self.caller_id = caller_id
        self.backoffice = backoffice
        self.finished = finished
        self.call_time = call_time
        """The moment the contact centre is met at (None: ``$IVR_TIME``, else now)."""
        self.clock = RealClock()
        self.caller = WebCaller(self.clock, tracker)
        self.thread = threading.Thread(target=self.run, name="web-call", daemon=True)

    def _centre(self) -> SimulatedCentre | None:
        """The contact centre at ``call_time``; None lets the session build it at
        ``$IVR_TIME``, else now (or have none, when the menu declares none)."""
        if self.call_time is None or self.menu.contact_centre is None:
            return None
        from ivr.drivers.session import simulated_centre
        from ivr.engine.flow import CallFlow

        return simulated_centre(CallFlow(self.menu), self.call_time)

    def start(self) -> None:
        self.thread.start()

    def run(self) -> None:
        from ivr import wiring
        from ivr.drivers.session import Listener, Session
        from ivr.engine.flow import CallFlow

        folder = self.record.folder
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with ExitStack() as stack:
                view = PageView(self.send, self.menu.language)
                listeners: list[Listener] = [view]
                call_audio = wiring.artifacts(
                    folder,
                    self.prompts.files,
                    listeners,
                    stack,
                    language=self.menu.language,
                    warn=self._warn,
                )
                self.caller.audio_sink = call_audio.caller_audio
                session = Session(
                    CallFlow(self.menu),
                    self.caller,
                    WebPlayer(self.prompts, self.send),
                    self.clock,
                    listeners,
                    watchers=[view],
                    backoffice=self.backoffice,
                    caller_id=self.caller_id or None,
                    keeps_audio=True,  # the call's folder: its WAV and voice messages
                    centre=self._centre(),
                )
                try:
                    call = session.run()
                    self.record.outcome = str(call.outcome or "abandoned")
                finally:
                    self.caller.close()
                    try:
                        call_audio.write(folder / "call.wav")
                    except OSError as error:
                        self._warn(f"{folder / 'call.wav'}: {error}")
        except Exception:  # a broken call must not take the server with it
            log.exception("web call failed")
            self.send({"type": "error", "error": "the call failed on the server; see its log"})
        finally:
            self.record.done.set()
            if self.finished is not None:
                self.finished(self)  # the line is free before the page hears the call ended
            self.send(
                {
                    "type": "ended",
                    "outcome": self.record.outcome,
                    "downloads": {
                        name: f"/calls/{self.record.token}/{name}"
                        for name in ARTIFACTS
                        if (folder / name).is_file()
                    },
                }
            )

    def _warn(self, message: str) -> None:
        log.warning("web call: cannot write %s", message)
        self.send({"type": "error", "error": f"cannot write {message}"})
