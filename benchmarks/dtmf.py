"""The DTMF receiver against multimon-ng, on the same tone sets, per Q.24 condition.

Run: python benchmarks/dtmf.py [--reps N]. Needs multimon-ng (apt-get install multimon-ng)
and espeak-ng. Every clip is made at 8 kHz, then resampled to 22050 Hz, the rate
multimon-ng reads (raw s16le on stdin); ivr.dtmf gets the same 22050 Hz samples. Prints
Markdown tables: digits right / wrong / missed / false per condition for both decoders,
then speed. Not a test: nothing here fails; it takes well under a minute.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ivr.audio import AudioClip, read_wav, to_rate
from ivr.dtmf import KEYS, DtmfDetector, add_noise, digits, generate
from ivr.line import degrade

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


def music() -> AudioClip:
    """Chords with instrument-like harmonics, then sweeps and a harmonic glide."""
    rng = np.random.default_rng(1)
    rate = 8000
    parts = []
    for i in range(120):
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


def conditions(reps: int, folder: Path) -> list[Condition]:
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
    speech = [
        to_rate(espeak(text, voice, pitch, folder / f"s{n}.wav"), RATE)
        for n, (text, voice, pitch) in enumerate(
            (text, voice, pitch)
            for language, texts in SPEECH.items()
            for voice in VOICES[language]
            for pitch in PITCHES
            for text in texts
        )
    ]
    talk = AudioClip(np.concatenate([c.samples for c in speech]), RATE)
    minutes = talk.duration / 60
    out.append(Condition(f"talk-off: espeak-ng speech, {minutes:.1f} min", False, "", talk))
    tune = to_rate(music(), RATE)
    out.append(
        Condition(f"talk-off: chords and sweeps, {tune.duration / 60:.1f} min", False, "", tune)
    )
    return out


def speed(action: Callable[[], object], audio_seconds: float, repeat: int = 3) -> float:
    """Seconds of audio decoded per wall second (best of ``repeat``)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return audio_seconds / best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=4, help="each key this often per condition")
    reps = parser.parse_args().reps
    missing = [tool for tool in ("multimon-ng", "espeak-ng") if shutil.which(tool) is None]
    if missing:
        sys.exit(f"missing: {', '.join(missing)} (apt-get install {' '.join(missing)})")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        sets = conditions(reps, Path(tmp))

    version = subprocess.run(["multimon-ng", "-h"], capture_output=True, text=True)
    multimon_version = (version.stdout + version.stderr).split("\n", 1)[0].strip()
    print(
        f"Machine: {platform.machine()}, Python {platform.python_version()}, {multimon_version}; "
        f"{len(KEYS) * reps} digits per tone condition (all 16 keys); input 22050 Hz.\n"
    )
    print(
        "| condition | Q.24 | ivr.dtmf right / wrong / missed / false "
        "| multimon-ng right / wrong / missed / false |"
    )
    print("|---|---|---|---|")
    totals = {"ivr.dtmf": Score(), "multimon-ng": Score()}
    for c in sets:
        ours = score(c, digits(c.clip))
        theirs = score(c, multimon(c.clip))
        for total, s in ((totals["ivr.dtmf"], ours), (totals["multimon-ng"], theirs)):
            total.right += s.right
            total.wrong += s.wrong
            total.missed += s.missed
            total.false += s.false
        expect = "decode" if c.expect else "reject"
        cells = f"{ours.cells(c.expect, c.sent)} | {theirs.cells(c.expect, c.sent)}"
        print(f"| {c.name} | {expect} | {cells} |")
    a, b = totals["ivr.dtmf"], totals["multimon-ng"]
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

    def streamed() -> None:
        detector = DtmfDetector(RATE)
        step = RATE // 50
        for i in range(0, len(everything.samples), step):
            detector.feed(everything.samples[i : i + step])
        detector.flush()

    narrow = to_rate(everything, 8000)
    rows: list[tuple[str, Callable[[], object]]] = [
        ("multimon-ng (22050 Hz, stdin pipe)", lambda: multimon(everything)),
        ("ivr.dtmf.detect (22050 Hz, whole clip)", lambda: digits(everything)),
        ("ivr.dtmf.DtmfDetector (22050 Hz, 20 ms chunks)", streamed),
        ("ivr.dtmf.detect (8 kHz, no resampling)", lambda: digits(narrow)),
    ]
    print(f"Speed on all of the above in one stream ({seconds:.0f} s of audio):\n")
    print("| decoder | audio seconds per second |\n|---|---|")
    for name, action in rows:
        print(f"| {name} | {speed(action, seconds):.0f} |")
    print(f"\nWall time of this benchmark: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
