"""The back office on a real database: each test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from ivr.backoffice import schema as s
from ivr.backoffice.office import DatabaseBackOffice
from ivr.backoffice.pins import hash_pin
from ivr.backoffice.repository import stored
from ivr.backoffice.settings import Rules
from ivr.engine.backoffice import ERROR, OPERATIONS, BackOfficeUnavailable, Reply, Request
from tests.backoffice_db import db_url as db_url  # fixture, used by name
from tests.backoffice_db import demo_pins_hashed_once as demo_pins_hashed_once  # fixture

HEAD = "0003"
"""The newest migration (``callbacks``)."""
NOW = dt.datetime(2026, 3, 14, 6, 30, tzinfo=dt.UTC)  # 14:30 in Beijing
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


class Clock:
    """The wall clock the back office reads, moved by the test."""

    def __init__(self) -> None:
        self.moment = NOW

    def __call__(self) -> dt.datetime:
        return self.moment


def office(url: str, clock: Clock | None = None, **rules: Any) -> DatabaseBackOffice:
    return DatabaseBackOffice(url, rules=Rules(**rules), now=clock or Clock())


def ask(bo: DatabaseBackOffice, operation: str, call: str = "call-1", **values: Any) -> Reply:
    return bo.perform(Request(operation, values, call))


def write(bo: DatabaseBackOffice, table: sa.Table, **row: Any) -> int:
    def insert(conn: sa.Connection) -> int:
        return int(
            conn.execute(
                sa.insert(table)
                .values(**row)
                .returning(table.c[next(iter(table.primary_key.columns)).name])
            ).scalar_one()
        )

    return bo.repository.db.write(insert)


def account(
    bo: DatabaseBackOffice, phone: str = "13800138000", pin: str = "246810", **row: Any
) -> int:
    values: dict[str, Any] = {
        "phone": phone,
        "name": "王芳",
        "email": "wang@example.com",
        "real_name_status": "passed",
        "wallet_level": 2,
        "balance": Decimal("100.00"),
        "single_limit": Decimal("10000.00"),
        "daily_limit": Decimal("50000.00"),
        "pin_hash": hash_pin(pin),
        "created_at": stored(NOW - dt.timedelta(days=100)),
    }
    return write(bo, s.accounts, **(values | row))


def merchant(bo: DatabaseBackOffice, name: str = "星河便利店", invoices: bool = True) -> int:
    return write(bo, s.merchants, name=name, supports_e_invoice=invoices)


def payment(
    bo: DatabaseBackOffice,
    account_id: int,
    merchant_id: int,
    amount: str,
    ago: dt.timedelta,
    cause: str | None = None,
) -> int:
    return write(
        bo,
        s.transactions,
        account_id=account_id,
        merchant_id=merchant_id,
        amount=Decimal(amount),
        occurred_at=stored(NOW - ago),
        status="failed" if cause else "succeeded",
        failure_cause=cause,
    )


def row(bo: DatabaseBackOffice, table: sa.Table, **where: Any) -> Any:
    with bo.repository.db.reading() as conn:
        query = sa.select(table).where(*(table.c[k] == v for k, v in where.items()))
        return conn.execute(query).one()


def count(bo: DatabaseBackOffice, table: sa.Table) -> int:
    with bo.repository.db.reading() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


# ----- schema and migrations -----


def test_the_migrations_make_exactly_the_schema_the_code_queries(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    bo = office(db_url)
    with bo.repository.db.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), s.metadata)
    assert differences == []
    assert bo.repository.db.schema_version() == HEAD


def test_two_processes_creating_the_schema_at_once_both_succeed(db_url: str) -> None:
    errors: list[BaseException] = []

    def build() -> None:
        try:
            office(db_url).close()
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=build) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert office(db_url).repository.db.schema_version() == HEAD


def test_a_database_made_by_0001_upgrades_to_0002_keeping_its_data(db_url: str) -> None:
    """A back office created before callbacks existed: the first office to open it adds the
    table, the accounts and tickets stay, and the schema is then exactly the code's."""
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from ivr.backoffice.database import Database, _alembic_config
    from ivr.backoffice.settings import database_url

    old = Database(database_url(db_url), Rules(), create=True)
    config = _alembic_config()

    def to_0001(conn: sa.Connection) -> None:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")

    old.write(to_0001)
    assert old.schema_version() == "0001"
    with old.engine.connect() as conn:
        assert "callbacks" not in sa.inspect(conn).get_table_names()
    old.dispose()
    bo = DatabaseBackOffice(db_url, rules=Rules(), create=False)  # an office never creates
    with pytest.raises(BackOfficeUnavailable):
        ask(bo, "request_callback", number="13800138000")  # no table yet, said in one line
    bo.close()
    before = office(db_url)  # a hotline that may bring the schema up to date
    assert before.repository.db.schema_version() == HEAD
    who = account(before)
    assert (
        ask(
            before,
            "file_ticket",
            "call-1",
            account_id=who,
            category="complaint",
            voice_message=None,
        ).result
        == "filed"
    )
    assert ask(before, "request_callback", "call-1", number="13800138000") == Reply("stored")
    with before.repository.db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), s.metadata) == []
    assert count(before, s.accounts) == 1 and count(before, s.tickets) == 1


