"""Key press → first sample of the next prompt, on a live call with the real speaker.

A Session on a RealClock runs the wallet menu with the real SoundDeviceSpeaker on a
PulseAudio null sink of its own (``ivr_latency``; PulseAudio is started as the tests do if
it is not running). Every prompt is rendered into a PromptCache and loaded into the
player's memory first (``SpeakingPlayer.prefetch``; with ``--no-preload`` only
``PromptCache.prefetch``: prompts on disk), so the figures are for cached prompts. A
scripted caller presses keys at chosen monotonic times, chosen so that each key leads to a
prompt: most barge in 0.15-0.8 s into a prompt, every ``--after-end-every``-th waits until
the prompts have ended and presses in the silence after them. For each key, from the
moment ``next_input`` returns it:

(a) to the moment the speaker's audio callback hands the first samples of the next prompt
    to the device (``SoundDeviceSpeaker.on_first_block``): the target's measure;
(b) cross-check: to the moment those samples are recorded from the sink's monitor (parec,
    found sample-exactly), minus the fixed output latency measured just before the call
    the same way on clicks played from silence (callback → monitor).

Also reported: key → ``player.start()`` returned (the Python path) and from there to the
callback (the wait for the device's next block), underruns, and the machine's load.

Run: python benchmarks/prompt_latency.py [--quick] [--json FILE] [--presses N] [--block-ms MS].
Needs PulseAudio (apt-get install pulseaudio pulseaudio-utils) and espeak-ng. The full run
(200 presses) takes about 4.5 minutes of real call time; --quick (3 barge-in presses, none
after the prompts end, only the prompts 3 keys can reach rendered) about 10 s, most of it
rendering those prompts.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' PulseAudio helpers
from benchmarks.common import Figure, arguments, percentile, report  # noqa: E402
from ivr.audio.wav import AudioClip, SoundDeviceSpeaker, read_wav, to_rate  # noqa: E402
from ivr.clock import RealClock  # noqa: E402
from ivr.drivers.session import Session  # noqa: E402
from ivr.engine.events import CallEvent  # noqa: E402
from ivr.engine.flow import CallFlow  # noqa: E402
from ivr.engine.inputs import CallerAction, HangUp, KeyPress  # noqa: E402
from ivr.menu.model import Menu, NodeKind, load  # noqa: E402
from ivr.prompts.player import SpeakingPlayer  # noqa: E402
from ivr.prompts.tts import PromptCache, Pyttsx3Synthesizer  # noqa: E402
from tests.pulse import MonitorRecorder, start_pulseaudio  # noqa: E402

WALLET = ROOT / "menus" / "wallet.zh-CN.yaml"
SINK = "ivr_latency"
RATE = 16000
TARGET_MS = 20.0
ONSET = 300
"""A sample louder than this starts a prompt's sound (espeak-ng starts with 7-48 ms of hush)."""
PATTERN = 48
"""Samples matched exactly to find a prompt's start in the recording (3 ms)."""


@dataclass
class Press:
    """One key and what followed it; times are ``time.monotonic()``."""

    key: str
    node: str
    after_end: bool
    """Pressed in the silence after the prompts (else: barge-in on a prompt)."""
    arrived: float = 0.0
    """When ``next_input`` returned the key."""
    started: float | None = None
    """When the session called ``player.start`` for the next prompt."""
    returned: float | None = None
    """When ``player.start`` returned."""
    clip: int | None = None
    text: str | None = None
    delivered: float | None = None
    """When the audio callback handed the prompt's first samples to the device."""
    heard: float | None = None
    """When the prompt's first sample reached the sink's monitor (recording stamps)."""


class Deliveries:
    """``SoundDeviceSpeaker.on_first_block``: clip number → (monotonic, seconds to DAC)."""

    def __init__(self) -> None:
        self.at: dict[int, tuple[float, float]] = {}

    def __call__(self, clip: int, moment: float, to_dac: float) -> None:
        self.at[clip] = (moment, to_dac)


