"""The checked-menu cache (``ivr.menu.cache``): a hit is the same menu, anything else a full load."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ivr.menu import cache
from ivr.menu.model import load
from ivr.menu.problems import MenuInvalid
from tests.conftest import SMALL_MENU, WALLET


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "cache-home"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return home / "ivr" / "menus"


def entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.pickle")) if folder.is_dir() else []


def copy_wallet(folder: Path, name: str = "wallet.zh-CN.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    guide = WALLET.parent / "wallet-service-guide.zh-CN.txt"
    shutil.copy(guide, folder / guide.name)
    return Path(shutil.copy(WALLET, folder / name))


def test_a_hit_is_an_equal_menu_at_the_path_given_now(tmp_path: Path, cache_home: Path) -> None:
    first = load(copy_wallet(tmp_path / "a"))
    assert len(entries(cache_home)) == 1
    moved = copy_wallet(tmp_path / "b", "other.yaml")
    hit, _ = cache.lookup(moved)
    assert hit is not None
    assert hit.path == moved and hit.guide == moved.parent / "wallet-service-guide.zh-CN.txt"
    again = load(moved)
    assert again == hit
    assert again == load(moved, cached=False)
    assert again.nodes == first.nodes and again.title == first.title
    assert again.descendants(again.start) == first.descendants(first.start)
    assert len(entries(cache_home)) == 1


def test_a_title_taken_from_the_file_name_follows_the_file(
    tmp_path: Path, cache_home: Path
) -> None:
    text = SMALL_MENU.replace("title: 测试热线\n", "")
    (tmp_path / "one.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "two.yaml").write_text(text, encoding="utf-8")
    assert load(tmp_path / "one.yaml").title == "one"
    assert cache.lookup(tmp_path / "two.yaml")[0] is not None
    assert load(tmp_path / "two.yaml").title == "two"


def test_editing_the_menu_or_its_guide_misses(tmp_path: Path, cache_home: Path) -> None:
    menu = copy_wallet(tmp_path)
    load(menu)
    menu.write_text(menu.read_text("utf-8").replace("人民数字钱包客服热线", "钱包热线", 1), "utf-8")
    assert cache.lookup(menu)[0] is None
    assert load(menu).title == "钱包热线"
    assert cache.lookup(menu)[0] is not None
    guide = tmp_path / "wallet-service-guide.zh-CN.txt"
    guide.write_text(guide.read_text("utf-8") + "\n附录\n", "utf-8")
    assert cache.lookup(menu)[0] is None
    load(menu)
    assert cache.lookup(menu)[0] is not None
    guide.write_text(guide.read_text("utf-8").replace("找回", "寻回"), "utf-8")
    with pytest.raises(MenuInvalid, match="source"):  # a source no longer in the guide
        load(menu)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "other object"])
def test_a_damaged_entry_falls_back_and_is_replaced(
    tmp_path: Path, cache_home: Path, damage: str
) -> None:
    menu = copy_wallet(tmp_path)
    expected = load(menu)
    [entry] = entries(cache_home)
    good = entry.read_bytes()
    entry.write_bytes(
        {
            "truncate": good[: len(good) // 2],
            "garbage": os.urandom(200),
            "empty": b"",
            "other object": __import__("pickle").dumps({"menu": 1}),
        }[damage]
    )
    assert cache.lookup(menu)[0] is None
    assert load(menu) == expected
    assert entry.read_bytes() == good
    assert not list(cache_home.glob(".*.tmp"))


def test_an_unwritable_cache_still_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache folder would be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    menu = copy_wallet(tmp_path / "m")
    assert load(menu) == load(menu, cached=False)
    assert blocker.is_file()


def test_an_invalid_menu_is_reported_every_time_and_never_cached(
    tmp_path: Path, cache_home: Path
) -> None:
    path = tmp_path / "menu.yaml"
    path.write_text(SMALL_MENU.replace("start: main", "start: nowhere"), encoding="utf-8")
    for _ in range(2):
        with pytest.raises(MenuInvalid) as raised:
            load(path)
        assert any("nowhere" in str(problem) for problem in raised.value.problems)
    assert entries(cache_home) == []


_PROBE = """
import sys
from ivr.cli import main
status = main(sys.argv[1:])
heavy = {"yaml", "jsonschema", "referencing", "rpds", "attrs", "rich"}
print(status, " ".join(sorted(m for m in sys.modules if m.split(".")[0] in heavy)))
"""


def test_a_warm_quiet_call_imports_neither_yaml_nor_jsonschema_nor_rich(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}

    def run() -> str:
        args = ["call", "--keys", "12_1*#0", "--log", "f", "--quiet"]
        done = subprocess.run(
            [sys.executable, "-c", _PROBE, *args],
            capture_output=True, text=True, cwd=tmp_path, env=env, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()[-1]

    cold = run()
    assert "yaml" in cold.split() and "jsonschema" in cold.split()
    assert entries(tmp_path / "cache" / "ivr" / "menus")
    assert run() == "0 "
    assert (tmp_path / "f").read_text("utf-8").count("\n") > 5
