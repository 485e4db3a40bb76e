"""Run every benchmark and write docs/benchmarks.md: ``scripts/bench`` (``--quick`` in CI).

``--quick`` runs prove the benchmarks work; their figures mean little, so they are written
into a new temporary folder (the path is printed), never over the committed document,
unless ``--out`` names a file.

Each script prints its own table and writes its figures as JSON (benchmarks/common.py);
this gathers them with the machine they ran on. A benchmark that fails is reported as
failed in the document; nothing here judges speed by exiting non-zero, because a slow
machine is not a broken build.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = {
    "keypad": "Keypad calls: scripted-call speed, engine turns, engine state per call",
    "prompt_latency": "Key press → first sample of the next prompt (live, cached prompts)",
    "speech": "Speech: end of speech → decision, real-time factor, memory",
    "recorded": "Recorded calls: how much faster than real time",
    "load": "Simultaneous calls in one process",
    "streams": "Real-time speech streams on one shared model",
    "dtmf": "DTMF receiver against multimon-ng",
    "startup": "Start-up: whole ivr processes, and ivr dtmf against multimon-ng",
    "backoffice": "Back office: lookups and writes on SQLite and PostgreSQL",
    "report_logs": "ivr report: call logs summarised by DuckDB (10⁴, 10⁵, 10⁶ calls)",
    "simulate": "ivr simulate: calls per second per core, and ivr report over its logs",
    "web": "The web phone (ivr serve): key → prompt message, simultaneous web calls",
    "selfservice": "Self-service calls: 1,000 at once in the pool on SQLite and PostgreSQL",
}


def machine() -> list[str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or platform.machine(),
    )
    memory = next(
        (
            int(line.split()[1]) / 1024**2
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        0.0,
    )
    versions = ", ".join(
        f"{name} {metadata.version(name)}" for name in ("vosk", "numpy", "transitions", "soxr")
    )
    return [
        f"- CPU: {cpu}, {os.cpu_count()} cores; memory {memory:.0f} GiB",
        f"- {platform.platform()}; Python {platform.python_version()}; {versions}",
    ]


def run(name: str, quick: bool, folder: Path) -> tuple[list[dict[str, object]], str, float]:
    """The figures of one script, its error output if it failed, and its wall time."""
    target = folder / f"{name}.json"
    command = [sys.executable, str(ROOT / "benchmarks" / f"{name}.py"), "--json", str(target)]
    began = time.monotonic()
    done = subprocess.run(
        [*command, *(["--quick"] if quick else [])],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    spent = time.monotonic() - began
    print(done.stdout, end="", flush=True)
    if done.returncode != 0 or not target.is_file():
        return [], (done.stderr.strip().splitlines() or ["no output"])[-1], spent
    figures: list[dict[str, object]] = json.loads(target.read_text("utf-8"))
    return figures, "", spent


def section(title: str, figures: list[dict[str, object]], failure: str, spent: float) -> list[str]:
    lines = [f"## {title}", ""]
    if failure:
        return [*lines, f"Failed: `{failure}`", ""]
    lines += [
        "| measure | min | median | max | unit | target | met | compared with |",
        "|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for figure in figures:
        values = [float(v) for v in figure["values"]]  # type: ignore[attr-defined]
        met = {None: "", True: "yes", False: "**no**"}[figure.get("met")]  # type: ignore[index]
        lines.append(
            f"| {figure['name']} | {min(values):.4g} | {sorted(values)[len(values) // 2]:.4g} "
            f"| {max(values):.4g} | {figure['unit']} | {figure.get('target', '')} | {met} "
            f"| {figure.get('anchor', '')} |"
        )
        notes += [f"- {figure['name']}: {note}" for note in figure.get("notes", [])]  # type: ignore[attr-defined]
    return [
        *lines,
        "",
        *notes,
        *([""] if notes else []),
        f"_{len(figures)} figures in {spent:.0f} s._",
        "",
    ]


DOCUMENT = ROOT / "docs" / "benchmarks.md"
"""The committed figures, written by full runs only."""


def output_path(quick: bool, out: Path | None) -> Path:
    """``out``; else docs/benchmarks.md for a full run, a file in a new temporary folder
    for a quick one."""
    if out is not None:
        return out
    if quick:
        return Path(tempfile.mkdtemp(prefix="ivr-bench-")) / "benchmarks.md"
    return DOCUMENT


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs, to prove they work")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where to write (default: docs/benchmarks.md; with --quick a temporary folder)",
    )
    parser.add_argument("only", nargs="*", help="run only these benchmarks")
    args = parser.parse_args(argv)
    names = args.only or list(SCRIPTS)
    body: list[str] = []
    targets: list[str] = []
    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            print(f"== {name}", flush=True)
            figures, failure, spent = run(name, args.quick, Path(folder))
            body += section(SCRIPTS[name], figures, failure, spent)
            targets += [
                f"| {f['name']} | {f['target']} | {'yes' if f['met'] else '**no**'} |"
                for f in figures
                if f.get("met") is not None
            ]
    today = datetime.date.today().isoformat()
    header = [
        "# Benchmarks",
        "",
        f"Written by `scripts/bench{' --quick' if args.quick else ''}` on {today}. "
        "Each figure is min / median / max over repeated runs in one invocation.",
        "",
        *machine(),
        "",
        "## Targets",
        "",
        "| measure | target | met |",
        "|---|---|---|",
        *targets,
        "",
    ]
    out = output_path(args.quick, args.out)
    out.write_text("\n".join([*header, *body]), encoding="utf-8")
    print(f"written: {out}")


if __name__ == "__main__":
    main()
