"""Commands that need no speech model import neither vosk nor soxr (start-up stays quick)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("vosk", "soxr")

_PROBE = """
import sys
from ivr.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(" ".join(sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})))
"""


def _imported(*args: str, cwd: Path) -> set[str]:
    probe = _PROBE.format(heavy=set(HEAVY))
    done = subprocess.run(
        [sys.executable, "-c", probe, *args], capture_output=True, text=True, cwd=cwd, check=False
    )
    assert done.stdout, done.stderr
    return set(done.stdout.splitlines()[-1].split())


def test_a_keyed_call_imports_no_speech_library(tmp_path: Path) -> None:
    assert _imported("call", "--keys", "12_1*#0", "--log", "f", "--quiet", cwd=tmp_path) == set()
    assert (tmp_path / "f").exists()


@pytest.mark.parametrize("args", [["check"], ["--help"]])
def test_check_and_help_import_no_speech_library(args: list[str], tmp_path: Path) -> None:
    assert _imported(*args, cwd=tmp_path) == set()


def test_the_probe_would_see_a_speech_library(tmp_path: Path) -> None:
    """The check above is not vacuous: a command that loads the resampler shows it."""
    import soxr  # noqa: F401  (installed: the probe must be able to see it)

    probe = "import sys, ivr.audio.wav as w, numpy as n; w.to_rate(w.AudioClip(n.ones(800, 'int16'), 8000), 16000)"
    done = subprocess.run(
        [sys.executable, "-c", probe + "; print('soxr' in sys.modules)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert done.stdout.strip() == "True", done.stderr
