"""The DTMF receiver against multimon-ng, on the same tone sets, per Q.24 condition.

Run: python benchmarks/dtmf.py [--quick] [--json FILE] [--reps N] [--repeat N]. Needs
multimon-ng (apt-get install multimon-ng) and espeak-ng. Every clip is made at 8 kHz, then
resampled to 22050 Hz, the rate multimon-ng reads (raw s16le on stdin); ivr.audio.dtmf gets the
same 22050 Hz samples. Prints Markdown tables: digits right / wrong / missed / false per
condition for both decoders, then speed, then the figures of benchmarks/common.py. The
speeds are measured side by side: each repeat times multimon-ng and every ivr.audio.dtmf path
one after the other. Not a test: nothing here fails; the full run takes about a minute,
``--quick`` (one digit of each key per condition, a little speech) a few seconds.
"""

from __future__ import annotations

import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ivr.audio.dtmf import KEYS, DtmfDetector, add_noise, digits, generate
from ivr.audio.phone_line import degrade
from ivr.audio.wav import AudioClip, read_wav, to_rate

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import Figure, arguments, report

RATE = 22050
"""multimon-ng's demodulator rate."""

SPEECH = {
    "cmn": [
        "您好，欢迎致电人民数字钱包客服热线。查询余额请按一，挂失请按二，人工服务请按零。",
        "我的钱包密码忘记了，能不能帮我重新设置一下？好的，请稍等，正在为您转接人工客服。",
        "您的账户余额为三百二十五元六角。如需再次收听请按星号键，返回上一级请按井号键。",
    ],
    "en-us": [
        "Thank you for calling. Please listen carefully, as our menu options have changed.",
        "For billing, press one. To speak with an agent, press zero. Your call matters to us.",
        "one two three four five six seven eight nine zero, star, pound. Goodbye.",
    ],
}
VOICES = {"cmn": ["cmn", "cmn+f2", "cmn+m3"], "en-us": ["en-us", "en-us+f3", "en-us+m3"]}
PITCHES = (30, 50, 70, 99)


@dataclass
class Condition:
    name: str
    expect: bool
    """True: Q.24 requires the digits to be decoded; False: to be rejected."""
    sent: str
    clip: AudioClip


@dataclass
class Score:
    right: int = 0
    wrong: int = 0
    missed: int = 0
    false: int = 0

    def cells(self, expect: bool, sent: str) -> str:
        if expect:
            return f"{self.right} / {self.wrong} / {self.missed} / {self.false}"
        return f"{self.right if sent else '–'} / – / – / {self.false}"


def align(sent: str, got: str) -> tuple[int, int, int, int]:
    """(matches, substitutions, deletions, insertions) of the cheapest edit of sent into got."""
    n, m = len(sent), len(got)
    cost = np.zeros((n + 1, m + 1), dtype=np.int64)
    cost[:, 0] = np.arange(n + 1)
    cost[0, :] = np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost[i, j] = min(
                cost[i - 1, j - 1] + (sent[i - 1] != got[j - 1]),
                cost[i - 1, j] + 1,
                cost[i, j - 1] + 1,
            )
    i, j = n, m
    matches = subs = dels = ins = 0
    while i or j:
        if i and j and cost[i, j] == cost[i - 1, j - 1] + (sent[i - 1] != got[j - 1]):
            if sent[i - 1] == got[j - 1]:
                matches += 1
            else:
                subs += 1
            i, j = i - 1, j - 1
        elif i and cost[i, j] == cost[i - 1, j] + 1:
            dels += 1
            i -= 1
        else:
            ins += 1
            j -= 1
    return matches, subs, dels, ins


def score(condition: Condition, got: str) -> Score:
    if not condition.expect:
        # Everything decoded is a false acceptance; right = tones rejected.
        matches, subs, _, _ = align(condition.sent, got)
        return Score(right=len(condition.sent) - matches - subs, false=len(got))
    matches, subs, dels, ins = align(condition.sent, got)
    return Score(matches, subs, dels, ins)


def multimon(clip: AudioClip) -> str:
    """Digits multimon-ng decodes from ``clip`` (22050 Hz)."""
    out = subprocess.run(
        ["multimon-ng", "-q", "-c", "-a", "DTMF", "-t", "raw", "-"],
        input=clip.samples.astype("<i2").tobytes(),
        capture_output=True,
        check=True,
    ).stdout.decode()
    return "".join(line.split(":", 1)[1].strip() for line in out.splitlines() if ":" in line)


