"""The first schema: accounts, merchants, transactions, refunds, e-invoices, tickets, demo callers

Revision ID: 0001
Revises: (none)
Create Date: 2026-12-02 04:02:54.578017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=11), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "real_name_status", sa.String(length=16), server_default="not_started", nullable=False
        ),
        sa.Column("real_name_reason", sa.String(length=200), nullable=True),
        sa.Column("wallet_level", sa.SmallInteger(), server_default="4", nullable=False),
        sa.Column("balance", sa.Numeric(precision=12, scale=2), server_default="0", nullable=False),
        sa.Column("single_limit", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("daily_limit", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("pin_hash", sa.String(length=200), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "(real_name_status = 'rejected') = (real_name_reason IS NOT NULL)",
            name=op.f("ck_accounts_reason_when_rejected"),
        ),
        sa.CheckConstraint(
            "length(phone) = 11 AND substr(phone, 1, 1) = '1'", name=op.f("ck_accounts_phone")
        ),
        sa.CheckConstraint(
            "pin_hash LIKE '$argon2id$%'", name=op.f("ck_accounts_pin_hash_is_argon2id")
        ),
        sa.CheckConstraint(
            "real_name_status IN ('not_started', 'under_review', 'passed', 'rejected')",
            name=op.f("ck_accounts_real_name_status"),
        ),
        sa.CheckConstraint("balance >= 0", name=op.f("ck_accounts_balance")),
        sa.CheckConstraint("failed_attempts >= 0", name=op.f("ck_accounts_failed_attempts")),
        sa.CheckConstraint(
            "single_limit > 0 AND daily_limit >= single_limit", name=op.f("ck_accounts_limits")
        ),
        sa.CheckConstraint("wallet_level IN (1, 2, 3, 4)", name=op.f("ck_accounts_wallet_level")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("phone", name=op.f("uq_accounts_phone")),
    )
    op.create_table(
        "merchants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "supports_e_invoice",
            sa.Boolean(create_constraint=True, name="supports_e_invoice"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merchants")),
        sa.UniqueConstraint("name", name=op.f("uq_merchants_name")),
    )
    op.create_table(
        "demo_callers",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("demo_case", sa.String(length=20), nullable=False),
        sa.Column("pin", sa.String(length=6), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_demo_callers_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_demo_callers")),
        comment="Training data only: the clear PINs of the accounts `ivr db init --demo` made. "
        "Real accounts never have a row here; their PINs exist only as argon2id hashes.",
    )
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_number", sa.String(length=10), nullable=False),
        sa.Column("call_id", sa.String(length=200), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("voice_message", sa.String(length=4096), nullable=True),
        sa.Column("filed_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "category IN ('complaint', 'suggestion')", name=op.f("ck_tickets_category")
        ),
        sa.CheckConstraint(
            "length(ticket_number) = 10 AND substr(ticket_number, 1, 1) <> '0'",
            name=op.f("ck_tickets_ticket_number"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_tickets_account_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
        sa.UniqueConstraint("call_id", name=op.f("uq_tickets_call_id")),
        sa.UniqueConstraint("ticket_number", name=op.f("uq_tickets_ticket_number")),
    )
    op.create_table(
        "transactions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("failure_cause", sa.String(length=16), nullable=True),
        sa.CheckConstraint(
            "(status = 'failed' AND failure_cause IS NOT NULL AND failure_cause IN "
            "('余额不足', '网络不稳定', '支付限制', '安全审核')) "
            "OR (status <> 'failed' AND failure_cause IS NULL)",
            name=op.f("ck_transactions_failure_cause"),
        ),
        sa.CheckConstraint(
            "status IN ('succeeded', 'failed')", name=op.f("ck_transactions_status")
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_transactions_amount")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_transactions_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_transactions_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transactions")),
    )
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_transactions_account_id_occurred_at"),
            ["account_id", "occurred_at"],
            unique=False,
        )

    op.create_table(
        "e_invoices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("email LIKE '%_@_%'", name=op.f("ck_e_invoices_email")),
        sa.CheckConstraint(
            "status IN ('pending', 'issued', 'failed')", name=op.f("ck_e_invoices_status")
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["transactions.id"],
            name=op.f("fk_e_invoices_transaction_id_transactions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_e_invoices")),
        sa.UniqueConstraint("transaction_id", name=op.f("uq_e_invoices_transaction_id")),
    )
    op.create_table(
        "refunds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "(status = 'done') = (completed_at IS NOT NULL)",
            name=op.f("ck_refunds_completed_when_done"),
        ),
        sa.CheckConstraint("status IN ('pending', 'done')", name=op.f("ck_refunds_status")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_refunds_amount")),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["transactions.id"],
            name=op.f("fk_refunds_transaction_id_transactions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
    )
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_refunds_transaction_id"), ["transaction_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refunds_transaction_id"))

    op.drop_table("refunds")
    op.drop_table("e_invoices")
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transactions_account_id_occurred_at"))

    op.drop_table("transactions")
    op.drop_table("tickets")
    op.drop_table("demo_callers")
    op.drop_table("merchants")
    op.drop_table("accounts")
