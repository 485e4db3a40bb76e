"""``ivr db init --demo N``: deterministic training data, every account a case a trainer
can pick (``ivr db accounts``).

The same seed and the same moment give the same accounts, phones, PINs and cases. Names and
e-mail addresses come from Faker's zh_CN locale, seeded; phone numbers are 138 and eight
digits. The cases, in turn: a recent failed payment (each of the guide's four causes in
turn), refunds pending or done, each real-name state (rejections with reasons in the guide's
words), e-invoices at merchants that do and do not issue them, and locked accounts.

The demo PINs are training data: they are kept in clear in the ``demo_callers`` table so a
trainer can be told them. Real accounts never have a row there; their PINs exist only as
argon2id hashes.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ivr.backoffice import schema as s
from ivr.backoffice.database import Database
from ivr.backoffice.pins import hash_pin
from ivr.backoffice.repository import stored
from ivr.engine.backoffice import FAILURE_CAUSES

CASES = ("failed-payment", "refund", "real-name", "invoice", "locked")
"""A demo account's case (``ivr db accounts --case``)."""

REJECTIONS = (
    "上传的身份证正反面照片不清晰",
    "身份证已过有效期",
    "填写的姓名与身份证信息不一致",
    "填写的身份证号码有误",
)
"""Why a real-name check was rejected: the guide's steps (上传身份证的正反面照片，确保信息的
真实性及有效性; 填写个人的姓名、身份证号码及联系方式) failed."""

LIMITS = {
    1: (Decimal("50000.00"), Decimal("100000.00")),
    2: (Decimal("10000.00"), Decimal("50000.00")),
    3: (Decimal("5000.00"), Decimal("10000.00")),
    4: (Decimal("2000.00"), Decimal("5000.00")),
}
"""A wallet level's single-payment and daily limits (demo figures, not the guide's)."""

MERCHANTS = 24
LOCK_DAYS = 7
"""A demo account locked stays locked this long, so a trainer can show the case all week."""


@dataclass
class Account:
    """One demo account as it will be stored, with what ``ivr db accounts`` shows."""

    phone: str
    pin: str
    case: str
    row: dict[str, Any]
    transactions: list[dict[str, Any]] = field(default_factory=list)
    refunds: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    """(index in ``transactions``, refund)"""
    invoices: list[tuple[int, dict[str, Any]]] = field(default_factory=list)