def test_the_upgrade_keeps_the_rows_0001_held(db_url: str) -> None:
    from alembic import command

    from ivr.backoffice.database import Database, _alembic_config
    from ivr.backoffice.settings import database_url

    old = Database(database_url(db_url), Rules(), create=True)
    config = _alembic_config()

    def to(version: str) -> Any:
        def run(conn: sa.Connection) -> None:
            config.attributes["connection"] = conn
            command.upgrade(config, version)

        return run

    old.write(to("0001"))
    old.write(
        lambda conn: conn.execute(
            sa.insert(s.tickets).values(
                ticket_number="1234567890",
                call_id="old",
                category="complaint",
                filed_at=stored(NOW),
            )
        )
    )
    old.dispose()
    bo = office(db_url)
    assert row(bo, s.tickets, call_id="old").ticket_number == "1234567890"
    assert count(bo, s.callbacks) == 0


def test_the_schema_refuses_data_the_guide_does_not_allow(db_url: str) -> None:
    bo = office(db_url)
    who, where = account(bo), merchant(bo)
    with pytest.raises(BackOfficeUnavailable):  # a failed payment needs one of the four causes
        payment(bo, who, where, "10.00", dt.timedelta(hours=1), cause="天气不好")
    bad_rows: list[tuple[sa.Table, dict[str, Any]]] = [
        (
            s.transactions,
            {
                "account_id": who,
                "merchant_id": where,
                "amount": Decimal("5"),
                "occurred_at": stored(NOW),
                "status": "failed",
                "failure_cause": None,
            },
        ),
        (
            s.transactions,
            {
                "account_id": who,
                "merchant_id": where,
                "amount": Decimal("-5"),
                "occurred_at": stored(NOW),
                "status": "succeeded",
            },
        ),
        (
            s.transactions,
            {
                "account_id": 999,
                "merchant_id": where,
                "amount": Decimal("5"),
                "occurred_at": stored(NOW),
                "status": "succeeded",
            },
        ),
        (
            s.tickets,
            {
                "ticket_number": "0123456789",
                "call_id": "x",
                "category": "complaint",
                "filed_at": stored(NOW),
            },
        ),
        (
            s.tickets,
            {
                "ticket_number": "1234567890",
                "call_id": "x",
                "category": "praise",
                "filed_at": stored(NOW),
            },
        ),
    ]
    for table, values in bad_rows:
        with pytest.raises(BackOfficeUnavailable):
            write(bo, table, **values)
    with pytest.raises(BackOfficeUnavailable):  # rejected needs a reason
        account(bo, phone="13900000000", real_name_status="rejected")
    with pytest.raises(BackOfficeUnavailable):  # one account per phone
        account(bo)
    write(
        bo,
        s.tickets,
        ticket_number="1234567890",
        call_id="x",
        category="complaint",
        filed_at=stored(NOW),
    )
    with pytest.raises(BackOfficeUnavailable):  # one ticket per call
        write(
            bo,
            s.tickets,
            ticket_number="1234567891",
            call_id="x",
            category="complaint",
            filed_at=stored(NOW),
        )
    assert count(bo, s.transactions) == 0 and count(bo, s.tickets) == 1
    write(bo, s.callbacks, call_id="x", phone="13800138000", requested_at=stored(NOW))
    for callback in (
        {"call_id": "x", "phone": "13900000000"},  # one callback per call
        {"call_id": "y", "phone": "12"},  # not a number anyone can dial
        {"call_id": "z", "phone": "13800138000", "status": "forgotten"},
    ):
        with pytest.raises(BackOfficeUnavailable):
            write(bo, s.callbacks, requested_at=stored(NOW), **callback)
    assert row(bo, s.callbacks, call_id="x").status == "pending"


