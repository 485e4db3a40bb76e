"""How much faster than real time a recorded call runs: keys only, and with speech.

A whole-call recording of the caller's side is replayed as `ivr run-recording` does
(in-band DTMF receiver, recognizer, virtual clock). Run: python benchmarks/recorded.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from ivr import wiring
from ivr.audio.wav import AudioClip
from ivr.callers.whole_call import WholeCallCaller
from ivr.clock import VirtualClock
from ivr.drivers.session import Session
from ivr.drivers.testing import caller_recording
from ivr.engine.flow import CallFlow
from ivr.hearing.tracker import UtteranceTracker
from ivr.menu.model import Menu, load
from ivr.prompts.player import SilentPlayer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' speech helpers
from benchmarks.common import Figure, arguments, report  # noqa: E402
from tests.speech.korean import korean_clip, korean_model_dir  # noqa: E402

RATE = 16000


def speed(
    menu: Menu, clip: AudioClip, tracker: UtteranceTracker | None, repeat: int
) -> list[float]:
    flow = CallFlow(menu)
    ratios = []
    for _ in range(repeat):
        clock = VirtualClock()
        began = time.perf_counter()
        Session(flow, WholeCallCaller(clip, clock, tracker), SilentPlayer(), clock).run()
        ratios.append(clock.now() / (time.perf_counter() - began))
    return ratios


def main() -> None:
    args = arguments(__doc__ or "").parse_args()
    repeat = 1 if args.quick else 5
    wallet = load(ROOT / "menus" / "wallet.zh-CN.yaml")
    keys = {2.0: "1", 4.0: "2", 6.0: "1", 9.0: "1", 12.0: "2", 15.0: "3", 40.0: "#", 55.0: "0"}
    keys_only = speed(wallet, caller_recording(60, keys, {}), None, repeat)

    korean = load(ROOT / "tests" / "menus" / "korean.ko-KR.yaml")
    tracker = wiring.tracker(korean_model_dir(), menu=korean)  # as its calls hear: decoys
    with tempfile.TemporaryDirectory() as folder:
        words = {
            1.0: korean_clip("셋", folder),
            9.0: korean_clip("오", folder),
            17.0: korean_clip("다시 듣기", folder),
            25.0: korean_clip("상담원", folder),
        }
    with_speech = speed(korean, caller_recording(60, {}, words), tracker, repeat)
    report([
        Figure("recorded call, keys only (in-band DTMF): call seconds per second", "×",
               keys_only, target=">= 200×", met=min(keys_only) >= 200),
        Figure("recorded call with speech (closed grammar): call seconds per second", "×",
               with_speech, target=">= 20×", met=min(with_speech) >= 20),
    ], args)  # fmt: skip


if __name__ == "__main__":
    main()
