"""Engines, errors and migrations: one code path for SQLite and PostgreSQL.

SQLite: one file in WAL mode (readers never wait for the writer), ``synchronous=NORMAL``,
foreign keys on, a busy timeout. Every write transaction starts with ``BEGIN IMMEDIATE``, so
it takes the write lock first and waits for it (never the deadlock of two readers both
upgrading to writers, which a busy timeout cannot resolve), and a transaction still refused
with SQLITE_BUSY is retried until the rules' ``busy_seconds`` run out. Connections are not
pooled: each operation opens the file anew (``mode=rw``, never creating it), so a file deleted
or replaced under a running hotline is noticed at once, not written into a ghost.

PostgreSQL: psycopg 3, a connection pool checked before use (a restarted server is
reconnected to), row locks (``SELECT … FOR UPDATE``) where a decision and its write must be
one.

Every failure of the database itself becomes :class:`BackOfficeUnavailable` with one line
saying what to do; the engine turns it into the ``error`` result.
"""

from __future__ import annotations

import re
import sqlite3
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from ivr.backoffice.settings import DatabaseUrlInvalid, Rules, shown
from ivr.engine.backoffice import BackOfficeUnavailable

T = TypeVar("T")

MIGRATIONS = "ivr.backoffice:migrations"
"""Alembic's script location, as a package resource."""

_MIGRATION_LOCK = 0x1F3_0013
"""The PostgreSQL advisory lock key two processes migrating at once serialize on."""


