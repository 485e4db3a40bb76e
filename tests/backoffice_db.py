"""The databases the back-office tests run on: a SQLite file, and a real PostgreSQL server.

The PostgreSQL server is the one ``scripts/test`` starts (``$IVR_TEST_POSTGRES_URL``), or, when
pytest runs alone, the one ``scripts/postgres`` starts here. If neither works the PostgreSQL
tests fail, never skip: CI installs PostgreSQL (scripts/setup).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from tests.conftest import ROOT

BACKENDS = ("sqlite", "postgresql")


@cache
def postgres_server() -> str:
    """The test server's URL (to its ``postgres`` database)."""
    url = os.environ.get("IVR_TEST_POSTGRES_URL")
    if url:
        return url
    done = subprocess.run(
        [str(ROOT / "scripts" / "postgres"), "start"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"no PostgreSQL for the tests: {done.stderr.strip()}", pytrace=False)
    return done.stdout.strip()


def admin(statement: str) -> None:
    """Run one statement on the test server outside a transaction (CREATE DATABASE)."""
    import sqlalchemy as sa

    engine = sa.create_engine(postgres_server(), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def fresh_postgres() -> tuple[str, str]:
    """A new, empty database on the test server: its name and URL."""
    import sqlalchemy as sa

    name = f"ivr_test_{uuid.uuid4().hex[:12]}"
    try:
        admin(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as error:
        pytest.fail(f"the test PostgreSQL server does not answer: {error.orig}", pytrace=False)
    url = sa.engine.make_url(postgres_server()).set(database=name)
    return name, url.render_as_string(hide_password=False)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty back-office database of each kind, gone after the test."""
    if request.param == "sqlite":
        yield str(tmp_path / "backoffice.sqlite3")
        return
    name, url = fresh_postgres()
    try:
        yield url
    finally:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_PIN_HASHES: dict[str, str] = {}


@pytest.fixture
def demo_pins_hashed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo data (``ivr.backoffice.demo``) hashes each PIN once per test process, not
    once per database built: argon2id is slow on purpose (about 25 ms of CPU a PIN), and
    these tests build the 20-account demo again and again. The hashes are still real
    argon2id hashes of the right PINs, checked by the back office as ever; only their salt
    is shared between the databases one test process builds. Tests of the hashing itself
    (``ivr.backoffice.pins``: salted, never logged) call it directly and are not affected."""
    from ivr.backoffice import demo, pins

    def hash_pin(pin: str) -> str:
        if pin not in _PIN_HASHES:  # demo.load hashes in threads: a race hashes twice, harmlessly
            _PIN_HASHES[pin] = pins.hash_pin(pin)
        return _PIN_HASHES[pin]

    monkeypatch.setattr(demo, "hash_pin", hash_pin)


class DemoTemplates:
    """The demo data built once per database kind, copied for each test that wants it fresh.

    ``ivr.backoffice.demo.build`` (migrations and a few thousand inserts) took most of the
    CPU of the tests that start from the demo data. Here it runs once per kind and module:
    SQLite's copy is the file copied, PostgreSQL's a ``CREATE DATABASE ... TEMPLATE`` on the
    real server. Each copy is the database ``build`` made, byte for byte, and no test sees
    another's writes. ``close`` drops the templates."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.built: dict[tuple[str, int, int, dt.datetime], str] = {}
        self.postgres: list[str] = []

    def _template(self, kind: str, count: int, seed: int, now: dt.datetime) -> str:
        from ivr.backoffice.demo import build

        key = (kind, count, seed, now)
        if key not in self.built:
            if kind == "sqlite":
                url = str(self.folder / f"demo-{len(self.built)}.sqlite3")
                build(url, count, seed, now)
                self.built[key] = url
            else:
                name, url = fresh_postgres()
                self.postgres.append(name)
                build(url, count, seed, now)  # disposes its engine: no session left open
                self.built[key] = name
        return self.built[key]

    def copy(
        self, kind: str, tmp_path: Path, count: int, seed: int, now: dt.datetime
    ) -> Iterator[str]:
        """A fresh database of ``kind`` holding the demo data, gone after the test."""
        template = self._template(kind, count, seed, now)
        if kind == "sqlite":
            target = tmp_path / "backoffice.sqlite3"
            shutil.copyfile(template, target)
            yield str(target)
            return
        import sqlalchemy as sa

        name = f"ivr_test_{uuid.uuid4().hex[:12]}"
        admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        try:
            yield (
                sa.engine.make_url(postgres_server())
                .set(database=name)
                .render_as_string(hide_password=False)
            )
        finally:
            admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        for name in self.postgres:
            admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