# ----- identify and verify -----


def test_find_account_by_caller_id_or_keyed_number(db_url: str) -> None:
    bo = office(db_url)
    who = account(bo)
    for phone in ("13800138000", "+86 138-0013-8000", "008613800138000", 13800138000):
        assert ask(bo, "find_account", phone=phone) == Reply(
            "found", {"account_id": who, "masked_phone": "138****8000"}
        )
    for phone in ("13800138001", "1380013800", "", None, "13800138000' OR '1'='1"):
        assert ask(bo, "find_account", phone=phone).result == "not_found"


def test_three_wrong_pins_lock_the_account_across_instances_until_the_lock_runs_out(
    db_url: str,
) -> None:
    clock = Clock()
    bo = office(db_url, clock)
    who = account(bo, pin="246810")
    assert ask(bo, "verify_pin", account_id=who, pin="111111") == Reply(
        "wrong_pin", {"attempts_left": 2, "locked_until": None}
    )
    assert (
        ask(bo, "verify_pin", account_id=who, pin="246810").result == "verified"
    )  # resets the count
    assert ask(bo, "verify_pin", account_id=who, pin="111111").values["attempts_left"] == 2
    assert ask(bo, "verify_pin", account_id=who, pin="222222").values["attempts_left"] == 1
    locked = ask(bo, "verify_pin", account_id=who, pin="333333")
    assert locked.result == "locked"
    until = locked.values["locked_until"]
    assert isinstance(until, dt.datetime) and until == NOW + dt.timedelta(minutes=30)
    assert until.utcoffset() == dt.timedelta(hours=8)  # said in Beijing time
    bo.close()

    again = office(db_url, clock)  # another process, another day: still locked
    clock.moment = NOW + dt.timedelta(minutes=29)
    assert ask(again, "verify_pin", account_id=who, pin="246810") == Reply(
        "locked", {"attempts_left": 0, "locked_until": until}
    )
    assert row(again, s.accounts, id=who).failed_attempts == 3
    clock.moment = NOW + dt.timedelta(minutes=31)
    assert (
        ask(again, "verify_pin", account_id=who, pin="000000").values["attempts_left"] == 2
    )  # a fresh count
    assert ask(again, "verify_pin", account_id=who, pin="246810").result == "verified"
    assert row(again, s.accounts, id=who).failed_attempts == 0


def test_the_attempts_and_the_lock_time_are_configurable(db_url: str) -> None:
    bo = office(db_url, pin_attempts=1, lock_minutes=5)
    who = account(bo)
    reply = ask(bo, "verify_pin", account_id=who, pin="999999")
    assert reply.result == "locked" and reply.values["locked_until"] == NOW + dt.timedelta(
        minutes=5
    )


