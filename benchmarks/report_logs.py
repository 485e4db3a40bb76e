"""``ivr report`` at contact-centre volume: 10⁴, 10⁵ and 10⁶ calls' logs summarised.

Run: python benchmarks/report_logs.py [--quick] [--json FILE] [--keep DIR].
The logs are made by `generate` (not by running a million calls): a few hundred call
templates are walked at random through the wallet menu (greeting, menu prompts with their
real texts, keys, no-inputs and no-matches, answers, hang-ups, transfers through the agent
queue with ``queue``/``agent``/``callback`` events), rendered once as JSON lines, then
written call after call with their call ids, as ``ivr simulate`` writes multi-call files
(100,000 calls a file). The figure is the time of `ivr.reports.summary.summarize` over
them: DuckDB reading every file and computing every figure (the terminal table and the HTML
take well under a second more). ``--quick``: 1,000 and 3,000 calls, to prove it works.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import Figure, arguments, report

ROOT = Path(__file__).resolve().parent.parent
MENU = ROOT / "menus" / "wallet.zh-CN.yaml"
PER_FILE = 100_000
TEMPLATES = 400
MARK = "\x00CALL\x00"


class _Call:
    """One template's events as it is walked, at its call time ``t``."""

    def __init__(self) -> None:
        self.lines: list[dict[str, object]] = []
        self.t = 0.0

    def add(self, event: str, state: str, **fields: object) -> None:
        self.lines.append({"t": round(self.t, 2), "type": event, "state": state, **fields})


def templates(seed: int = 1) -> list[str]:
    """Call templates: each the JSON lines of one call, its id written as `MARK`."""
    from ivr.menu.model import load

    menu = load(MENU)
    rng = random.Random(seed)
    found = []
    for _ in range(TEMPLATES):
        call = _Call()
        add = call.add
        node = menu.start
        add("call-start", node)
        add("prompt", node, text=menu.nodes[node].prompt, kind="greeting")
        outcome = "abandoned"
        for _depth in range(6):
            here = menu.nodes[node]
            add("prompt", node, text=here.prompt or here.answer or here.title, kind="menu")
            call.t += rng.uniform(2, 15)
            roll = rng.random()
            if roll < 0.08:
                add("no-input", node, count=1)
                call.t += 5
            elif roll < 0.13:
                add("key", node, key="9")
                add("no-match", node, key="9", count=1)
            if not here.options or rng.random() < 0.15:
                break
            if rng.random() < 0.12:
                outcome = "transferred"
                add("key", node, key="0")
                break
            key, node = rng.choice(list(here.options.items()))
            add("key", here.id, key=key)
            add("state", node, text=menu.nodes[node].title)
        if outcome == "transferred":
            add("transfer", node, reason="caller")
            add("queue", node, reason="enter", count=rng.randint(0, 6), seconds=30)
            wait = rng.expovariate(1 / 25)
            call.t += wait
            end = rng.random()
            if end < 0.75:
                add("agent", node, seconds=round(wait, 1))
            elif end < 0.85:
                outcome = "callback"
                add("callback", node, seconds=round(wait, 1))
            else:
                outcome = "abandoned"
                add("hangup", node, reason="caller", seconds=round(wait, 1))
        else:
            add("hangup", node, reason="caller")
        add("call-end", node, outcome=outcome)
        found.append(
            "".join(
                json.dumps({**line, "call": MARK}, ensure_ascii=False) + "\n" for line in call.lines
            )
        )
    return found


def generate(folder: Path, calls: int, seed: int = 1) -> list[Path]:
    """``calls`` calls' logs in files of `PER_FILE` calls under ``folder``."""
    rng = random.Random(seed)
    rendered = templates(seed)
    token = json.dumps(MARK)
    files = []
    for first in range(0, calls, PER_FILE):
        path = folder / f"calls-{first // PER_FILE:03d}.jsonl"
        with path.open("w", encoding="utf-8") as out:
            chunk: list[str] = []
            for call in range(first, min(first + PER_FILE, calls)):
                chunk.append(rng.choice(rendered).replace(token, f'"c{call}"'))
                if len(chunk) == 10_000:
                    out.write("".join(chunk))
                    chunk = []
            out.write("".join(chunk))
        files.append(path)
    return files


def main() -> None:
    parser = arguments(__doc__ or "")
    parser.add_argument("--keep", type=Path, help="generate the logs here and keep them")
    args = parser.parse_args()
    from ivr.menu.model import load
    from ivr.reports.sources import Problems
    from ivr.reports.summary import menu_shape, summarize

    shape = menu_shape(load(MENU))
    sizes = (1_000, 3_000) if args.quick else (10_000, 100_000, 1_000_000)
    figures = []
    for calls in sizes:
        folder = Path(tempfile.mkdtemp(prefix="ivr-report-")) if args.keep is None else args.keep
        folder.mkdir(parents=True, exist_ok=True)
        try:
            began = time.perf_counter()
            files = generate(folder, calls)
            made = time.perf_counter() - began
            size = sum(f.stat().st_size for f in files) / 1024**2
            runs = []
            for _ in range(1 if calls >= 1_000_000 or args.quick else 3):
                problems = Problems()
                summary = summarize(files, problems, shape)
                assert summary.calls == calls and not problems, (summary.calls, problems.said())
                runs.append(summary.seconds)
            target = "< 60 s" if calls == 1_000_000 else ""
            figures.append(
                Figure(
                    f"ivr report over {calls:,} calls ({len(files)} files, {size:,.0f} MiB)",
                    "s",
                    runs,
                    target=target,
                    met=(max(runs) < 60) if target else None,
                    notes=[
                        f"{summary.calls / min(runs):,.0f} calls/s; "
                        f"generated in {made:.1f} s; containment {summary.containment:.3f}, "
                        f"service level {summary.queue.service_level or 0:.3f}"
                    ],
                )
            )
        finally:
            if args.keep is None:
                shutil.rmtree(folder, ignore_errors=True)
    report(figures, args)


if __name__ == "__main__":
    main()
