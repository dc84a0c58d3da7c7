"""A planned move may name the market it trades (a Pendle market address, for a PT roll that
redeems from one market and buys into another). Existing moves name none: the venue's
current market, as before.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 03:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("planned_transactions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("market", sa.String(length=200), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("planned_transactions", schema=None) as batch_op:
        batch_op.drop_column("market")
