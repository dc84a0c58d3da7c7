"""The execution engine's step journal: signed attempts (before broadcast) and mined outcomes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 13:45:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from adapters.persistence.types import ExactDecimal, UtcDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "broadcast_attempts",
        sa.Column("step_id", sa.String(length=200), nullable=False),
        sa.Column("attempt", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("sender", sa.String(length=42), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("raw_transaction", sa.Text(), nullable=False),
        sa.Column("max_fee_per_gas", ExactDecimal(), nullable=False),
        sa.Column("max_priority_fee_per_gas", ExactDecimal(), nullable=False),
        sa.Column("gas_limit", sa.BigInteger(), nullable=False),
        sa.Column("gas_estimated", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("step_id", "attempt", name=op.f("pk_broadcast_attempts")),
    )
    with op.batch_alter_table("broadcast_attempts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_broadcast_attempts_sender_chain", ["chain_id", "sender"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_broadcast_attempts_tx_hash"), ["tx_hash"], unique=False
        )
    op.create_table(
        "step_outcomes",
        sa.Column("step_id", sa.String(length=200), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("gas_estimated", sa.BigInteger(), nullable=False),
        sa.Column("gas_used", sa.BigInteger(), nullable=False),
        sa.Column("effective_gas_price", ExactDecimal(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("replaced_hashes", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("step_id", name=op.f("pk_step_outcomes")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("step_outcomes")
    with op.batch_alter_table("broadcast_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_broadcast_attempts_tx_hash"))
        batch_op.drop_index("ix_broadcast_attempts_sender_chain")
    op.drop_table("broadcast_attempts")
