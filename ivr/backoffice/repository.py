"""Every query of the back office, as SQLAlchemy Core statements with bound parameters
(never SQL built from strings), one transaction per operation.

Each method takes the operation's values, already checked by ``office``, and returns the
contract's ``Reply``. Times are stored in UTC without a zone and given in the rules' zone.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ivr.backoffice import schema as s
from ivr.backoffice.database import Database
from ivr.backoffice.pins import hash_pin, needs_rehash, pin_matches
from ivr.backoffice.settings import Rules
from ivr.engine.backoffice import ERROR, VERIFIED, Reply, Value

REFUND_WORDS = {"pending": "处理中", "done": "已退款"}
"""A refund's status as ``latest_refund`` gives it (read aloud)."""
INVOICE_WORDS = {None: "未申请", "pending": "开具中", "issued": "已开具", "failed": "开具失败"}
"""An e-invoice's status as ``e_invoice_status`` gives it (None: never asked for)."""

TICKET_DIGITS = 10
RECENT = 3
"""How many transactions ``recent_transactions`` gives."""


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def stored(moment: dt.datetime) -> dt.datetime:
    """A time as the database keeps it: UTC, without a zone."""
    if moment.tzinfo is None:
        raise ValueError("a time without a zone is ambiguous")
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def new_ticket_number() -> str:
    """Ten digits, the first not 0 (read digit by digit: 幺三八…)."""
    return str(10 ** (TICKET_DIGITS - 1) + secrets.randbelow(9 * 10 ** (TICKET_DIGITS - 1)))


def masked(phone: str) -> str:
    """138****8000: enough for the caller to recognise their number, not to learn it."""
    return f"{phone[:3]}****{phone[-4:]}"