class Database:
    """An engine for one back-office database, and transactions that say what went wrong."""

    def __init__(self, url: str, rules: Rules, *, create: bool) -> None:
        self.url = url
        self.rules = rules
        parsed = sa.engine.make_url(url)
        self.dialect = parsed.get_backend_name()
        self.path: Path | None = None
        if self.dialect == "sqlite":
            self.path = self._sqlite_file(parsed.database, create=create)
            self.engine = self._sqlite_engine(self.path)
        elif self.dialect == "postgresql":
            self.engine = sa.create_engine(
                url,
                pool_pre_ping=True,
                pool_size=8,
                max_overflow=56,
                pool_timeout=rules.busy_seconds,
                connect_args={"connect_timeout": 5, "application_name": "ivr"},
            )
        else:  # settings.database_url lets no other through
            raise DatabaseUrlInvalid(f"unsupported database {self.dialect!r}")

    @property
    def where(self) -> str:
        """The database, for a message."""
        return str(self.path) if self.path is not None else shown(self.url)

    # ----- SQLite -----

    def _sqlite_file(self, database: str | None, *, create: bool) -> Path:
        if not database or database == ":memory:" or database.startswith("file:"):
            raise DatabaseUrlInvalid(
                "give the SQLite database a file (sqlite:///PATH): an in-memory one would "
                "be a new, empty database for every call"
            )
        path = Path(database).expanduser().absolute()
        if path.is_dir():
            raise BackOfficeUnavailable(
                f"{path} is a folder, not a back-office database: give a file with --db"
            )
        if not path.exists():
            if not create:
                raise BackOfficeUnavailable(
                    f"there is no back-office database at {path}: run `ivr db init --db {path}`"
                )
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._wal(sqlite3.connect(_file_uri(path, "rwc"), uri=True))
            except (OSError, sqlite3.Error) as error:
                raise BackOfficeUnavailable(
                    f"cannot create the back-office database {path}: {_reason(error)}"
                ) from None
        return path

    def _wal(self, raw: sqlite3.Connection) -> None:
        """Put a new file in WAL mode (a setting of the file, kept): it needs the file alone."""
        try:
            deadline = time.monotonic() + self.rules.busy_seconds
            while raw.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() != "wal":
                if time.monotonic() > deadline:
                    raise sqlite3.OperationalError("database is locked")
                time.sleep(0.05)
        finally:
            raw.close()

    def _sqlite_engine(self, path: Path) -> Engine:
        uri = _file_uri(path, "rw")
        timeout = self.rules.busy_seconds

        def connect() -> sqlite3.Connection:
            raw = sqlite3.connect(
                uri, uri=True, timeout=timeout, isolation_level=None, check_same_thread=False
            )
            raw.execute("PRAGMA foreign_keys = ON")
            raw.execute("PRAGMA synchronous = NORMAL")
            return raw

        engine = sa.create_engine("sqlite://", creator=connect, poolclass=NullPool)

        @event.listens_for(engine, "begin")
        def begin(conn: Connection) -> None:  # the driver's own BEGIN is off (isolation_level)
            write = conn.get_execution_options().get("ivr_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    # ----- transactions -----

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """One read transaction (a consistent snapshot)."""
        with self._translated(), self.engine.connect() as conn, conn.begin():
            yield conn

    def write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one write transaction: all of it is committed, or none. A SQLite
        database busy beyond its timeout is tried again until ``busy_seconds`` run out."""
        deadline = time.monotonic() + self.rules.busy_seconds
        while True:
            try:
                with self._translated(retry=True), self.engine.connect() as conn:
                    conn.execution_options(ivr_write=True)
                    with conn.begin():
                        return work(conn)
            except _Busy:
                if time.monotonic() > deadline:
                    raise BackOfficeUnavailable(self._locked()) from None
                time.sleep(0.01)

    def _locked(self) -> str:
        return (
            f"the back-office database {self.where} stayed locked by another program for "
            f"{self.rules.busy_seconds:g} s: try again, or stop the program holding it"
        )

    @contextmanager
    def _translated(self, retry: bool = False) -> Iterator[None]:
        """A failure of the database itself as BackOfficeUnavailable, in one line."""
        try:
            yield
        except exc.DBAPIError as error:
            if retry and self.dialect == "sqlite" and _is_busy(error.orig):
                raise _Busy from None
            raise BackOfficeUnavailable(self._explain(error.orig or error)) from None
        except exc.TimeoutError:
            raise BackOfficeUnavailable(
                f"every connection to the back-office database {self.where} is busy: try again"
            ) from None
        except (sqlite3.Error, OSError) as error:
            raise BackOfficeUnavailable(self._explain(error)) from None

    def _explain(self, error: BaseException) -> str:
        text = _reason(error)
        lowered = text.lower()
        where = self.where
        if self.dialect == "sqlite":
            if "unable to open" in lowered or "disk i/o" in lowered:
                return (
                    f"the back-office database {where} cannot be opened (deleted, moved or "
                    f"unreadable): run `ivr db init --db {where}` or check its permissions"
                )
            if "locked" in lowered or "busy" in lowered:
                return self._locked()
            if "not a database" in lowered or "malformed" in lowered:
                return (
                    f"{where} is not a back-office database (damaged, or another file): move "
                    "it away and run `ivr db init`"
                )
            if "readonly" in lowered or "read-only" in lowered:
                return f"the back-office database {where} is read-only: check its permissions"
        if "no such table" in lowered or ("does not exist" in lowered and "relation" in lowered):
            return f"the back-office database {where} has no schema: run `ivr db init`"
        if self.dialect == "postgresql" and any(
            phrase in lowered
            for phrase in (
                "connection refused",
                "no such file",
                "could not connect",
                "server closed",
                "terminating connection",
                "connection failed",
                "consuming input failed",
                "timeout",
            )
        ):
            return (
                f"the PostgreSQL server of the back office ({where}) does not answer: start "
                "it, or check --db / $IVR_DATABASE_URL"
            )
        return f"the back-office database {where} failed: {text}"

    # ----- migrations -----

    def migrate(self) -> tuple[str | None, str]:
        """Bring the schema to the newest version; the versions before and after. Two
        processes migrating at once take turns (SQLite's write lock, a PostgreSQL advisory
        lock), and the second finds nothing left to do."""
        from alembic.runtime.migration import MigrationContext

        head, known = _revisions()

        def current(conn: Connection) -> str | None:
            found = MigrationContext.configure(conn).get_current_revision()
            if found is not None and found not in known:
                raise BackOfficeUnavailable(
                    f"the back-office database {self.where} has schema version {found}, newer "
                    "than this ivr knows: upgrade ivr"
                )
            return found

        with self.reading() as conn:
            before = current(conn)
        if before == head:
            return before, head

        from alembic import command

        config = _alembic_config()

        def upgrade(conn: Connection) -> str | None:
            if self.dialect == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
            found = current(conn)
            if found != head:
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
            return found

        return self.write(upgrade), head

    def schema_version(self) -> str | None:
        """The schema's version now (None: no schema)."""
        from alembic.runtime.migration import MigrationContext

        with self.reading() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def dispose(self) -> None:
        self.engine.dispose()


class _Busy(Exception):
    """SQLite said busy or locked: the transaction may be tried again."""


def _is_busy(error: BaseException | None) -> bool:
    if isinstance(error, sqlite3.OperationalError):
        code = getattr(error, "sqlite_errorcode", None)
        if code is not None:
            return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
        return "locked" in str(error) or "busy" in str(error)
    return False


def _alembic_config() -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    return config


@cache
def _revisions() -> tuple[str, frozenset[str]]:
    """The newest schema version and every version this ivr knows, read from its migration
    scripts once per process: alembic loads every script to tell (~4 ms), and every back
    office opened checks its schema (`Database.migrate`)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config())
    head = script.get_current_head()
    assert head is not None
    return head, frozenset(rev.revision for rev in script.walk_revisions())


def _file_uri(path: Path, mode: str) -> str:
    return f"file:{urllib.parse.quote(str(path))}?mode={mode}"


def _reason(error: BaseException) -> str:
    """The error's message, on one line, without the driver's SQL and background links."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    text = re.sub(r"\s*\(Background on this error.*$", "", text)
    return text.rstrip(".") if len(text) < 300 else text[:297] + "…"