def plan(
    count: int, seed: int, now: dt.datetime, taken: set[str]
) -> tuple[list[dict[str, Any]], list[Account]]:
    """The merchants and ``count`` accounts: a pure function of its arguments."""
    from faker import Faker

    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    names: list[str] = []
    while len(names) < MERCHANTS:
        name = fake.company()
        if name not in names:
            names.append(name)
    merchants = [{"name": name, "supports_e_invoice": i % 3 != 2} for i, name in enumerate(names)]
    supporting = [i for i, m in enumerate(merchants) if m["supports_e_invoice"]]
    refusing = [i for i, m in enumerate(merchants) if not m["supports_e_invoice"]]
    at = stored(now)
    phones = set(taken)
    accounts = []
    for i in range(count):
        case, variant = CASES[i % len(CASES)], i // len(CASES)
        phone = _phone(rng, phones)
        pin = f"{rng.randrange(10**6):06d}"
        level = rng.choice((1, 2, 2, 3))
        row: dict[str, Any] = {
            "phone": phone,
            "email": fake.email(),
            "name": fake.name(),
            "real_name_status": "passed",
            "real_name_reason": None,
            "balance": _money(rng, 50, 20000),
            "failed_attempts": 0,
            "locked_until": None,
            "created_at": at - dt.timedelta(days=rng.randrange(60, 900)),
        }
        account = Account(phone, pin, case, row)
        for _ in range(rng.randrange(3, 7)):
            account.transactions.append(
                _payment(
                    rng,
                    rng.randrange(MERCHANTS),
                    at - dt.timedelta(minutes=rng.randrange(3 * 24 * 60, 30 * 24 * 60)),
                )
            )
        if case == "failed-payment":
            cause = FAILURE_CAUSES[variant % len(FAILURE_CAUSES)]
            failed = _payment(
                rng,
                rng.randrange(MERCHANTS),
                at - dt.timedelta(minutes=rng.randrange(30, 2 * 24 * 60)),
            )
            failed |= {"status": "failed", "failure_cause": cause}
            if cause == "余额不足":
                row["balance"] = (failed["amount"] * Decimal("0.3")).quantize(Decimal("0.01"))
            account.transactions.append(failed)
        elif case == "refund":
            paid = _payment(
                rng, rng.randrange(MERCHANTS), at - dt.timedelta(days=rng.randrange(6, 10))
            )
            account.transactions.append(paid)
            amount = (
                paid["amount"] if variant % 3 else (paid["amount"] / 2).quantize(Decimal("0.01"))
            )
            if variant % 2 == 0:
                refund = {
                    "amount": amount,
                    "status": "pending",
                    "requested_at": at - dt.timedelta(hours=rng.randrange(2, 48)),
                    "completed_at": None,
                }
            else:
                asked = at - dt.timedelta(days=rng.randrange(3, 5))
                refund = {
                    "amount": amount,
                    "status": "done",
                    "requested_at": asked,
                    "completed_at": asked + dt.timedelta(days=1),
                }
            account.refunds.append((len(account.transactions) - 1, refund))
            if variant % 3 == 2:  # and an older one, done
                older = account.transactions[0]
                asked = older["occurred_at"] + dt.timedelta(days=1)
                account.refunds.append(
                    (
                        0,
                        {
                            "amount": older["amount"],
                            "status": "done",
                            "requested_at": asked,
                            "completed_at": asked + dt.timedelta(days=2),
                        },
                    )
                )
        elif case == "real-name":
            state = ("not_started", "under_review", "rejected")[variant % 3]
            row["real_name_status"] = state
            if state == "rejected":
                row["real_name_reason"] = REJECTIONS[(variant // 3) % len(REJECTIONS)]
            level = 4
        elif case == "invoice":
            kind = variant % 5  # not supported, not asked for, pending, issued, failed
            merchant = rng.choice(refusing if kind == 0 else supporting)
            paid = _payment(rng, merchant, at - dt.timedelta(hours=rng.randrange(1, 48)))
            account.transactions.append(paid)
            if kind >= 2:
                status = ("pending", "issued", "failed")[kind - 2]
                account.invoices.append(
                    (
                        len(account.transactions) - 1,
                        {
                            "status": status,
                            "email": row["email"],
                            "requested_at": paid["occurred_at"] + dt.timedelta(minutes=5),
                        },
                    )
                )
        elif case == "locked":
            row["failed_attempts"] = 3
            row["locked_until"] = at + dt.timedelta(days=LOCK_DAYS)
        row["wallet_level"] = level
        row["single_limit"], row["daily_limit"] = LIMITS[level]
        accounts.append(account)
    return merchants, accounts


def _phone(rng: random.Random, taken: set[str]) -> str:
    while True:
        phone = f"138{rng.randrange(10**8):08d}"
        if phone not in taken:
            taken.add(phone)
            return phone


def _money(rng: random.Random, low: int, high: int) -> Decimal:
    return Decimal(rng.randrange(low * 100, high * 100)) / 100


def _payment(rng: random.Random, merchant: int, when: dt.datetime) -> dict[str, Any]:
    return {
        "merchant": merchant,
        "amount": _money(rng, 3, 900),
        "occurred_at": when.replace(second=0, microsecond=0),
        "status": "succeeded",
        "failure_cause": None,
    }


def load(db: Database, count: int, seed: int, now: dt.datetime) -> int:
    """Replace the demo accounts (those in ``demo_callers``) with ``count`` new ones, in one
    transaction; the number made. Real accounts, and tickets, are kept."""
    with db.reading() as conn:
        demo = sa.select(s.demo_callers.c.account_id)
        taken = set(conn.scalars(sa.select(s.accounts.c.phone).where(s.accounts.c.id.not_in(demo))))
    merchants, accounts = plan(count, seed, now, taken)
    with ThreadPoolExecutor() as pool:  # argon2 lets go of the GIL
        hashes = list(pool.map(hash_pin, (a.pin for a in accounts)))

    def write(conn: Connection) -> int:
        conn.execute(
            sa.delete(s.accounts).where(s.accounts.c.id.in_(sa.select(s.demo_callers.c.account_id)))
        )
        ids = _merchant_ids(conn, merchants)
        for account, hashed in zip(accounts, hashes, strict=True):
            account_id = conn.execute(
                sa.insert(s.accounts)
                .values(**account.row, pin_hash=hashed)
                .returning(s.accounts.c.id)
            ).scalar_one()
            conn.execute(
                sa.insert(s.demo_callers).values(
                    account_id=account_id, demo_case=account.case, pin=account.pin, seed=seed
                )
            )
            tx_ids = []
            for tx in account.transactions:
                values = {k: v for k, v in tx.items() if k != "merchant"}
                tx_ids.append(
                    conn.execute(
                        sa.insert(s.transactions)
                        .values(**values, account_id=account_id, merchant_id=ids[tx["merchant"]])
                        .returning(s.transactions.c.id)
                    ).scalar_one()
                )
            for index, refund in account.refunds:
                conn.execute(sa.insert(s.refunds).values(**refund, transaction_id=tx_ids[index]))
            for index, invoice in account.invoices:
                conn.execute(
                    sa.insert(s.e_invoices).values(**invoice, transaction_id=tx_ids[index])
                )
        return len(accounts)

    return db.write(write)


def build(url: str, count: int, seed: int, now: dt.datetime) -> None:
    """``ivr db init --demo COUNT --seed SEED`` at the moment ``now``, on the database at
    ``url`` (created or migrated first): a database scenario's data."""
    from ivr.backoffice.settings import Rules, database_url

    db = Database(database_url(url), Rules(), create=True)
    try:
        db.migrate()
        load(db, count, seed, now)
    finally:
        db.dispose()


def _merchant_ids(conn: Connection, merchants: list[dict[str, Any]]) -> list[int]:
    """The ids of the demo merchants, inserting those not there yet."""
    m = s.merchants.c
    ids = []
    for merchant in merchants:
        found = conn.execute(sa.select(m.id).where(m.name == merchant["name"])).scalar_one_or_none()
        if found is None:
            found = conn.execute(
                sa.insert(s.merchants).values(**merchant).returning(m.id)
            ).scalar_one()
        ids.append(found)
    return ids


@dataclass(frozen=True)
class Caller:
    """A demo caller as ``ivr db accounts`` lists them."""

    phone: str
    pin: str
    case: str
    name: str
    detail: str


def callers(db: Database, case: str | None = None) -> Iterator[Caller]:
    """The demo callers, in the order they were made, with what their case is about."""
    d, a = s.demo_callers.c, s.accounts.c
    query = (
        sa.select(
            a.id,
            a.phone,
            d.pin,
            d.demo_case,
            a.name,
            a.real_name_status,
            a.real_name_reason,
            a.locked_until,
        )
        .join_from(s.demo_callers, s.accounts)
        .order_by(a.id)
    )
    if case is not None:
        query = query.where(d.demo_case == case)
    with db.reading() as conn:
        for row in conn.execute(query).all():
            yield Caller(row.phone, row.pin, row.demo_case, row.name, _detail(conn, row))


def _detail(conn: Connection, row: Any) -> str:
    t, m = s.transactions.c, s.merchants.c
    if row.demo_case == "failed-payment":
        tx = conn.execute(
            sa.select(m.name, t.amount, t.failure_cause)
            .join_from(s.transactions, s.merchants)
            .where(t.account_id == row.id, t.status == "failed")
            .order_by(t.occurred_at.desc())
            .limit(1)
        ).first()
        return f"{tx.failure_cause}: {tx.amount} 元 at {tx.name}" if tx else ""
    if row.demo_case == "refund":
        r = s.refunds.c
        statuses = conn.scalars(
            sa.select(r.status)
            .join_from(s.refunds, s.transactions)
            .where(t.account_id == row.id)
            .order_by(r.requested_at.desc())
        ).all()
        return "refunds: " + ", ".join(statuses)
    if row.demo_case == "real-name":
        return str(row.real_name_status) + (
            f": {row.real_name_reason}" if row.real_name_reason else ""
        )
    if row.demo_case == "invoice":
        e = s.e_invoices.c
        tx = conn.execute(
            sa.select(m.name, m.supports_e_invoice, e.status)
            .join_from(s.transactions, s.merchants)
            .outerjoin(s.e_invoices, e.transaction_id == t.id)
            .where(t.account_id == row.id, t.status == "succeeded")
            .order_by(t.occurred_at.desc())
            .limit(1)
        ).first()
        if tx is None:
            return ""
        if not tx.supports_e_invoice:
            return f"{tx.name}: no e-invoices"
        return f"{tx.name}: e-invoice {tx.status or 'not asked for'}"
    if row.demo_case == "locked":
        return (
            f"locked until {row.locked_until:%Y-%m-%d %H:%M} UTC"
            if row.locked_until
            else "no longer locked"
        )
    return ""