class ScriptedCaller:
    """Presses keys that lead to a prompt, at times drawn from a seeded generator."""

    def __init__(
        self, menu: Menu, clock: RealClock, rng: random.Random, wanted: int, after_end_every: int
    ) -> None:
        self.menu = menu
        self.clock = clock
        self.rng = rng
        self.wanted = wanted
        self.after_end_every = after_end_every
        self.presses: list[Press] = []
        self.node = menu.start
        self.waiting: Press | None = None
        """The latest press, until the prompt it led to has started."""

    def listener(self, event: CallEvent, _moment: float) -> None:
        if event.state in self.menu.nodes:
            self.node = event.state

    def expect(self, phrases: tuple[str, ...], end_of_speech: float | None) -> None:
        """Keys need no grammar."""

    def next_input(self, until: float, listening: bool) -> CallerAction | None:
        if len(self.presses) >= self.wanted:
            self.clock.sleep_until(self.clock.now() + 0.5)  # the last prompt is heard
            return HangUp()
        every = self.after_end_every
        wait_for_end = every > 0 and (len(self.presses) + 1) % every == 0
        if not listening and wait_for_end:
            self.clock.sleep_until(until)
            return None
        delay = self.rng.uniform(0.1, 0.5) if listening else self.rng.uniform(0.15, 0.8)
        moment = min(self.clock.now() + delay, until - 0.05)
        press = Press(self._choose_key(), self.node, after_end=listening)
        action = KeyPress(press.key)
        self.clock.sleep_until(moment)
        press.arrived = time.monotonic()
        self.presses.append(press)
        self.waiting = press
        return action

    def _choose_key(self) -> str:
        node = self.menu.nodes[self.node]
        if node.kind is NodeKind.MENU:
            keys = [*node.options, *node.options, "*", *(["#", "#"] if node.parent else [])]
        elif node.kind is NodeKind.PROCEDURE:
            keys = ["1", "2", "3", "#"]
        else:
            keys = ["#", "*"]
        return self.rng.choice(keys)


class TimedPlayer:
    """The real SpeakingPlayer, noting when the prompt after each key is started."""

    def __init__(
        self, inner: SpeakingPlayer, speaker: SoundDeviceSpeaker, caller: ScriptedCaller
    ) -> None:
        self.inner = inner
        self.speaker = speaker
        self.caller = caller

    def start(self, text: str) -> float:
        began = time.monotonic()
        duration = self.inner.start(text)
        press = self.caller.waiting
        if press is not None:
            press.started, press.returned = began, time.monotonic()
            press.clip, press.text = self.speaker.clips_played, text
            self.caller.waiting = None
        return duration

    def stop(self) -> None:
        self.inner.stop()


@contextmanager
def own_sink() -> Iterator[None]:
    """PulseAudio (started if needed) with a null sink only this benchmark plays into."""
    server = start_pulseaudio()
    module = subprocess.run(
        ["pactl", "load-module", "module-null-sink", f"sink_name={SINK}",
         f"rate={RATE}", "channels=1"],
        capture_output=True, text=True, check=True, timeout=10,
    ).stdout.strip()  # fmt: skip
    previous = os.environ.get("PULSE_SINK")
    os.environ["PULSE_SINK"] = SINK  # libpulse (under PortAudio's ALSA "default") opens it
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("PULSE_SINK", None)
        else:
            os.environ["PULSE_SINK"] = previous
        subprocess.run(["pactl", "unload-module", module], capture_output=True, timeout=10)
        server.stop()


class Heard:
    """Finds played samples in the monitor recording and dates them."""

    def __init__(self, recorder: MonitorRecorder) -> None:
        self.stamps = np.array([t for t, _ in recorder.chunks])
        self.audio = np.concatenate([c for _, c in recorder.chunks])
        self.chunk = recorder.chunk
        ends = (np.arange(len(self.stamps)) + 1) * self.chunk / RATE
        self.base = self.stamps - ends
        """Per chunk: the recording's start time if that chunk arrived without delay."""

    def time_of(self, index: int) -> float:
        """Monotonic time of sample ``index``: the least-delayed chunk nearby dates it."""
        j = index // self.chunk
        nearby = self.base[max(j - 300, 0) : j + 300]
        return float(nearby.min()) + index / RATE

    def find(self, samples: npt.NDArray[np.int16], after: float) -> float | None:
        """When the first sample of ``samples`` was recorded, searching from ``after``."""
        loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > ONSET)
        if len(loud) == 0:
            return None
        onset = int(loud[0])
        pattern = samples[onset : onset + PATTERN]
        first = int(np.searchsorted(self.stamps, after)) * self.chunk
        region = self.audio[first : first + 4 * RATE]
        if len(region) < len(pattern):
            return None
        windows = np.lib.stride_tricks.sliding_window_view(region, len(pattern))
        hits = np.flatnonzero((windows == pattern).all(axis=1))
        if len(hits) == 0:
            return None
        return self.time_of(first + int(hits[0]) - onset)


