"""The strategy state remembers when the last exit ran, which starts the re-entry cooldown.
Existing rows have no exit recorded: the column is empty.

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-01 23:59:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from adapters.persistence.types import UtcDateTime

revision: str = "0007"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("ratchet_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_exit_at", UtcDateTime(), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("ratchet_state", schema=None) as batch_op:
        batch_op.drop_column("last_exit_at")
