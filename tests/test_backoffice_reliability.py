"""The back office under load and failure, on SQLite and PostgreSQL: many calls at once,
hostile input, a database deleted, damaged, locked or stopped."""

from __future__ import annotations

import itertools
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.backoffice import schema as s
from ivr.backoffice.office import DatabaseBackOffice
from ivr.engine.backoffice import ERROR, BackOfficeUnavailable, Reply, Request
from tests.backoffice_db import db_url as db_url  # fixture, used by name
from tests.conftest import ROOT
from tests.test_backoffice import account, ask, count, office, row


def together(work: Callable[[int], None], threads: int) -> list[BaseException]:
    """Run ``work(i)`` on ``threads`` threads released at the same moment; their errors."""
    start, errors = threading.Barrier(threads), []

    def run(i: int) -> None:
        try:
            start.wait()
            work(i)
        except BaseException as error:
            errors.append(error)

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return errors


def test_many_calls_filing_at_once_lose_and_duplicate_nothing(db_url: str) -> None:
    """16 threads, each its own back office, file 20 tickets each; every call id is filed
    by two threads at once. One ticket per call id, each with its one number."""
    office(db_url).close()
    offices = [DatabaseBackOffice(db_url) for _ in range(16)]
    numbers: dict[str, set[object]] = {}
    lock = threading.Lock()

    def file(i: int) -> None:
        for n in range(20):
            call = f"call-{(i // 2) * 20 + n}"
            reply = ask(
                offices[i],
                "file_ticket",
                call,
                account_id=None,
                category="complaint",
                voice_message=None,
            )
            assert reply.result == "filed"
            with lock:
                numbers.setdefault(call, set()).add(reply.values["ticket_number"])

    assert together(file, 16) == []
    assert len(numbers) == 160 and all(len(found) == 1 for found in numbers.values())
    assert count(offices[0], s.tickets) == 160


def test_many_calls_asking_a_callback_at_once_store_one_each(db_url: str) -> None:
    """8 threads, each its own back office, ask 25 callbacks each; every call id is asked
    by two threads at once with different numbers. One callback per call, with one of
    the numbers it was asked with, and every request answered ``stored``."""
    office(db_url).close()
    offices = [DatabaseBackOffice(db_url) for _ in range(8)]

    def ask_back(i: int) -> None:
        for n in range(25):
            call = f"call-{(i // 2) * 25 + n}"
            number = f"1380013{i % 2}{n:03d}"
            assert ask(offices[i], "request_callback", call, number=number) == Reply("stored")

    assert together(ask_back, 8) == []
    assert count(offices[0], s.callbacks) == 100
    for n in (0, 24, 99):
        stored = offices[0].repository.callback(f"call-{n}")
        assert stored is not None and stored["phone"] in {
            f"1380013{side}{n % 25:03d}" for side in (0, 1)
        }


def test_pin_checks_at_once_count_every_attempt(db_url: str) -> None:
    """12 wrong PINs at the same moment: exactly two are told "wrong", the rest "locked";
    meanwhile 12 right PINs on another account are all verified."""
    bo = office(db_url)
    target, other = (
        account(bo, "13800000001", pin="123456"),
        account(bo, "13800000002", pin="654321"),
    )
    replies: list[str] = []

    def guess(i: int) -> None:
        if i % 2:
            replies.append(ask(bo, "verify_pin", f"c{i}", account_id=target, pin=f"{i:06d}").result)
        else:
            assert (
                ask(bo, "verify_pin", f"c{i}", account_id=other, pin="654321").result == "verified"
            )

    assert together(guess, 24) == []
    assert Counter(replies) == {"wrong_pin": 2, "locked": 10}
    assert row(bo, s.accounts, id=target).failed_attempts == 3
    assert ask(bo, "verify_pin", account_id=target, pin="123456").result == "locked"


_PROCESSES = r"""
import os, sys
# What each process needs, imported once before the fork: four interpreters starting and
# importing SQLAlchemy, alembic and a driver took 1.4 CPU-s each, the filing itself 0.1.
import sqlalchemy, alembic.command, alembic.script, alembic.runtime.migration
import ivr.backoffice.repository, ivr.backoffice.database
from ivr.backoffice.office import DatabaseBackOffice
from ivr.engine.backoffice import Request
url = sys.argv[1]
sqlalchemy.create_engine(url if "://" in url else "sqlite://")  # the driver module, unused

def work(i):
    bo = DatabaseBackOffice(url)  # in the child: its own engine and connections
    lines = []
    for n in range(25):
        call = f"call-{n}" if n % 2 else f"p{i}-{n}"
        r = bo.perform(Request("file_ticket", {"account_id": None, "category": "suggestion", "voice_message": None}, call))
        assert r.result == "filed", r
        lines.append(f"{call} {r.values['ticket_number']}\n")
    bo.close()
    return "".join(lines)

go_read, go_write = os.pipe()
out_read, out_write = os.pipe()
children = []
for i in range(4):
    pid = os.fork()
    if pid == 0:  # a child: waits for the others, files, writes its lines in one write
        code = 1
        try:
            os.close(go_write)
            os.read(go_read, 1)  # EOF for all four at once: the parent closed the pipe
            os.write(out_write, work(i).encode())
            code = 0
        except BaseException:
            import traceback
            traceback.print_exc()
        finally:
            sys.stderr.flush()
            os._exit(code)
    children.append(pid)
os.close(go_write)
os.close(out_write)
codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
with os.fdopen(out_read) as results:
    sys.stdout.write(results.read())
sys.exit(max(codes))
"""