def test_pins_are_stored_as_salted_argon2id_and_never_logged(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bo = office(db_url)
    a, b = account(bo, "13800000001", pin="135790"), account(bo, "13800000002", pin="135790")
    ha, hb = row(bo, s.accounts, id=a).pin_hash, row(bo, s.accounts, id=b).pin_hash
    assert ha.startswith("$argon2id$") and ha != hb and "135790" not in ha
    ask(bo, "verify_pin", account_id=a, pin="135790")
    ask(bo, "verify_pin", account_id=a, pin="864200")
    ask(bo, "verify_pin", account_id=424242, pin="864200")  # unknown: logged, without the PIN
    assert "135790" not in caplog.text and "864200" not in caplog.text


def test_values_of_the_wrong_kind_are_the_error_result(db_url: str) -> None:
    bo = office(db_url)
    who = account(bo)
    assert ask(bo, "verify_pin", account_id=who, pin=246810).result == ERROR  # an int loses its 0s
    assert ask(bo, "verify_pin", account_id="abc", pin="1").result == ERROR
    assert ask(bo, "verify_pin", account_id=who).result == ERROR  # no PIN
    assert ask(bo, "latest_refund", account_id=who + 1000).result == ERROR
    assert ask(bo, "no_such_operation", account_id=who).result == ERROR
    assert (
        ask(bo, "file_ticket", account_id=None, category="praise", voice_message=None).result
        == ERROR
    )


# ----- look up -----


def test_the_latest_failed_payment_with_its_cause_in_beijing_time(db_url: str) -> None:
    bo = office(db_url)
    who, shop = account(bo), merchant(bo)
    assert ask(bo, "latest_failed_transaction", account_id=who).result == "none"
    payment(bo, who, shop, "12.00", dt.timedelta(days=3), cause="网络不稳定")
    payment(bo, who, shop, "123.45", dt.timedelta(hours=2), cause="余额不足")
    payment(bo, who, shop, "8.00", dt.timedelta(hours=1))  # succeeded: not it
    reply = ask(bo, "latest_failed_transaction", account_id=who)
    assert reply == Reply(
        "found",
        {
            "date": dt.date(2026, 3, 14),
            "time": dt.time(12, 30),
            "merchant": "星河便利店",
            "amount": Decimal("123.45"),
            "cause": "余额不足",
        },
    )
    assert set(reply.values) == set(OPERATIONS["latest_failed_transaction"].gives)


def test_refunds_recent_payments_real_name_and_e_invoices(db_url: str) -> None:
    bo = office(db_url)
    who, shop, other = account(bo), merchant(bo), merchant(bo, "老街面馆", invoices=False)
    for operation in ("latest_refund", "recent_transactions", "e_invoice_status"):
        assert ask(bo, operation, account_id=who).result == "none"
    paid = payment(bo, who, shop, "99.90", dt.timedelta(days=5))
    write(
        bo,
        s.refunds,
        transaction_id=paid,
        amount=Decimal("99.90"),
        status="done",
        requested_at=stored(NOW - dt.timedelta(days=4)),
        completed_at=stored(NOW - dt.timedelta(days=3)),
    )
    write(
        bo,
        s.refunds,
        transaction_id=paid,
        amount=Decimal("0.10"),
        status="pending",
        requested_at=stored(NOW - dt.timedelta(hours=3)),
    )
    assert ask(bo, "latest_refund", account_id=who) == Reply(
        "found",
        {
            "date": dt.date(2026, 3, 14),
            "merchant": "星河便利店",
            "amount": Decimal("0.10"),
            "status": "处理中",
            "refund_count": 2,
        },
    )
    assert ask(bo, "e_invoice_status", account_id=who).values["invoice_status"] == "未申请"
    latest = payment(bo, who, shop, "30.00", dt.timedelta(hours=1))
    write(
        bo,
        s.e_invoices,
        transaction_id=latest,
        status="issued",
        email="wang@example.com",
        requested_at=stored(NOW),
    )
    assert ask(bo, "e_invoice_status", account_id=who) == Reply(
        "supported",
        {
            "merchant": "星河便利店",
            "amount": Decimal("30.00"),
            "date": dt.date(2026, 3, 14),
            "invoice_status": "已开具",
        },
    )
    payment(bo, who, other, "15.50", dt.timedelta(minutes=10))
    reply = ask(bo, "e_invoice_status", account_id=who)
    assert reply.result == "not_supported" and reply.values["merchant"] == "老街面馆"
    payment(bo, who, other, "1.00", dt.timedelta(minutes=5), cause="安全审核")  # not a record
    recent = ask(bo, "recent_transactions", account_id=who)
    assert recent.result == "found" and recent.values["transaction_count"] == 3
    assert [recent.values[f"tx{i}_amount"] for i in (1, 2, 3)] == [
        Decimal("15.50"),
        Decimal("30.00"),
        Decimal("99.90"),
    ]
    assert set(recent.values) == set(OPERATIONS["recent_transactions"].gives)
    assert ask(bo, "real_name_status", account_id=who) == Reply("passed", {"reason": None})
    rejected = account(
        bo, "13900139000", real_name_status="rejected", real_name_reason="身份证已过有效期"
    )
    assert ask(bo, "real_name_status", account_id=rejected) == Reply(
        "rejected", {"reason": "身份证已过有效期"}
    )


# ----- tickets -----


def test_a_ticket_is_filed_once_per_call(db_url: str) -> None:
    bo = office(db_url)
    who = account(bo)
    first = ask(
        bo,
        "file_ticket",
        "call-7",
        account_id=who,
        category="complaint",
        voice_message="/tmp/msg.wav",
    )
    number = first.values["ticket_number"]
    assert (
        first.result == "filed"
        and isinstance(number, str)
        and len(number) == 10
        and number.isdigit()
        and number[0] != "0"
    )
    assert (
        ask(
            bo,
            "file_ticket",
            "call-7",
            account_id=who,
            category="complaint",
            voice_message="/tmp/msg.wav",
        )
        == first
    )
    assert (
        office(db_url).perform(
            Request(
                "file_ticket",
                {"account_id": who, "category": "complaint", "voice_message": None},
                "call-7",
            )
        )
        == first
    )
    other = ask(
        bo, "file_ticket", "call-8", account_id=None, category="suggestion", voice_message=None
    )
    assert other.values["ticket_number"] != number
    assert count(bo, s.tickets) == 2
    stored_ticket = row(bo, s.tickets, call_id="call-7")
    assert (stored_ticket.account_id, stored_ticket.category, stored_ticket.voice_message) == (
        who,
        "complaint",
        "/tmp/msg.wav",
    )


# ----- callbacks -----


def test_a_callback_is_stored_once_per_call_with_its_first_number(db_url: str) -> None:
    clock = Clock()
    bo = office(db_url, clock)
    spec = OPERATIONS["request_callback"]
    first = ask(bo, "request_callback", "call-7", number="+86 138-0013-8000")
    assert first == Reply("stored") and first.result in spec.results
    assert set(first.values) <= set(spec.gives)
    stored_callback = bo.repository.callback("call-7")
    assert stored_callback is not None
    assert (
        stored_callback["phone"],
        stored_callback["status"],
        stored_callback["requested_at"],
    ) == ("13800138000", "pending", stored(NOW))
    clock.moment = NOW + dt.timedelta(minutes=5)
    assert ask(bo, "request_callback", "call-7", number="13900000000") == first  # a retry
    assert office(db_url).perform(Request("request_callback", {"number": "1"}, "call-7")) == (
        Reply(ERROR)  # checked before anything is stored
    )
    again = bo.repository.callback("call-7")
    assert again is not None and (again["phone"], again["requested_at"]) == (
        "13800138000",
        stored(NOW),
    )
    assert ask(bo, "request_callback", "call-8", number="010-8888 6666") == Reply("stored")
    assert ask(bo, "request_callback", "call-9", number="95566") == Reply("stored")
    assert ask(bo, "request_callback", "call-10", number="+44 20 7946 0958") == Reply("stored")
    assert [bo.repository.callback(c)["phone"] for c in ("call-8", "call-9", "call-10")] == [  # type: ignore[index]
        "01088886666",
        "95566",
        "+442079460958",
    ]
    assert count(bo, s.callbacks) == 4


@pytest.mark.parametrize(
    "number",
    [
        None,
        "",
        "12",
        "1" * 16,
        "138 0013 800a",
        "+",
        "++8613800138000",
        "１３８００１３８０００",
        13.8,
    ],
)
def test_a_number_nobody_can_dial_is_the_error_result(
    db_url: str, number: Any, caplog: pytest.LogCaptureFixture
) -> None:
    bo = office(db_url)
    with caplog.at_level(logging.WARNING, logger="ivr.backoffice"):
        assert ask(bo, "request_callback", "call-1", number=number) == Reply(ERROR)
    assert bo.repository.callback("call-1") is None and count(bo, s.callbacks) == 0
    if isinstance(number, str) and len(number) > 2:
        assert number not in caplog.text  # logged without its value
    assert bo.perform(Request("request_callback", {}, "call-1")) == Reply(ERROR)
    assert bo.perform(Request("request_callback", {"number": "13800138000"}, "")) == Reply(ERROR)


def test_the_queue_stores_its_callback_in_the_database(db_url: str) -> None:
    """A caller outside hours takes the callback: the pool asks the database back office,
    which stores the caller ID once for the call, and the call ends ``callback``."""
    from ivr.menu.model import load
    from tests.test_queueing import QUEUE_MENU, run_pool

    bo = office(db_url)
    events, _ = run_pool(
        load(QUEUE_MENU, cached=False), "02", dt.datetime(2026, 3, 21, 10), office=bo
    )
    records = [e for _, e in events]
    assert {
        "type": "reply",
        "state": "main",
        "operation": "request_callback",
        "result": "stored",
    }.items() <= next(e for e in records if e["type"] == "reply").items()
    assert records[-1]["outcome"] == "callback"
    with bo.repository.db.reading() as conn:
        rows = conn.execute(sa.select(s.callbacks)).all()
    assert [(r.phone, r.status) for r in rows] == [("13800138000", "pending")]


# ----- ivr db -----


@pytest.mark.usefixtures("demo_pins_hashed_once")
def test_db_init_makes_the_same_demo_callers_for_the_same_seed(
    db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import ivr.backoffice.repository
    from ivr.backoffice.demo import CASES, REJECTIONS
    from ivr.cli import main
    from ivr.cli.parser import DEMO_CASES

    # The demo cases are dated back from the moment of `ivr db init`: both runs at one moment
    # (they once straddled a minute and printed different times).
    moment = dt.datetime(2026, 12, 2, 6, 15, 59, tzinfo=dt.UTC)
    monkeypatch.setattr(ivr.backoffice.repository, "utc_now", lambda: moment)

    assert DEMO_CASES == CASES
    assert main(["db", "init", "--demo", "20", "--seed", "7", "--db", db_url]) == 0
    assert "20 demo callers" in capsys.readouterr().out
    assert main(["db", "accounts", "--db", db_url]) == 0
    first = capsys.readouterr().out
    assert main(["db", "init", "--demo", "20", "--seed", "7", "--db", db_url]) == 0
    capsys.readouterr()
    assert main(["db", "accounts", "--db", db_url]) == 0
    assert capsys.readouterr().out == first  # replaced by the same, not added to
    lines = [line.split(maxsplit=3) for line in first.splitlines()[2:]]
    assert len(lines) == 20 and Counter(case for _, _, case, _ in lines) == dict.fromkeys(CASES, 4)
    assert all(
        phone.startswith("138") and len(phone) == 11 and len(pin) == 6 for phone, pin, _, _ in lines
    )
    for cause in ("余额不足", "网络不稳定", "支付限制", "安全审核"):
        assert any(cause in rest for _, _, case, rest in lines if case == "failed-payment"), cause

    bo = office(db_url)  # a trainer's caller: their PIN works and the case is there
    for phone, pin, case, rest in lines:
        found = ask(bo, "find_account", phone=phone)
        verified = ask(bo, "verify_pin", account_id=found.values["account_id"], pin=pin).result
        assert verified == ("locked" if case == "locked" else "verified")
        who = found.values["account_id"]
        if case == "failed-payment":
            reply = ask(bo, "latest_failed_transaction", account_id=who)
            assert reply.result == "found" and str(reply.values["cause"]) in rest
        if case == "real-name":
            reply = ask(bo, "real_name_status", account_id=who)
            assert reply.result in ("not_started", "under_review", "rejected")
            assert reply.values["reason"] is None or reply.values["reason"] in REJECTIONS
        if case == "refund":
            assert ask(bo, "latest_refund", account_id=who).values["status"] in ("处理中", "已退款")
        if case == "invoice":
            assert ask(bo, "e_invoice_status", account_id=who).result in (
                "supported",
                "not_supported",
            )
    assert main(["db", "accounts", "--db", db_url, "--case", "locked"]) == 0
    assert [line.split()[2] for line in capsys.readouterr().out.splitlines()[2:]] == ["locked"] * 4


def test_db_commands_say_what_is_wrong_in_one_line(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from ivr.cli import main

    assert main(["db", "accounts", "--db", str(tmp_path / "none.sqlite3")]) == 1
    assert capsys.readouterr().err.strip().count("\n") == 0
    assert not (tmp_path / "none.sqlite3").exists()
    assert main(["db", "init", "--db", "mysql://x@y/z"]) == 2
    assert "unsupported database" in capsys.readouterr().err
    assert main(["db", "init", "--db", str(tmp_path)]) == 1
    assert "folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["db", "init", "--demo", "-1"])
    assert main(["db", "accounts", "--db", str(tmp_path / "empty.sqlite3")]) == 1
    assert main(["db", "init", "--db", str(tmp_path / "empty.sqlite3")]) == 0
    assert main(["db", "accounts", "--db", str(tmp_path / "empty.sqlite3")]) == 0
    assert "ivr db init --demo" in capsys.readouterr().out


def test_the_url_comes_from_the_option_the_environment_or_the_user_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from ivr.backoffice.settings import DatabaseUrlInvalid, database_url, default_path

    monkeypatch.delenv("IVR_DATABASE_URL", raising=False)
    assert (
        database_url() == f"sqlite:///{default_path()}"
        and default_path().name == "backoffice.sqlite3"
    )
    monkeypatch.setenv("IVR_DATABASE_URL", "postgresql://u@h/db")
    assert database_url() == "postgresql+psycopg://u@h/db"
    assert database_url(str(tmp_path / "a.db")) == f"sqlite:///{tmp_path / 'a.db'}"
    for bad in ("postgresql+asyncpg://u@h/db", "oracle://x", "", "sqlite+aiosqlite:///x"):
        with pytest.raises(DatabaseUrlInvalid):
            database_url(bad)


def test_no_keyed_call_or_help_imports_the_database_libraries(tmp_path: Any) -> None:
    import subprocess
    import sys

    probe = "import sys\nfrom ivr.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\nprint(sorted(m for m in sys.modules if m.split('.')[0] in {'sqlalchemy', 'alembic', 'argon2', 'faker', 'psycopg'}))"
    for args in (["--help"], ["call", "--keys", "12", "--quiet"], ["db", "--help"]):
        done = subprocess.run(
            [sys.executable, "-c", probe, *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            check=False,
        )
        assert done.stdout.splitlines()[-1] == "[]", (args, done.stderr)