def espeak(text: str, voice: str, pitch: int, path: Path) -> AudioClip:
    subprocess.run(
        ["espeak-ng", "-v", voice, "-p", str(pitch), "-w", str(path), text],
        check=True,
        capture_output=True,
    )
    return read_wav(path)


def music(chords: int = 120) -> AudioClip:
    """Chords with instrument-like harmonics, then sweeps and a harmonic glide."""
    rng = np.random.default_rng(1)
    rate = 8000
    parts = []
    for i in range(chords):
        root = 110 * 2 ** (int(rng.integers(0, 36)) / 12)
        t = np.arange(rate // 2) / rate
        chord: npt.NDArray[np.float64] = np.zeros_like(t)
        for step in [(0, 4, 7), (0, 3, 7), (0, 4, 7, 11), (0, 5, 9)][i % 4]:
            f = root * 2 ** (step / 12)
            harmonics = int(rng.integers(3, 10))
            envelope = np.exp(-float(rng.uniform(0.5, 4)) * t)
            for k in range(1, harmonics + 1):
                chord += envelope * np.sin(2 * np.pi * f * k * t) / k
        parts.append(chord)
    t = np.arange(3 * rate) / rate
    for f0, f1 in ((200, 3400), (3400, 200), (500, 1800)):
        parts.append(np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t**2 / 6)))
    glide = np.zeros_like(t)
    for k in range(1, 12):
        glide += np.sin(2 * np.pi * k * (100 * t + 100 * t**2)) / k
    parts.append(glide)
    x = np.concatenate(parts)
    return AudioClip(np.round(x / np.abs(x).max() * 16000).astype(np.int16), rate)


def conditions(reps: int, folder: Path, quick: bool = False) -> list[Condition]:
    sent = KEYS * reps

    def tones(
        tone_ms: float = 70,
        gap_ms: float = 70,
        level_dbfs: float = -10,
        twist_db: float = 0,
        freq_error: float = 0,
    ) -> AudioClip:
        """All 16 keys ``reps`` times, between 50 ms of silence."""
        clip = generate(sent, 8000, tone_ms, gap_ms, level_dbfs, twist_db, freq_error)
        lead = np.zeros(400, np.int16)
        return AudioClip(np.concatenate([lead, clip.samples, lead]), clip.rate)

    made: list[tuple[str, bool, Callable[[], AudioClip]]] = [
        ("nominal: 70 ms on/off, -10 dBFS", True, lambda: tones()),
        ("40 ms tones, 40 ms gaps (10/s)", True, lambda: tones(tone_ms=40, gap_ms=40)),
        ("frequency +1.5 %", True, lambda: tones(freq_error=0.015)),
        ("frequency -1.5 %", True, lambda: tones(freq_error=-0.015)),
        ("frequency +3.5 % (reject)", False, lambda: tones(freq_error=0.035)),
        ("frequency -3.5 % (reject)", False, lambda: tones(freq_error=-0.035)),
        ("twist 4 dB reverse (high louder)", True, lambda: tones(twist_db=4)),
        ("twist 8 dB normal (low louder)", True, lambda: tones(twist_db=-8)),
        ("twist 6 dB reverse (reject)", False, lambda: tones(twist_db=6)),
        ("twist 10 dB normal (reject)", False, lambda: tones(twist_db=-10)),
        ("S/N 15 dB, white noise", True, lambda: add_noise(tones(), 15, seed=1)),
        ("level -36 dBFS (26 dB range)", True, lambda: tones(level_dbfs=-36)),
        ("level -50 dBFS (below range)", False, lambda: tones(level_dbfs=-50)),
        (
            "40 ms + 8 dB twist + 1.5 % + S/N 15 dB",
            True,
            lambda: add_noise(
                tones(tone_ms=40, gap_ms=40, twist_db=-8, freq_error=0.015), 15, seed=2
            ),
        ),
        (
            "phone line: μ-law, 300-3400 Hz, S/N 20 dB",
            True,
            lambda: degrade(tones(tone_ms=50, gap_ms=50), snr_db=20, seed=3),
        ),
    ]
    out = [Condition(name, expect, sent, to_rate(make(), RATE)) for name, expect, make in made]
    voices = {language: names[:1] if quick else names for language, names in VOICES.items()}
    speech = [
        to_rate(espeak(text, voice, pitch, folder / f"s{n}.wav"), RATE)
        for n, (text, voice, pitch) in enumerate(
            (text, voice, pitch)
            for language, texts in SPEECH.items()
            for voice in voices[language]
            for pitch in (PITCHES[-1:] if quick else PITCHES)
            for text in (texts[:1] if quick else texts)
        )
    ]
    talk = AudioClip(np.concatenate([c.samples for c in speech]), RATE)
    minutes = talk.duration / 60
    out.append(Condition(f"talk-off: espeak-ng speech, {minutes:.1f} min", False, "", talk))
    tune = to_rate(music(12 if quick else 120), RATE)
    out.append(
        Condition(f"talk-off: chords and sweeps, {tune.duration / 60:.1f} min", False, "", tune)
    )
    return out


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def streamed(clip: AudioClip) -> Callable[[], object]:
    """Feed ``clip`` to a DtmfDetector in 20 ms chunks, as a live or recorded call does."""

    def run() -> list[object]:
        detector = DtmfDetector(clip.rate)
        step = clip.rate // 50
        samples = clip.samples
        events: list[object] = []
        for i in range(0, len(samples), step):
            events += detector.feed(samples[i : i + step])
        return events + detector.flush()

    return run


