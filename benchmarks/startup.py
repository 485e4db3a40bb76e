"""Start-up: whole ``ivr`` processes, the way a user or a script runs them (issue 10).

Run: python benchmarks/startup.py [--quick] [--json FILE] [--runs N] [--baseline DIR].
Times, as new processes: ``ivr --help``; ``ivr call --keys "12_1*#0" --log f``; ``ivr dtmf``
on a 60 s and a 10-minute 8 kHz WAV (keys in quiet noise) against ``multimon-ng -a DTMF -t wav``
on the same files (multimon-ng reads a WAV through sox, as a user would run it). Each round
runs every command once, one after the other, so a busy machine slows all of them alike;
figures are medians. ``--baseline DIR`` also times the same commands with ``PYTHONPATH=DIR``
(a checkout of an older commit), alternating with the current code. ``--quick`` (one round, no
warm-up, the 60 s file only) proves the script works; it judges nothing.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ivr.audio.dtmf import generate
from ivr.audio.wav import AudioClip, write_wav

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import Figure, arguments, report

RATE = 8000
KEYS = "12_1*#0"


def keyed_file(path: Path, seconds: int) -> Path:
    """``seconds`` of 8 kHz audio: faint noise with a key every 5 s (as a caller's side)."""
    rng = np.random.default_rng(7)
    track = rng.normal(0, 30, seconds * RATE)
    for n, moment in enumerate(range(2, seconds - 1, 5)):
        tone = generate("1234567890*#"[n % 12], RATE, tone_ms=80, gap_ms=0).samples
        start = moment * RATE
        track[start : start + len(tone)] += tone
    write_wav(path, AudioClip(np.clip(np.round(track), -32768, 32767).astype(np.int16), RATE))
    return path


def ivr_command() -> list[str]:
    """The installed ``ivr`` script next to this Python, else ``python -m ivr``."""
    script = Path(sys.executable).with_name("ivr")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "ivr"]


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    """Wall time of one whole process, its output discarded; it must succeed."""
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True, env=env)
    return time.perf_counter() - start


def main() -> None:
    parser = arguments(__doc__ or "")
    parser.add_argument("--runs", type=int, help="rounds of every command (15; quick 1)")
    parser.add_argument("--baseline", type=Path, metavar="DIR", help="also time this checkout")
    args = parser.parse_args()
    runs = args.runs or (1 if args.quick else 15)
    missing = [tool for tool in ("multimon-ng", "sox") if shutil.which(tool) is None]
    if missing:
        sys.exit(f"missing: {', '.join(missing)} (apt-get install {' '.join(missing)})")
    ivr = ivr_command()
    versions: dict[str, dict[str, str] | None] = {"": None}
    if args.baseline is not None:
        versions["baseline "] = {**os.environ, "PYTHONPATH": str(args.baseline.resolve())}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        lengths = {"60 s": 60} if args.quick else {"60 s": 60, "10 min": 600}
        files = {name: keyed_file(folder / f"{n}s.wav", n) for name, n in lengths.items()}
        commands: dict[str, tuple[list[str], dict[str, str] | None]] = {}
        for label, env in versions.items():
            commands[f"{label}ivr --help"] = ([*ivr, "--help"], env)
            log = str(folder / "call.jsonl")
            commands[f'{label}ivr call --keys "{KEYS}" --log f'] = (
                [*ivr, "call", "--keys", KEYS, "--log", log],
                env,
            )
            for name, path in files.items():
                commands[f"{label}ivr dtmf, {name} 8 kHz"] = ([*ivr, "dtmf", str(path)], env)
        for name, path in files.items():
            multimon = ["multimon-ng", "-q", "-c", "-a", "DTMF", "-t", "wav", str(path)]
            commands[f"multimon-ng, {name} 8 kHz"] = (multimon, None)
        if not args.quick:  # --quick runs every command once, cold: it judges nothing
            for command, env in commands.values():  # warm up: the page cache, .pyc files
                timed(command, env)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(runs):
            for name, (command, env) in commands.items():
                times[name].append(timed(command, env))

    print(f"Whole processes, {runs} alternating rounds; seconds:\n")
    print("| command | median | min | max |\n|---|---|---|---|")
    for name, values in times.items():
        low, mid, high = min(values), statistics.median(values), max(values)
        print(f"| {name} | {mid:.3f} | {low:.3f} | {high:.3f} |")
    print()

    def median(name: str) -> float:
        return statistics.median(times[name])

    figures = [
        Figure("ivr --help, whole process", "s", times["ivr --help"], target="<= 0.15 s (median)",
               met=median("ivr --help") <= 0.15),
        Figure(f'ivr call --keys "{KEYS}" --log f, whole process', "s",
               times[f'ivr call --keys "{KEYS}" --log f'], target="<= 0.25 s (median)",
               met=median(f'ivr call --keys "{KEYS}" --log f') <= 0.25),
    ]  # fmt: skip
    for name, bound in (("60 s", 2.0), ("10 min", 1.0)):
        if name not in files:
            continue
        ours, theirs = f"ivr dtmf, {name} 8 kHz", f"multimon-ng, {name} 8 kHz"
        ratio = median(ours) / median(theirs)
        figures.append(
            Figure(
                f"ivr dtmf, {name} 8 kHz file, whole process",
                "s",
                times[ours],
                target=f"<= {bound:g}× multimon-ng (median)",
                met=ratio <= bound,
                anchor=f"multimon-ng -a DTMF -t wav, same file, same rounds: "
                f"{median(theirs):.3f} s ({ratio:.2f}×)",
            )
        )
    for label in versions:
        if label:
            for name in times:
                if name.startswith(label):
                    figures.append(Figure(name, "s", times[name], anchor="before, same rounds"))
    report(figures, args)


if __name__ == "__main__":
    main()
