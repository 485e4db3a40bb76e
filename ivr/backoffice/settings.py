"""Where the back office's database is, and its rules (PIN attempts, lock time): no heavy
imports, so the command line can resolve and check them before anything loads."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ivr.errors import IvrError

ENVIRONMENT = "IVR_DATABASE_URL"
"""The database URL when ``--db`` is not given."""

DEFAULT_FILE = "backoffice.sqlite3"
"""The default SQLite file's name, in the user data dir (``~/.local/share/ivr``)."""


class DatabaseUrlInvalid(IvrError):
    """A ``--db`` or ``$IVR_DATABASE_URL`` that names no database ivr can use (exit 2)."""

    exit_status = 2


@dataclass(frozen=True)
class Rules:
    """The back office's rules, configurable per deployment."""

    pin_attempts: int = 3
    """Wrong PINs in a row that lock the account."""
    lock_minutes: float = 30.0
    """How long a locked account stays locked."""
    zone: str = "Asia/Shanghai"
    """The time zone dates and times are read in (stored in UTC)."""
    busy_seconds: float = 10.0
    """How long a SQLite write waits for another writer before the back office gives up."""

    def __post_init__(self) -> None:
        if not 1 <= self.pin_attempts <= 100:
            raise ValueError(f"pin_attempts must be 1 to 100, not {self.pin_attempts}")
        if not 0 < self.lock_minutes <= 365 * 24 * 60:
            raise ValueError(
                f"lock_minutes must be above 0 and at most a year, not {self.lock_minutes}"
            )
        if not 0 < self.busy_seconds <= 3600:
            raise ValueError(
                f"busy_seconds must be above 0 and at most 3600, not {self.busy_seconds}"
            )


def default_path() -> Path:
    """The default SQLite file: in the user data dir, beside the speech models."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("ivr")) / DEFAULT_FILE


_SCHEMES = re.compile(r"^(sqlite|postgresql)(\+\w+)?://", re.I)


def database_url(given: str | None = None) -> str:
    """The SQLAlchemy URL of the back office: ``given`` (``--db``), else ``$IVR_DATABASE_URL``,
    else the default SQLite file. A bare path is a SQLite file. PostgreSQL URLs use psycopg 3
    (``postgresql://…`` becomes ``postgresql+psycopg://…``). Raises DatabaseUrlInvalid."""
    text = given if given is not None else os.environ.get(ENVIRONMENT) or None
    if text is None:
        return f"sqlite:///{default_path()}"
    text = text.strip()
    if not text or "\0" in text or "\n" in text:
        raise DatabaseUrlInvalid(f"not a database URL or file: {text!r}")
    if "://" not in text:  # a file
        return f"sqlite:///{Path(text).expanduser().resolve()}"
    match = _SCHEMES.match(text)
    if match is None:
        scheme = text.split("://", 1)[0]
        raise DatabaseUrlInvalid(
            f"unsupported database {scheme!r}: give a SQLite file (or sqlite:///PATH) or a "
            "postgresql://USER@HOST/NAME URL"
        )
    if match.group(1).lower() == "postgresql":
        driver = (match.group(2) or "").lower()
        if driver not in ("", "+psycopg"):
            raise DatabaseUrlInvalid(
                "the PostgreSQL driver is psycopg (3): use postgresql:// or "
                f"postgresql+psycopg://, not {match.group(0)}"
            )
        return "postgresql+psycopg://" + text[match.end() :]
    if match.group(2) not in (None, "+pysqlite"):
        raise DatabaseUrlInvalid(
            f"the SQLite driver is Python's own: use sqlite:///PATH, not {match.group(0)}"
        )
    return text


def shown(url: str) -> str:
    """The URL for a message: any password hidden."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)