def test_processes_filing_at_once_share_the_tickets(db_url: str) -> None:
    """Four processes, each filing 25 tickets (12 of them for call ids the others file
    too), released at once: forked, each with its own back office, from one interpreter
    that imported what they need."""
    office(db_url).close()
    done = subprocess.run(
        [sys.executable, "-c", _PROCESSES, db_url],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    seen: dict[str, set[str]] = {}
    for line in done.stdout.splitlines():
        call, number = line.split()
        seen.setdefault(call, set()).add(number)
    assert len(seen) == 4 * 13 + 12 and all(len(n) == 1 for n in seen.values())
    assert count(office(db_url), s.tickets) == len(seen)


hostile = st.lists(
    st.sampled_from(
        ["'", '"', ";", "--", "\\", "%", "_", "\0", "' OR '1'='1", "DROP TABLE tickets;"]
    )
    | st.text(st.characters(codec="utf-8"), max_size=6),
    max_size=8,
).map("".join)
"""Quotes, NUL, SQL and any Unicode a UTF-8 text can hold."""


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(call=hostile, message=hostile, phone=hostile)
def test_hostile_text_is_data(db_url: str, call: str, message: str, phone: str) -> None:
    bo = _offices.setdefault(db_url, office(db_url))
    call = f"{next(_calls)}{call}"  # each example a call of its own
    assert ask(bo, "find_account", phone=phone).result == "not_found"
    reply = ask(
        bo,
        "file_ticket",
        call,
        account_id=None,
        category="complaint",
        voice_message=message or None,
    )
    if "\0" in call + message:  # no database keeps a NUL in text: refused, not cut
        assert reply == Reply(ERROR)
        if "\0" not in call:
            assert bo.repository.ticket(call) is None
        else:
            assert ask(bo, "request_callback", call, number="13800138000") == Reply(ERROR)
        return
    assert reply.result == "filed"
    ticket = bo.repository.ticket(call)
    assert (
        ticket is not None
        and ticket["call_id"] == call
        and ticket["voice_message"] == (message or None)
    )
    assert (
        ask(bo, "file_ticket", call, account_id=None, category="complaint", voice_message=None)
        == reply
    )
    assert ask(bo, "request_callback", call, number="13800138000") == Reply("stored")
    callback = bo.repository.callback(call)
    assert callback is not None and callback["call_id"] == call


_offices: dict[str, DatabaseBackOffice] = {}
_calls = itertools.count()


# ----- the database gone, damaged, locked, stopped -----


def _one_line(error: pytest.ExceptionInfo[BackOfficeUnavailable]) -> str:
    text = str(error.value)
    assert "\n" not in text and "Traceback" not in text
    return text


def test_a_deleted_database_file_is_unavailable_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bo.sqlite3"
    bo = office(str(path))
    path.unlink()
    with pytest.raises(BackOfficeUnavailable) as error:
        ask(bo, "find_account", phone="13800138000")
    assert "ivr db init" in _one_line(error) and str(path) in str(error.value)
    assert not path.exists()  # not silently re-created empty
    with pytest.raises(BackOfficeUnavailable) as error:
        DatabaseBackOffice(str(path), create=False)
    assert "ivr db init" in _one_line(error)


def test_a_damaged_or_foreign_file_is_unavailable_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bo.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(BackOfficeUnavailable) as error:
        office(str(path))
    assert "not a back-office database" in _one_line(error)
    with pytest.raises(BackOfficeUnavailable) as error:
        office(str(tmp_path))  # a folder
    assert "folder" in _one_line(error)
    other = tmp_path / "other.sqlite3"
    sqlite3.connect(other).execute("create table x (y)").connection.commit()
    with pytest.raises(BackOfficeUnavailable) as error:
        DatabaseBackOffice(str(other), create=False).perform(
            Request("find_account", {"phone": "13800138000"}, "c")
        )
    assert "no schema" in _one_line(error)


def test_a_database_locked_by_another_program_is_unavailable_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bo.sqlite3"
    bo = office(str(path), busy_seconds=0.3)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(BackOfficeUnavailable) as error:
            ask(bo, "file_ticket", account_id=None, category="complaint", voice_message=None)
        assert "locked" in _one_line(error) and "try again" in str(error.value)
        assert (
            ask(bo, "find_account", phone="13800138000").result == "not_found"
        )  # WAL: reads go on
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert (
        ask(bo, "file_ticket", account_id=None, category="complaint", voice_message=None).result
        == "filed"
    )


def test_a_stopped_postgresql_server_is_unavailable_in_one_line() -> None:
    """A server of its own, started and stopped by scripts/postgres: the back office built
    while it ran says in one line that it does not answer, and so does a new one."""
    folder = tempfile.mkdtemp(prefix="ivr-pg-")
    script = str(ROOT / "scripts" / "postgres")
    try:
        started = subprocess.run(
            [script, "start", folder], capture_output=True, text=True, check=False
        )
        assert started.returncode == 0, started.stderr
        url = started.stdout.strip()
        bo = DatabaseBackOffice(url)
        assert ask(bo, "find_account", phone="13800138000").result == "not_found"
        subprocess.run([script, "stop", folder], check=True)
        with pytest.raises(BackOfficeUnavailable) as error:
            ask(bo, "find_account", phone="13800138000")
        assert "does not answer" in _one_line(error)
        with pytest.raises(BackOfficeUnavailable) as error:
            DatabaseBackOffice(url)
        assert "does not answer" in _one_line(error)
    finally:
        subprocess.run([script, "stop", folder], check=False)
        shutil.rmtree(folder, ignore_errors=True)
    assert os.path.exists(script)
