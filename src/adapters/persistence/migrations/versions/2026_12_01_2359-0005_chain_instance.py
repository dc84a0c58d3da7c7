"""Journal attempts know which chain instance they were signed for (its genesis block hash),
and a step of a chain that no longer exists can be settled as "chain reset". Existing attempts
get an empty instance: a live node adopts them at start-up; a new in-process dev chain, which
shares only the chain id with the old one, settles them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 23:59:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from adapters.persistence.types import UtcDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("broadcast_attempts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("chain_instance", sa.String(length=66), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("settled_at", UtcDateTime(), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("broadcast_attempts", schema=None) as batch_op:
        batch_op.drop_column("settled_at")
        batch_op.drop_column("chain_instance")