def calibrate(
    speaker: SoundDeviceSpeaker, deliveries: Deliveries, recorder: MonitorRecorder
) -> tuple[list[float], list[float]]:
    """Callback → monitor delay of clicks played from silence, and PortAudio's own figure."""
    rng = np.random.default_rng(7)
    clicks = []
    for _ in range(8):
        burst = (rng.standard_normal(RATE // 20) * 4000).astype(np.int16)
        speaker.play(AudioClip(burst, RATE))
        clicks.append((speaker.clips_played, burst))
        time.sleep(0.25)
    time.sleep(0.3)
    heard = Heard(recorder)
    delays, reported = [], []
    for clip, burst in clicks:
        moment, to_dac = deliveries.at[clip]
        found = heard.find(burst, moment - 0.1)
        if found is not None:
            delays.append(found - moment)
            reported.append(to_dac)
    if not delays:
        raise RuntimeError(f"no click was heard on {SINK}.monitor")
    return delays, reported


def within_keys(menu: Menu, keys: int) -> list[str]:
    """The prompts of the nodes ``keys`` key presses from the start can reach (a choice or
    ``#`` back; ``*`` stays), and the messages said anywhere, in the menu's order."""
    reached = {menu.start}
    for _ in range(keys):
        reached |= {
            step
            for node in reached
            for step in (*menu.nodes[node].options.values(), menu.nodes[node].parent)
            if step
        }
    return [prompt.text for prompt in menu.prompts() if prompt.node in ("", *reached)]


def spread(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 0.5):.1f}, p95 {percentile(values, 0.95):.1f}, "
        f"p99 {percentile(values, 0.99):.1f}, max {max(values):.1f} ms"
    )


