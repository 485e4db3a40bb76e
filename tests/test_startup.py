"""Commands that need no speech model import neither vosk nor soxr (start-up stays quick)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("vosk", "soxr", "duckdb")  # duckdb: only ivr report loads it

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


def test_dtmf_on_an_8_khz_file_imports_no_speech_library(tmp_path: Path) -> None:
    """An 8 kHz file needs no resampling, so ``ivr dtmf`` leaves soxr unloaded."""
    import numpy as np

    from ivr.audio.dtmf import generate
    from ivr.audio.wav import AudioClip, write_wav

    tones = generate("1#", 8000).samples
    write_wav(
        tmp_path / "keys.wav", AudioClip(np.concatenate([np.zeros(800, np.int16), tones]), 8000)
    )
    assert _imported("dtmf", "keys.wav", cwd=tmp_path) == set()


def test_help_imports_neither_rich_nor_the_menu_checker(tmp_path: Path) -> None:
    """``ivr --help`` builds the parser only: no command's libraries are loaded."""
    probe = _PROBE.replace(
        "{heavy!r}", repr({"rich", "yaml", "jsonschema", "transitions", "numpy"})
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert done.stdout.splitlines()[-1] == "", done.stderr


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


def test_the_help_names_every_official_model() -> None:
    """The CLI names the official models without importing ivr.hearing.models."""
    from ivr.cli.parser import OFFICIAL_MODELS
    from ivr.hearing.models import OFFICIAL

    assert tuple(OFFICIAL) == OFFICIAL_MODELS


def test_a_keyed_wallet_call_that_reaches_no_action_node_imports_no_database_library(
    tmp_path: Path,
) -> None:
    """The wallet menu has action nodes, but its back office connects at the first request:
    a call through the guide's tree loads neither SQLAlchemy, Alembic nor argon2."""
    probe = _PROBE.replace("{heavy!r}", repr({"sqlalchemy", "alembic", "argon2", "psycopg"}))
    args = ["call", "--keys", "12_1*#0", "--log", "f", "--quiet"]
    done = subprocess.run(
        [sys.executable, "-c", probe, *args], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.stdout.splitlines()[-1] == "", done.stderr
