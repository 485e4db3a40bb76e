"""Checked menus, compiled once (issue 10): a call need not parse YAML or import jsonschema.

A menu that passed every check is pickled under ``<user cache dir>/ivr/menus/`` (platformdirs;
``$XDG_CACHE_HOME/ivr/menus`` on Linux, as the prompt cache). The file's name is a digest of

* the menu file's bytes;
* the version of the checks: the source of ``ivr/menu/*.py`` and ``ivr/limits.py``, the JSON
  Schema, the Python version and ``FORMAT`` (bump it when a check changes elsewhere);

and the entry also holds a digest of the guide's bytes when the menu names a ``guide`` (the
``source`` checks read it), compared on every hit. Anything else that differs between two
places the same bytes are loaded from (the path, the guide's path, a title taken from the
file's name) is filled in from the path given now.

Only valid menus are cached, so errors always come from a full check. Reading or writing the
cache never fails a load: a missing, corrupt, truncated or unwritable entry means a full load
(and, if possible, a fresh entry, written to a temporary file then renamed into place).

Pickle runs code named by the file it reads; these files live in the user's own cache
directory, which only that user (or someone who can already run code as them) can write.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ivr.limits import GUIDE_FILE_BYTES, MENU_FILE_BYTES

if TYPE_CHECKING:
    from ivr.menu.model import Menu

FORMAT = 2
"""Bump when what a checked menu is changes outside the hashed sources."""


def cache_dir() -> Path:
    """Where checked menus are kept: the user's cache directory (``$XDG_CACHE_HOME``)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("ivr")) / "menus"


@cache
def version_key() -> bytes:
    """A digest of everything a check depends on besides the menu and its guide."""
    package = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256(f"{FORMAT} {sys.version_info[:2]} {pickle.HIGHEST_PROTOCOL}".encode())
    files = sorted((package / "menu").glob("*.py"))
    files += [package / "limits.py", package / "schema" / "menu.schema.json"]
    for file in files:
        digest.update(file.name.encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.digest()


@dataclass(frozen=True)
class _Entry:
    menu: Menu
    guide: str | None
    """The menu's ``guide`` as written (relative to the menu's folder)."""
    guide_digest: str | None
    title_from_name: bool
    """The menu has no ``title``: it is the file's name, so it comes from the path given."""


@dataclass
class Lookup:
    """What a lookup read: the menu's text for the full load, and where to store it."""

    text: str | None = None
    entry: Path | None = None


def _read(path: Path, limit: int) -> bytes:
    """A regular file's bytes, bounded; OSError for anything else or anything larger."""
    if not stat.S_ISREG(path.stat().st_mode):  # before opening: a FIFO would block
        raise OSError("not a regular file")
    with path.open("rb") as file:
        status = os.fstat(file.fileno())
        if status.st_size > limit:
            raise OSError("too large")
        # read(n) would allocate n bytes up front: read what the file holds, then check
        data = file.read()
    if len(data) > limit:
        raise OSError("too large")
    return data


def _guide_digest(menu_path: Path, guide: str) -> str:
    return hashlib.sha256(_read(menu_path.parent / guide, GUIDE_FILE_BYTES)).hexdigest()


def lookup(path: Path) -> tuple[Menu | None, Lookup]:
    """The cached menu for the file at ``path`` (None on a miss), and what the lookup read."""
    found = Lookup()
    try:
        data = _read(path, MENU_FILE_BYTES)
        found.text = data.decode("utf-8")
        found.entry = cache_dir() / (hashlib.sha256(version_key() + data).hexdigest() + ".pickle")
    except Exception:  # unreadable, too large, not UTF-8: the full load says why
        return None, Lookup()
    try:
        entry = pickle.loads(_read(found.entry, 64 * MENU_FILE_BYTES))
        if not isinstance(entry, _Entry):
            return None, found
        if entry.guide is not None and entry.guide_digest != _guide_digest(path, entry.guide):
            return None, found
        menu = replace(
            entry.menu,
            path=path,
            guide=None if entry.guide is None else path.parent / entry.guide,
            title=path.stem if entry.title_from_name else entry.menu.title,
        )
    except Exception:  # missing, corrupt, truncated, from another version: a miss
        return None, found
    return menu, found


def store(found: Lookup, menu: Menu, guide: str | None, title_from_name: bool) -> None:
    """Keep a menu that passed every check; any failure is ignored (it is only a cache)."""
    if found.entry is None:
        return
    tmp = found.entry.with_name(f".{found.entry.stem}.{os.getpid()}.tmp")
    try:
        digest = None if guide is None else _guide_digest(menu.path, guide)
        entry = _Entry(replace(menu, guide=None), guide, digest, title_from_name)
        found.entry.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("wb") as file:
            _Pickler(file, protocol=pickle.HIGHEST_PROTOCOL).dump(entry)
        os.replace(tmp, found.entry)
    except Exception:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _proxy(mapping: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    """Rebuild a read-only mapping (pickle cannot save a mappingproxy itself)."""
    return MappingProxyType(mapping)


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> tuple[Callable[..., Any], tuple[Any, ...]] | Any:
        if type(obj) is MappingProxyType:
            return _proxy, (dict(obj),)
        return NotImplemented
