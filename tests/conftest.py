from __future__ import annotations

import atexit
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ivr.menu.model import Menu, load
from tests.pulse import isolate

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
