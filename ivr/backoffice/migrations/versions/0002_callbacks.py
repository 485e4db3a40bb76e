"""Callbacks: the number a caller in the queue asked to be called back on, once per call

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-09 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "callbacks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.CheckConstraint("status IN ('pending', 'done')", name=op.f("ck_callbacks_status")),
        sa.CheckConstraint(
            "length(phone) >= 3 AND length(phone) <= 16", name=op.f("ck_callbacks_phone")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callbacks")),
        sa.UniqueConstraint("call_id", name=op.f("uq_callbacks_call_id")),
        comment="A caller who accepted a callback in the queue: the number to call, once per call.",
    )
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_callbacks_status_requested_at"), ["status", "requested_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_callbacks_status_requested_at"))
    op.drop_table("callbacks")