class Repository:
    def __init__(
        self,
        url: str,
        rules: Rules,
        *,
        create: bool = True,
        now: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self.rules = rules
        self.zone = ZoneInfo(rules.zone)
        self.now = now
        self.db = Database(url, rules, create=create)
        if create:
            self.db.migrate()

    def local(self, moment: dt.datetime) -> dt.datetime:
        """A stored time in the rules' zone."""
        return moment.replace(tzinfo=dt.UTC).astimezone(self.zone)

    def _exists(self, conn: Connection, account_id: int) -> bool:
        query = sa.select(s.accounts.c.id).where(s.accounts.c.id == account_id)
        return conn.execute(query).first() is not None

    # ----- identify and verify -----

    def find_account(self, phone: str) -> Reply:
        with self.db.reading() as conn:
            query = sa.select(s.accounts.c.id).where(s.accounts.c.phone == phone)
            found = conn.execute(query).scalar_one_or_none()
        if found is None:
            return Reply("not_found")
        return Reply("found", {"account_id": found, "masked_phone": masked(phone)})

    def verify_pin(self, account_id: int, pin: str) -> Reply:
        """Check a PIN; N wrong in a row lock the account for the rules' time.

        The slow hash is checked outside any transaction (a SQLite write lock held for
        20 ms per check would queue every other call); the decision — locked or not, the
        count, the lock — is then taken in one write transaction on the row as it is
        *then* (locked for update): two calls checking at once count two attempts, and a
        lock another call set meanwhile wins over a right PIN.
        """
        a = s.accounts.c
        columns = (a.pin_hash, a.failed_attempts, a.locked_until)
        with self.db.reading() as conn:
            row = conn.execute(sa.select(*columns).where(a.id == account_id)).first()
        if row is None:
            return Reply(ERROR)
        now = stored(self.now())
        if row.locked_until is not None and row.locked_until > now:
            return self._locked(row.locked_until)
        checked_hash, matches = row.pin_hash, pin_matches(row.pin_hash, pin)

        def decide(conn: Connection) -> Reply:
            query = sa.select(*columns).where(a.id == account_id).with_for_update()
            row = conn.execute(query).first()
            if row is None:
                return Reply(ERROR)
            if row.locked_until is not None and row.locked_until > now:
                return self._locked(row.locked_until)
            right = matches if row.pin_hash == checked_hash else pin_matches(row.pin_hash, pin)
            update = sa.update(s.accounts).where(a.id == account_id)
            if right:
                changes: dict[str, Any] = {"failed_attempts": 0, "locked_until": None}
                if needs_rehash(row.pin_hash):
                    changes["pin_hash"] = hash_pin(pin)
                conn.execute(update.values(**changes))
                return Reply(
                    "verified",
                    {
                        "attempts_left": self.rules.pin_attempts,
                        "locked_until": None,
                        "verified": VERIFIED,
                    },
                )
            lock_over = row.locked_until is not None  # and past: a fresh count
            failed = (0 if lock_over else row.failed_attempts) + 1
            if failed >= self.rules.pin_attempts:
                until = now + dt.timedelta(minutes=self.rules.lock_minutes)
                conn.execute(update.values(failed_attempts=failed, locked_until=until))
                return self._locked(until)
            conn.execute(update.values(failed_attempts=failed, locked_until=None))
            left = self.rules.pin_attempts - failed
            return Reply("wrong_pin", {"attempts_left": left, "locked_until": None})

        return self.db.write(decide)

    def _locked(self, until: dt.datetime) -> Reply:
        return Reply("locked", {"attempts_left": 0, "locked_until": self.local(until)})

    # ----- look up -----

    def latest_failed_transaction(self, account_id: int) -> Reply:
        t, m = s.transactions.c, s.merchants.c
        query = (
            sa.select(t.occurred_at, m.name, t.amount, t.failure_cause)
            .join_from(s.transactions, s.merchants)
            .where(t.account_id == account_id, t.status == "failed")
            .order_by(t.occurred_at.desc(), t.id.desc())
            .limit(1)
        )
        with self.db.reading() as conn:
            row = conn.execute(query).first()
            if row is None:
                return Reply("none" if self._exists(conn, account_id) else ERROR)
        when = self.local(row.occurred_at)
        return Reply(
            "found",
            {
                "date": when.date(),
                "time": when.time().replace(second=0, microsecond=0),
                "merchant": row.name,
                "amount": Decimal(row.amount),
                "cause": row.failure_cause,
            },
        )

    def latest_refund(self, account_id: int) -> Reply:
        r, t, m = s.refunds.c, s.transactions.c, s.merchants.c
        mine = (
            sa.select(r.requested_at, m.name, r.amount, r.status)
            .join_from(s.refunds, s.transactions)
            .join(s.merchants)
            .where(t.account_id == account_id)
        )
        count = (
            sa.select(sa.func.count())
            .select_from(s.refunds)
            .join(s.transactions)
            .where(t.account_id == account_id)
        )
        with self.db.reading() as conn:
            row = conn.execute(mine.order_by(r.requested_at.desc(), r.id.desc()).limit(1)).first()
            if row is None:
                return Reply("none" if self._exists(conn, account_id) else ERROR)
            total = conn.execute(count).scalar_one()
        return Reply(
            "found",
            {
                "date": self.local(row.requested_at).date(),
                "merchant": row.name,
                "amount": Decimal(row.amount),
                "status": REFUND_WORDS[row.status],
                "refund_count": int(total),
            },
        )

    def recent_transactions(self, account_id: int) -> Reply:
        t, m = s.transactions.c, s.merchants.c
        query = (
            sa.select(t.occurred_at, m.name, t.amount)
            .join_from(s.transactions, s.merchants)
            .where(t.account_id == account_id, t.status == "succeeded")
            .order_by(t.occurred_at.desc(), t.id.desc())
            .limit(RECENT)
        )
        with self.db.reading() as conn:
            rows = conn.execute(query).all()
            if not rows:
                return Reply("none" if self._exists(conn, account_id) else ERROR)
        values: dict[str, Value] = {}
        for i in range(1, RECENT + 1):
            row = rows[i - 1] if i <= len(rows) else None
            values[f"tx{i}_date"] = self.local(row.occurred_at).date() if row else None
            values[f"tx{i}_merchant"] = row.name if row else None
            values[f"tx{i}_amount"] = Decimal(row.amount) if row else None
        values["transaction_count"] = len(rows)
        return Reply("found", values)

    def real_name_status(self, account_id: int) -> Reply:
        a = s.accounts.c
        query = sa.select(a.real_name_status, a.real_name_reason).where(a.id == account_id)
        with self.db.reading() as conn:
            row = conn.execute(query).first()
        if row is None:
            return Reply(ERROR)
        return Reply(row.real_name_status, {"reason": row.real_name_reason})

    def e_invoice_status(self, account_id: int) -> Reply:
        """The e-invoice of the latest successful payment: whether its merchant issues
        e-invoices, and if so how far the invoice is."""
        t, m, e = s.transactions.c, s.merchants.c, s.e_invoices.c
        query = (
            sa.select(t.occurred_at, t.amount, m.name, m.supports_e_invoice, e.status)
            .join_from(s.transactions, s.merchants)
            .outerjoin(s.e_invoices, e.transaction_id == t.id)
            .where(t.account_id == account_id, t.status == "succeeded")
            .order_by(t.occurred_at.desc(), t.id.desc())
            .limit(1)
        )
        with self.db.reading() as conn:
            row = conn.execute(query).first()
            if row is None:
                return Reply("none" if self._exists(conn, account_id) else ERROR)
        supported = bool(row.supports_e_invoice)
        return Reply(
            "supported" if supported else "not_supported",
            {
                "merchant": row.name,
                "amount": Decimal(row.amount),
                "date": self.local(row.occurred_at).date(),
                "invoice_status": INVOICE_WORDS[row.status] if supported else None,
            },
        )

    # ----- act -----

    def file_ticket(
        self,
        call_id: str,
        account_id: int | None,
        category: str,
        voice_message: str | None,
        voice_seconds: Decimal | None = None,
    ) -> Reply:
        """File a complaint or suggestion, once per call: the same call filing again (a
        retry, a repeated request) gets the ticket it already has, never a second one.

        INSERT … ON CONFLICT DO NOTHING on the UNIQUE call id, then the ticket is read back
        by its call id in the same transaction; a ticket number already taken (one chance
        in a billion) is drawn again."""
        k = s.tickets.c
        insert = _insert_ignoring_conflicts(self.db.dialect)

        def file(conn: Connection) -> Reply:
            if account_id is not None and not self._exists(conn, account_id):
                return Reply(ERROR)
            for _ in range(8):
                conn.execute(
                    insert(s.tickets)
                    .values(
                        ticket_number=new_ticket_number(),
                        call_id=call_id,
                        account_id=account_id,
                        category=category,
                        voice_message=voice_message,
                        voice_seconds=voice_seconds,
                        filed_at=stored(self.now()),
                    )
                    .on_conflict_do_nothing()
                )
                query = sa.select(k.ticket_number).where(k.call_id == call_id)
                number = conn.execute(query).scalar_one_or_none()
                if number is not None:
                    return Reply("filed", {"ticket_number": number})
            return Reply(ERROR)

        return self.db.write(file)

    def request_callback(self, call_id: str, phone: str) -> Reply:
        """Store the number to call back for a call, once: the same call asking again (a
        retry, a second offer accepted) keeps the callback it has, with its first number.

        INSERT … ON CONFLICT DO NOTHING on the UNIQUE call id, then read back by the call id
        in the same transaction (as ``file_ticket``)."""
        c = s.callbacks.c
        insert = _insert_ignoring_conflicts(self.db.dialect)

        def store(conn: Connection) -> Reply:
            conn.execute(
                insert(s.callbacks)
                .values(call_id=call_id, phone=phone, requested_at=stored(self.now()))
                .on_conflict_do_nothing()
            )
            found = conn.execute(sa.select(c.id).where(c.call_id == call_id)).scalar_one_or_none()
            return Reply(ERROR) if found is None else Reply("stored")

        return self.db.write(store)

    def callback(self, call_id: str) -> Mapping[str, Any] | None:
        """The callback a call asked for, as stored (for tests and ``ivr db``)."""
        with self.db.reading() as conn:
            query = sa.select(s.callbacks).where(s.callbacks.c.call_id == call_id)
            row = conn.execute(query).first()
        return None if row is None else dict(row._mapping)

    def ticket(self, call_id: str) -> Mapping[str, Any] | None:
        """The ticket a call filed, as stored (for tests and ``ivr db``)."""
        with self.db.reading() as conn:
            row = conn.execute(sa.select(s.tickets).where(s.tickets.c.call_id == call_id)).first()
        return None if row is None else dict(row._mapping)


def _insert_ignoring_conflicts(dialect: str) -> Any:
    """The dialect's INSERT, which has ``on_conflict_do_nothing`` (both spell it alike)."""
    from sqlalchemy.dialects import postgresql, sqlite

    return postgresql.insert if dialect == "postgresql" else sqlite.insert


@dataclass(frozen=True)
class FiledTicket:
    """A ticket as ``ivr db tickets`` shows it."""

    number: str
    filed: dt.datetime
    category: str
    account: str
    """The account's masked phone, or "-" (an unverified caller)."""
    call_id: str
    voice_message: str | None
    voice_seconds: Decimal | None = None


def filed_tickets(db: Database, last: int, zone: str = Rules().zone) -> list[FiledTicket]:
    """The ``last`` tickets filed, newest first, times in ``zone``."""
    k, a = s.tickets.c, s.accounts.c
    query = (
        sa.select(
            k.ticket_number,
            k.filed_at,
            k.category,
            k.call_id,
            k.voice_message,
            k.voice_seconds,
            a.phone,
        )
        .join_from(s.tickets, s.accounts, isouter=True)
        .order_by(k.filed_at.desc(), k.id.desc())
        .limit(last)
    )
    with db.reading() as conn:
        rows = conn.execute(query).all()
    where = ZoneInfo(zone)
    return [
        FiledTicket(
            row.ticket_number,
            row.filed_at.replace(tzinfo=dt.UTC).astimezone(where),
            row.category,
            masked(row.phone) if row.phone else "-",
            row.call_id,
            row.voice_message,
            row.voice_seconds,
        )
        for row in rows
    ]
