"""The back office's tables (SQLAlchemy Core), what the wallet's guide talks about.

The rules the data must keep are constraints in the database, not only in this code:
statuses and causes are CHECKed against their lists, a failed transaction has exactly one
of the guide's four causes and any other none, a rejected real-name check has a reason,
amounts are positive NUMERIC(12, 2), references are foreign keys, a phone number and a
ticket's or a callback's call id are UNIQUE. Times are stored in UTC without a zone (the
same on both databases) and read in the back office's zone.

The migrations (``migrations/versions``) create exactly these tables; a test compares them.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
)

from ivr.engine.backoffice import FAILURE_CAUSES, REAL_NAME_STATUSES, TICKET_CATEGORIES

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

TRANSACTION_STATUSES = ("succeeded", "failed")
REFUND_STATUSES = ("pending", "done")
INVOICE_STATUSES = ("pending", "issued", "failed")
CALLBACK_STATUSES = ("pending", "done")
"""A callback waiting for an agent to call, or made."""
WALLET_LEVELS = (1, 2, 3, 4)
"""The e-CNY wallet classes: 一类 (highest limits) to 四类 (anonymous, lowest)."""


def _one_of(column: str, values: tuple[str, ...] | tuple[int, ...]) -> str:
    """``column IN (…)`` as CHECK text: the values are this module's constants, never input."""
    listed = ", ".join(f"'{v}'" if isinstance(v, str) else str(v) for v in values)
    return f"{column} IN ({listed})"


MONEY = Numeric(12, 2, asdecimal=True)
SECONDS = Numeric(8, 3, asdecimal=True)
"""A voice message's length in seconds, to the millisecond the call log gives."""

merchants = Table(
    "merchants",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column(
        "supports_e_invoice",
        Boolean(create_constraint=True, name="supports_e_invoice"),
        nullable=False,
    ),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("phone", String(11), nullable=False, unique=True),
    Column("email", String(254)),
    Column("name", String(100), nullable=False),
    Column("real_name_status", String(16), nullable=False, server_default="not_started"),
    Column("real_name_reason", String(200)),
    Column("wallet_level", SmallInteger, nullable=False, server_default="4"),
    Column("balance", MONEY, nullable=False, server_default="0"),
    Column("single_limit", MONEY, nullable=False),
    Column("daily_limit", MONEY, nullable=False),
    Column("pin_hash", String(200), nullable=False),
    Column("failed_attempts", Integer, nullable=False, server_default="0"),
    Column("locked_until", DateTime),
    Column("created_at", DateTime, nullable=False),
    CheckConstraint("length(phone) = 11 AND substr(phone, 1, 1) = '1'", name="phone"),
    CheckConstraint(_one_of("real_name_status", REAL_NAME_STATUSES), name="real_name_status"),
    CheckConstraint(
        "(real_name_status = 'rejected') = (real_name_reason IS NOT NULL)",
        name="reason_when_rejected",
    ),
    CheckConstraint(_one_of("wallet_level", WALLET_LEVELS), name="wallet_level"),
    CheckConstraint("balance >= 0", name="balance"),
    CheckConstraint("single_limit > 0 AND daily_limit >= single_limit", name="limits"),
    CheckConstraint("failed_attempts >= 0", name="failed_attempts"),
    CheckConstraint("pin_hash LIKE '$argon2id$%'", name="pin_hash_is_argon2id"),
)

transactions = Table(
    "transactions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("merchant_id", ForeignKey("merchants.id"), nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("occurred_at", DateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("failure_cause", String(16)),
    CheckConstraint("amount > 0", name="amount"),
    CheckConstraint(_one_of("status", TRANSACTION_STATUSES), name="status"),
    CheckConstraint(
        "(status = 'failed' AND failure_cause IS NOT NULL AND "
        f"{_one_of('failure_cause', FAILURE_CAUSES)}) "
        "OR (status <> 'failed' AND failure_cause IS NULL)",
        name="failure_cause",
    ),
    Index(None, "account_id", "occurred_at"),
)

refunds = Table(
    "refunds",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("transaction_id", ForeignKey("transactions.id", ondelete="CASCADE"), nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("status", String(16), nullable=False),
    Column("requested_at", DateTime, nullable=False),
    Column("completed_at", DateTime),
    CheckConstraint("amount > 0", name="amount"),
    CheckConstraint(_one_of("status", REFUND_STATUSES), name="status"),
    CheckConstraint("(status = 'done') = (completed_at IS NOT NULL)", name="completed_when_done"),
    Index(None, "transaction_id"),
)

e_invoices = Table(
    "e_invoices",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "transaction_id",
        ForeignKey("transactions.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    Column("status", String(16), nullable=False),
    Column("email", String(254), nullable=False),
    Column("requested_at", DateTime, nullable=False),
    CheckConstraint(_one_of("status", INVOICE_STATUSES), name="status"),
    CheckConstraint("email LIKE '%_@_%'", name="email"),
)

tickets = Table(
    "tickets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("ticket_number", String(10), nullable=False, unique=True),
    Column("call_id", String(200), nullable=False, unique=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="SET NULL")),
    Column("category", String(16), nullable=False),
    Column("voice_message", String(4096)),
    Column("voice_seconds", SECONDS),
    Column("filed_at", DateTime, nullable=False),
    CheckConstraint(_one_of("category", TICKET_CATEGORIES), name="category"),
    CheckConstraint(
        "length(ticket_number) = 10 AND substr(ticket_number, 1, 1) <> '0'", name="ticket_number"
    ),
)

callbacks = Table(
    "callbacks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("call_id", String(200), nullable=False, unique=True),
    Column("phone", String(16), nullable=False),  # 3 to 15 digits (E.164's most), maybe a +
    Column("requested_at", DateTime, nullable=False),
    Column("status", String(16), nullable=False, server_default="pending"),
    CheckConstraint(_one_of("status", CALLBACK_STATUSES), name="status"),
    CheckConstraint("length(phone) >= 3 AND length(phone) <= 16", name="phone"),
    Index(None, "status", "requested_at"),
    comment="A caller who accepted a callback in the queue: the number to call, once per call.",
)

demo_callers = Table(
    "demo_callers",
    metadata,
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("demo_case", String(20), nullable=False),
    Column("pin", String(6), nullable=False),
    Column("seed", Integer, nullable=False),
    comment="Training data only: the clear PINs of the accounts `ivr db init --demo` made. "
    "Real accounts never have a row here; their PINs exist only as argon2id hashes.",
)
