"""Text-to-speech: the Synthesizer port, the pyttsx3 adapter and the prompt cache.

Prompts are rendered to WAV files once and played by ``ivr.audio.wav`` so that playback can
be stopped for barge-in; pyttsx3's own ``say()`` cannot be interrupted that way.

pyttsx3 2.99's espeak driver (``pyttsx3/drivers/espeak.py``) has bugs that this adapter
works around; each one was reproduced here (espeak-ng 1.51, Debian 12) first:

* ``runAndWait()`` can return before the audio is written: synthesis runs on espeak-ng's
  thread and the file is written in its end-of-message callback. An engine's first
  ``runAndWait()`` returned after 11 ms, the file appeared at 38 ms. We wait for the
  ``finished-utterance`` notification, then check the WAV header has frames (bounded).
* Only the last queued command is carried out: ``save_to_file`` just stores text and
  target, so two of them before one ``runAndWait()`` wrote only the second file. Each
  job here is exactly one ``save_to_file`` + ``runAndWait``.
* Target and text stick: a later ``say()`` rewrote the last saved file instead of playing,
  and a bare ``runAndWait()`` synthesised the last text into the last file again. We never
  call ``say()``, nor ``runAndWait()`` without a fresh target.
* One engine per process (``pyttsx3.init()`` caches it, espeak-ng initialises once) and it
  is not thread safe: 8 renders from 4 threads wrote 4 files and hung 2 threads. One
  worker thread owns the engine; every ``Pyttsx3Synthesizer`` submits jobs through a queue.
* Setting the rate is asynchronous in espeak-ng (``IsPlaying()`` is true until applied);
  ``runAndWait()`` then calls the driver's ``stop()``, which cancels the rate change and
  flags the next utterance cancelled (109 of 200 renders). We wait for ``IsPlaying()``
  to clear before each render, and retry once if an utterance is still cancelled.
* An unknown voice is ignored: ``setProperty("voice", "xx")`` only sends an ``error``
  notification and keeps the old voice. We listen for it and read the voice back.
* The driver prints ``Audio saved to …`` on stdout for every file; its module-level
  ``print`` is redirected to our debug log so the console UI stays clean.

Not fixable here: espeak-ng's pitch flutter is a static variable that runs on across
utterances, so the same text rendered twice in one process differs slightly (up to
0.4 % in length, never byte-identical); the ``espeak-ng`` command line is repeatable.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import logging
import os
import queue
import tempfile
import threading
import time
import wave
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any, Protocol, TypeVar

from ivr.errors import IvrError

log = logging.getLogger(__name__)

T = TypeVar("T")

ESPEAK_RATE = 22050
"""espeak-ng (through pyttsx3) always writes 22050 Hz mono 16-bit WAV."""

_INSTALL_HINT = "apt-get install espeak-ng"


class TTSError(IvrError, RuntimeError):
    """Rendering a prompt failed; the message is one line meant for the user."""


class TTSUnavailable(TTSError):
    """The speech engine or the requested voice cannot be used on this machine."""


class Synthesizer(Protocol):
    """Port through which the simulator turns prompt text into WAV files."""

    voice: str
    rate: int
    engine_name: str

    def render(self, text: str, target: Path) -> None:
        """Write ``text`` spoken as a WAV file at ``target``; complete when this returns."""
        ...


class _EngineWorker:
    """The one thread that owns the process's pyttsx3 engine (it is not thread safe)."""

    def __init__(self) -> None:
        self._jobs: queue.Queue[tuple[Callable[[Any], Any], Future[Any]]] = queue.Queue()
        self._engine: Any = None
        self._done = threading.Event()
        self._cancelled_at: float | None = None
        self._voice: str | None = None
        self._rate: int | None = None
        self._errors: list[BaseException] = []
        self._broken: TTSError | None = None
        self._thread = threading.Thread(target=self._run, name="ivr-tts", daemon=True)
        self._thread.start()

    def call(self, fn: Callable[[Any], T], timeout: float) -> T:
        """Run ``fn(engine)`` on the worker thread and return its result."""
        future: Future[T] = Future()
        self._jobs.put((fn, future))
        try:
            return future.result(timeout=timeout)
        except FutureTimeout:
            future.cancel()
            raise TTSError(f"speech engine did not answer within {timeout:.0f} s") from None

    def _run(self) -> None:
        while True:
            fn, future = self._jobs.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                if self._broken is not None:
                    raise type(self._broken)(str(self._broken))
                if self._engine is None:
                    self._engine = self._start_engine()
                future.set_result(fn(self._engine))
            except BaseException as exc:  # handed to the caller's thread
                future.set_exception(exc)

    def _start_engine(self) -> Any:
        """Load pyttsx3 + libespeak-ng once; a missing library becomes TTSUnavailable."""
        started = time.perf_counter()
        try:
            import pyttsx3
        except ImportError as exc:
            self._broken = TTSUnavailable(f"pyttsx3 is not installed ({exc}): pip install pyttsx3")
            raise self._broken from exc
        try:
            import pyttsx3.drivers.espeak as espeak_driver

            engine = pyttsx3.init("espeak")
        except Exception as exc:
            detail = " ".join(str(exc).split())
            self._broken = TTSUnavailable(
                f"pyttsx3 cannot load libespeak-ng; install it with `{_INSTALL_HINT}` ({detail})"
            )
            raise self._broken from exc
        espeak_driver.print = _driver_print
        engine.connect("finished-utterance", self._on_finished)
        engine.connect("error", self._on_error)
        log.debug("pyttsx3 engine started in %.3f s", time.perf_counter() - started)
        return engine

    def _on_finished(self, completed: bool = True, **_: Any) -> None:
        # completed=True comes from espeak-ng's synthesis thread after the WAV file is
        # closed; completed=False comes from the driver's own loop when it cancelled.
        if completed:
            self._done.set()
        else:
            self._cancelled_at = time.monotonic()

    def _on_error(self, exception: BaseException | None = None, **_: Any) -> None:
        if exception is not None:
            self._errors.append(exception)

    def set_voice(self, engine: Any, voice: str) -> str:
        """Select ``voice`` and read it back; pyttsx3 ignores an unknown voice silently."""
        if engine.isBusy():
            # Before the first runAndWait, setProperty is only queued; settle the driver
            # with a throw-away render so the voice can be read back at once.
            with tempfile.TemporaryDirectory(prefix="ivr-tts-") as tmp:
                self.render(engine, "一", Path(tmp) / "warm.wav", 10.0)
        if voice == self._voice:
            return voice
        self._errors.clear()
        engine.setProperty("voice", voice)
        current = engine.getProperty("voice")
        if self._errors or not current:
            self._voice = None
            ids = [str(v.id) for v in engine.getProperty("voices")]
            close = difflib.get_close_matches(voice.lower(), ids, n=3, cutoff=0.5)
            hint = f" (close: {', '.join(close)})" if close else ""
            raise TTSUnavailable(
                f"voice {voice!r} is not installed{hint}; install espeak-ng "
                f"({_INSTALL_HINT}) and pick one of `espeak-ng --voices`, e.g. sit/cmn"
            )
        self._voice = voice
        return str(current)

    def set_rate(self, engine: Any, rate: int) -> None:
        """Set the rate only when it changes (espeak-ng applies it asynchronously)."""
        if rate != self._rate:
            engine.setProperty("rate", rate)
            self._rate = rate

    def render(self, engine: Any, text: str, target: Path, timeout: float) -> None:
        """Exactly one save_to_file + runAndWait, then wait until the file is complete."""
        for attempt in (1, 2):
            self._settle()
            self._done.clear()
            self._cancelled_at = None
            self._errors.clear()
            engine.save_to_file(text, str(target))
            engine.runAndWait()
            if self._wait_finished(timeout):
                break
            if self._cancelled_at is None:
                engine.stop()
                self._broken = TTSError(f"espeak-ng did not finish a prompt within {timeout:.0f} s")
                raise self._broken
            log.warning("pyttsx3 cancelled an utterance (attempt %d); rendering again", attempt)
        else:
            raise TTSError(f"pyttsx3 cancelled rendering {text[:30]!r} twice")
        if self._errors:
            raise TTSError(f"espeak-ng failed to render {text[:30]!r}: {self._errors[0]}")
        _wait_for_wav(target, deadline=time.monotonic() + min(timeout, 5.0))

    def _settle(self) -> None:
        """Wait until espeak-ng's command queue is idle.

        espeak-ng applies SetParameter (the rate) on its own thread and reports
        IsPlaying() meanwhile; runAndWait() then calls the driver's stop(), which flags the
        *next* utterance as cancelled (seen in 109 of 200 renders without this wait).
        """
        from pyttsx3.drivers import _espeak

        deadline = time.monotonic() + 2.0
        while _espeak.IsPlaying() and time.monotonic() < deadline:
            time.sleep(0.0005)

    def _wait_finished(self, timeout: float) -> bool:
        """True once finished; False on timeout or 1 s after a cancel without a finish."""
        deadline = time.monotonic() + timeout
        while not self._done.wait(0.01):
            now = time.monotonic()
            cancelled = self._cancelled_at
            if now >= deadline or (cancelled is not None and now - cancelled > 1.0):
                return False
        return True