def main() -> None:
    parser = arguments(__doc__ or "")
    parser.add_argument("--presses", type=int, help="keys to time (default 200, quick 3)")
    parser.add_argument(
        "--after-end-every",
        type=int,
        metavar="N",
        help="every Nth key waits for the prompts to end (default 40; 0: none, as in --quick)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--block-ms", type=float, default=None, help="the speaker's block (its default if unset)"
    )
    parser.add_argument(
        "--no-preload", action="store_true",
        help="prompts only on disk (PromptCache.prefetch), not loaded into memory first",
    )  # fmt: skip
    args = parser.parse_args()
    wanted = args.presses or (3 if args.quick else 200)
    # --quick is a smoke run: a key after the prompts end waits out a whole wallet prompt
    # (about 12 s), so it times barge-in keys only.
    after_end_every = (
        args.after_end_every if args.after_end_every is not None else (0 if args.quick else 40)
    )
    menu = load(WALLET)
    flow = CallFlow(menu)
    # --quick renders only what its few keys can reach (about 100 of the wallet's 173 prompts,
    # 4 CPU-s of espeak-ng for all); a prompt beyond would be rendered when said, a miss
    texts = within_keys(menu, wanted) if args.quick else menu.prompt_texts()
    load_before = os.getloadavg()[0]

    with ExitStack() as stack:
        stack.enter_context(own_sink())
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ivr-latency-")))
        cache = PromptCache(Pyttsx3Synthesizer(voice=menu.voice.id, rate=menu.voice.rate), folder)
        deliveries = Deliveries()
        block = {} if args.block_ms is None else {"block_ms": args.block_ms}
        speaker = SoundDeviceSpeaker(rate=RATE, on_first_block=deliveries, **block)
        stack.callback(speaker.close)
        speaking = SpeakingPlayer(cache, speaker)
        if args.no_preload:
            cache.prefetch(texts)
        else:
            speaking.prefetch(texts)  # what a live call does (see the report)
        recorder = stack.enter_context(MonitorRecorder(f"{SINK}.monitor", RATE))
        fixed, reported = calibrate(speaker, deliveries, recorder)
        latency = statistics.median(fixed)

        caller = ScriptedCaller(
            menu, RealClock(), random.Random(args.seed), wanted, after_end_every
        )
        player = TimedPlayer(speaking, speaker, caller)
        underruns = speaker.underruns
        hits, misses = speaking.clips.hits, speaking.clips.misses
        began = time.monotonic()
        while len(caller.presses) < wanted:
            caller.waiting = None  # a new call's greeting answers no key
            caller.node = menu.start
            Session(flow, caller, player, caller.clock, [caller.listener]).run()
        call_seconds = time.monotonic() - began
        time.sleep(0.3)
        recorder.close()
        heard = Heard(recorder)
        for press in caller.presses:
            if press.clip is None or press.text is None:
                continue
            at = deliveries.at.get(press.clip)
            press.delivered = at[0] if at else None
            samples = to_rate(read_wav(cache.get(press.text)), RATE).samples
            press.heard = heard.find(samples, press.arrived)
        blocksize, stream_latency = speaker.blocksize, speaker.latency
        underruns = speaker.underruns - underruns
        memory = (
            f"prompts {'on disk only' if args.no_preload else 'preloaded into memory'}; "
            f"in-memory clips during the calls: {speaking.clips.hits - hits} hits, "
            f"{speaking.clips.misses - misses} misses"
        )
    load_after = os.getloadavg()[0]

    timed = [p for p in caller.presses if p.delivered is not None and p.returned is not None]
    lost = len(caller.presses) - len(timed)
    a = [(p.delivered - p.arrived) * 1e3 for p in timed if p.delivered is not None]
    path = [(p.returned - p.arrived) * 1e3 for p in timed if p.returned is not None]
    wait = [(p.delivered - p.returned) * 1e3 for p in timed if p.delivered and p.returned]
    crossed = [p for p in timed if p.heard is not None]
    b = [(p.heard - p.arrived - latency) * 1e3 for p in crossed if p.heard is not None]
    gap = [
        abs((p.heard - p.delivered - latency) * 1e3)
        for p in crossed
        if p.heard is not None and p.delivered is not None
    ]
    barge = [(p.delivered - p.arrived) * 1e3 for p in timed if not p.after_end and p.delivered]
    after = [(p.delivered - p.arrived) * 1e3 for p in timed if p.after_end and p.delivered]
    p95 = percentile(a, 0.95)
    machine = (
        f"{os.cpu_count()} cores, load average {load_before:.1f} before / {load_after:.1f} "
        f"after; {call_seconds:.0f} s of calls; seed {args.seed}"
    )
    output = (
        f"stream blocksize {blocksize} frames ({blocksize / RATE * 1e3:.0f} ms), PortAudio "
        f"latency {stream_latency * 1e3:.0f} ms, first samples due at the DAC "
        f"{statistics.median(reported) * 1e3:.0f} ms after the callback (PortAudio); "
        f"{underruns} underruns during the calls"
    )
    figures = [
        Figure(
            "key → first sample of the next prompt handed to the device (audio callback)",
            "ms",
            a,
            target=f"<= {TARGET_MS:.0f} ms (p95)",
            met=p95 <= TARGET_MS,
            anchor=f"cross-checked on the sink's monitor ({len(b)} of {len(a)} found)",
            notes=[
                f"{spread(a)}; {len(timed)} keys ({len(after)} after the prompts ended, "
                f"{len(barge)} barge-in){f', {lost} led to no timed prompt' if lost else ''}",
                f"barge-in {spread(barge)}" if barge else "no barge-in",
                f"after the prompts ended {spread(after)}" if after else "none after the end",
                output,
                memory,
                machine,
            ],
        ),
        Figure(
            "key → player.start() returned (session, engine, prompt cache, speaker.play)",
            "ms",
            path,
            notes=[spread(path)],
        ),
        Figure(
            "player.start() returned → audio callback takes the first samples",
            "ms",
            wait,
            notes=[spread(wait)],
        ),
    ]
    if b:
        figures.insert(
            1,
            Figure(
                "key → the prompt heard on the sink's monitor, less the fixed output latency",
                "ms",
                b,
                anchor=f"fixed output latency {latency * 1e3:.1f} ms (callback → monitor, clicks)",
                notes=[
                    spread(b),
                    f"fixed latency over {len(fixed)} clicks: {min(fixed) * 1e3:.1f}-"
                    f"{max(fixed) * 1e3:.1f} ms",
                    f"|heard − callback − fixed| per key: p95 {percentile(gap, 0.95):.1f} ms",
                ],
            ),
        )
    report(figures, args)
    print()
    for figure in figures:
        for note in figure.notes:
            print(f"- {figure.name}: {note}")


if __name__ == "__main__":
    main()