def keys_only_call() -> AudioClip:
    """A minute of a caller's side at 16 kHz: eight 80 ms keys in silence (as
    benchmarks/recorded.py replays it)."""
    rate = 16000
    track = np.zeros(60 * rate, np.int16)
    keys = {2.0: "1", 4.0: "2", 6.0: "1", 9.0: "1", 12.0: "2", 15.0: "3", 40.0: "#", 55.0: "0"}
    for moment, key in keys.items():
        tone = to_rate(generate(key, tone_ms=80, gap_ms=0), rate).samples
        start = int(moment * rate)
        track[start : start + len(tone)] = tone
    return AudioClip(track, rate)


def better_or_equal(ours: Score, theirs: Score, expect: bool) -> bool:
    """At least as accurate in one condition: as many right, no more errors."""
    if not expect:
        return ours.right >= theirs.right and ours.false <= theirs.false
    errors = (ours.wrong + ours.missed + ours.false, theirs.wrong + theirs.missed + theirs.false)
    return ours.right >= theirs.right and errors[0] <= errors[1]


def main() -> None:
    parser = arguments(__doc__ or "")
    parser.add_argument("--reps", type=int, help="each key this often per condition (4; quick 1)")
    parser.add_argument("--repeat", type=int, help="speed measurements (5; quick 1)")
    args = parser.parse_args()
    reps = args.reps or (1 if args.quick else 4)
    repeat = args.repeat or (1 if args.quick else 5)
    missing = [tool for tool in ("multimon-ng", "espeak-ng") if shutil.which(tool) is None]
    if missing:
        sys.exit(f"missing: {', '.join(missing)} (apt-get install {' '.join(missing)})")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        sets = conditions(reps, Path(tmp), args.quick)

    version = subprocess.run(["multimon-ng", "-h"], capture_output=True, text=True)
    multimon_version = (version.stdout + version.stderr).split("\n", 1)[0].strip()
    print(
        f"Machine: {platform.machine()}, Python {platform.python_version()}, {multimon_version}; "
        f"{len(KEYS) * reps} digits per tone condition (all 16 keys); input 22050 Hz.\n"
    )
    print(
        "| condition | Q.24 | ivr.audio.dtmf right / wrong / missed / false "
        "| multimon-ng right / wrong / missed / false |"
    )
    print("|---|---|---|---|")
    totals = {"ivr.audio.dtmf": Score(), "multimon-ng": Score()}
    talk_off = {"ivr.audio.dtmf": 0, "multimon-ng": 0}
    worse: list[str] = []
    for c in sets:
        ours = score(c, digits(c.clip))
        theirs = score(c, multimon(c.clip))
        for name, s in (("ivr.audio.dtmf", ours), ("multimon-ng", theirs)):
            total = totals[name]
            total.right += s.right
            total.wrong += s.wrong
            total.missed += s.missed
            total.false += s.false
            if not c.sent:
                talk_off[name] += s.false
        if not better_or_equal(ours, theirs, c.expect):
            worse.append(c.name)
        expect = "decode" if c.expect else "reject"
        cells = f"{ours.cells(c.expect, c.sent)} | {theirs.cells(c.expect, c.sent)}"
        print(f"| {c.name} | {expect} | {cells} |")
    a, b = totals["ivr.audio.dtmf"], totals["multimon-ng"]
    print(
        f"| **total** | | {a.right} / {a.wrong} / {a.missed} / {a.false} "
        f"| {b.right} / {b.wrong} / {b.missed} / {b.false} |"
    )
    print(
        "\nRows to reject: right = tones not decoded, false = digits decoded. "
        "Talk-off rows: every digit is false.\n"
    )

    everything = AudioClip(np.concatenate([c.clip.samples for c in sets]), RATE)
    seconds = everything.duration
    narrow = to_rate(everything, 8000)
    wideband = to_rate(everything, 16000)
    call = keys_only_call()
    paths: dict[str, tuple[Callable[[], object], float]] = {
        "multimon-ng (22050 Hz, stdin pipe)": (lambda: multimon(everything), seconds),
        "ivr.audio.dtmf.detect (22050 Hz, whole clip)": (lambda: digits(everything), seconds),
        "ivr.audio.dtmf.DtmfDetector (22050 Hz, 20 ms chunks)": (streamed(everything), seconds),
        "ivr.audio.dtmf.DtmfDetector (16 kHz, 20 ms chunks)": (streamed(wideband), seconds),
        "ivr.audio.dtmf.detect (8 kHz, no resampling)": (lambda: digits(narrow), seconds),
        "ivr.audio.dtmf.DtmfDetector, keys-only call (16 kHz, 20 ms chunks)": (
            streamed(call),
            call.duration,
        ),
    }
    if not args.quick:  # --quick times once, cold: its speeds mean nothing anyway
        for action, _ in paths.values():  # warm up: caches, lazy imports
            action()
    speeds: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(repeat):
        for name, (action, audio) in paths.items():
            speeds[name].append(audio / timed(action))

    print(
        f"Speed on all of the above in one stream ({seconds:.0f} s of audio; the keys-only "
        f"call: {call.duration:.0f} s), {repeat} side-by-side repeats:\n"
    )
    print("| decoder | audio seconds per second (median) | min | max |\n|---|---|---|---|")
    for name, values in speeds.items():
        print(
            f"| {name} | {statistics.median(values):.0f} | {min(values):.0f} | {max(values):.0f} |"
        )
    print(f"\nWall time of this benchmark: {time.perf_counter() - started:.0f} s\n")

    theirs_speed = speeds["multimon-ng (22050 Hz, stdin pipe)"]
    ours_speed = speeds["ivr.audio.dtmf.detect (22050 Hz, whole clip)"]
    reference = f"multimon-ng, same run: {statistics.median(theirs_speed):.0f} audio s/s (median)"
    call_speed = speeds["ivr.audio.dtmf.DtmfDetector, keys-only call (16 kHz, 20 ms chunks)"]
    report([
        Figure("DTMF accuracy vs multimon-ng: digits right, all conditions", "digits",
               [float(a.right)], target="at least as accurate as multimon-ng in every condition",
               met=not worse, anchor=f"multimon-ng, same tone sets: {b.right} right",
               notes=[f"less accurate than multimon-ng in: {', '.join(worse)}"] if worse else []),
        Figure("DTMF errors (wrong + missed + false), all conditions", "digits",
               [float(a.wrong + a.missed + a.false)],
               anchor=f"multimon-ng, same tone sets: {b.wrong + b.missed + b.false}"),
        Figure("DTMF talk-off false digits (espeak-ng speech, chords and sweeps)", "digits",
               [float(talk_off["ivr.audio.dtmf"])], target="0", met=talk_off["ivr.audio.dtmf"] == 0,
               anchor=f"multimon-ng, same audio: {talk_off['multimon-ng']}"),
        Figure("DTMF speed ivr.audio.dtmf.detect 22050 Hz", "audio s/s", ours_speed,
               target="faster than multimon-ng",
               met=all(o > t for o, t in zip(ours_speed, theirs_speed, strict=True)),
               anchor=reference,
               notes=["met: faster than multimon-ng in every side-by-side repeat"]),
        Figure("multimon-ng speed 22050 Hz", "audio s/s", theirs_speed,
               anchor="multimon-ng -a DTMF -t raw, a new process per run (as measured above)"),
        Figure("DTMF speed ivr.audio.dtmf.detect 8 kHz (no resampling)", "audio s/s",
               speeds["ivr.audio.dtmf.detect (8 kHz, no resampling)"], anchor=reference),
        Figure("DTMF streaming speed 22050 Hz, 20 ms chunks", "audio s/s",
               speeds["ivr.audio.dtmf.DtmfDetector (22050 Hz, 20 ms chunks)"], anchor=reference),
        Figure("DTMF streaming speed 16 kHz, 20 ms chunks", "audio s/s",
               speeds["ivr.audio.dtmf.DtmfDetector (16 kHz, 20 ms chunks)"], anchor=reference),
        Figure("DTMF streaming speed, keys-only recorded call (16 kHz, 20 ms chunks)",
               "audio s/s", call_speed, target=">= 1000× real time", met=min(call_speed) >= 1000,
               anchor="a keys-only recorded call must replay >= 200× overall"),
    ], args)  # fmt: skip


if __name__ == "__main__":
    main()