def _driver_print(*args: object, **_: object) -> None:
    """Stands in for print() inside pyttsx3's espeak driver so it cannot write to stdout."""
    log.debug("pyttsx3: %s", " ".join(str(a) for a in args))


def _wait_for_wav(path: Path, deadline: float) -> None:
    """Return once ``path`` has a readable WAV header and frames, or raise TTSError."""
    problem = "missing"
    while True:
        try:
            with wave.open(str(path), "rb") as wav:
                if wav.getnframes() > 0:
                    return
                problem = "has no audio frames"
        except FileNotFoundError:
            problem = "missing"
        except (wave.Error, EOFError, OSError) as exc:
            problem = f"unreadable ({exc})"
        if time.monotonic() >= deadline:
            raise TTSError(f"espeak-ng output {path} is {problem}")
        time.sleep(0.005)


_worker: _EngineWorker | None = None
_worker_lock = threading.Lock()


def _get_worker() -> _EngineWorker:
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = _EngineWorker()
        return _worker


class Pyttsx3Synthesizer:
    """Synthesizer backed by pyttsx3 + espeak-ng, safe to call from any thread."""

    engine_name = "pyttsx3-espeak-ng"

    def __init__(self, voice: str = "sit/cmn", rate: int = 170, *, timeout: float = 30.0) -> None:
        self.voice = voice
        self.rate = rate
        self.timeout = timeout
        self._worker = _get_worker()
        # Fail now, with a clear message, rather than on the first prompt of a call.
        resolved = self._worker.call(lambda eng: self._worker.set_voice(eng, voice), timeout)
        log.debug("pyttsx3 voice %r resolved to %r", voice, resolved)

    def render(self, text: str, target: Path) -> None:
        """Render ``text`` to ``target`` atomically (temp file in the same dir + replace)."""
        if not text.strip():
            raise ValueError("cannot render an empty prompt")
        target = Path(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.stem}.", suffix=".tmp.wav"
        )
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            self._worker.call(lambda eng: self._job(eng, text, tmp), self.timeout + 5.0)
            os.replace(tmp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def _job(self, engine: Any, text: str, tmp: Path) -> None:
        started = time.perf_counter()
        self._worker.set_voice(engine, self.voice)
        self._worker.set_rate(engine, self.rate)
        self._worker.render(engine, text, tmp, self.timeout)
        log.debug("rendered %d chars in %.3f s", len(text), time.perf_counter() - started)


BEEP_TEXT = "嘀"
"""The text of the beep before a recording (``ivr.menu.model.BEEP``; the prompts layer does
not import the menu, a test keeps the two equal): the cache gives it as a tone, never
spoken."""
BEEP_HZ, BEEP_SECONDS = 1000.0, 0.4
"""The beep: 1 kHz (the tone telephone voicemail systems use), 0.4 s."""


def write_beep(target: Path) -> None:
    """The beep as a 16 kHz WAV, written atomically like a rendered prompt."""
    import numpy as np

    from ivr.audio.wav import AudioClip, write_wav

    rate = 16000
    t = np.arange(int(rate * BEEP_SECONDS)) / rate
    ramp = np.minimum(1.0, np.minimum(t, BEEP_SECONDS - t) / 0.01)  # no clicks
    samples = (0.3 * 32767 * np.sin(2 * np.pi * BEEP_HZ * t) * ramp).astype(np.int16)
    partial = target.with_name(f".{target.name}.part")
    write_wav(partial, AudioClip(samples, rate))
    os.replace(partial, target)


class PromptCache:
    """Rendered prompts on disk, keyed by everything that changes the audio; the beep
    before a recording is a tone (`BEEP_TEXT`)."""

    def __init__(self, synthesizer: Synthesizer, directory: Path | None = None) -> None:
        if directory is None:
            import platformdirs

            directory = Path(platformdirs.user_cache_dir("ivr")) / "prompts"
        self.synthesizer = synthesizer
        self.directory = Path(directory)
        self._locks: dict[Path, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def path_for(self, text: str) -> Path:
        """Where ``text`` is (or would be) cached for this engine, voice and rate."""
        s = self.synthesizer
        key = json.dumps([s.engine_name, s.voice, s.rate, text], ensure_ascii=False)
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        return self.directory / f"{digest}.wav"

    def is_cached(self, text: str) -> bool:
        """True when the prompt is on disk (files appear atomically, so it is complete)."""
        return self.path_for(text).is_file()

    def get(self, text: str) -> Path:
        """Path of the rendered prompt, rendering it first on a miss.

        A per-prompt lock makes a caller that asks for a prompt the background prefetch
        is rendering wait for that render instead of rendering it a second time.
        """
        path = self.path_for(text)
        if path.is_file():
            return path
        with self._locks_guard:
            lock = self._locks.setdefault(path, threading.Lock())
        with lock:
            if not path.is_file():
                self.directory.mkdir(parents=True, exist_ok=True)
                if text == BEEP_TEXT:
                    write_beep(path)
                else:
                    self.synthesizer.render(text, path)
        return path

    def prefetch(
        self, texts: Iterable[str], progress: Callable[[int, int], None] | None = None
    ) -> int:
        """Render every missing prompt up front so calls never wait for TTS; returns count."""
        missing = [t for t in dict.fromkeys(texts) if not self.is_cached(t)]
        for done, text in enumerate(missing, start=1):
            self.get(text)
            if progress is not None:
                progress(done, len(missing))
        return len(missing)
