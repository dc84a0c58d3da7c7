"""Portfolio snapshots carry the capital that arrived from outside (deposit +, withdrawal -)
since the previous snapshot, so time-weighted returns do not count it as performance.
Existing snapshots had no flows: they get zero.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 15:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from adapters.persistence.types import ExactDecimal

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("portfolio_snapshots", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("net_flow_usd", ExactDecimal(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("portfolio_snapshots", schema=None) as batch_op:
        batch_op.drop_column("net_flow_usd")
