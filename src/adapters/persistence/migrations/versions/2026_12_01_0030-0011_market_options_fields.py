"""Market data rows carry Deribit's options fields: BTC and ETH implied volatility (DVOL), its
24 h change, and the put/call open-interest ratio. Rows written before have none (NULL:
unknown, which never trades).

Revision ID: 0011
Revises: 0007
Create Date: 2026-12-01 00:30:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from adapters.persistence.types import ExactDecimal

revision: str = "0011"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    "btc_implied_volatility",
    "eth_implied_volatility",
    "btc_iv_change_24h",
    "eth_iv_change_24h",
    "put_call_ratio",
)


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("market_data", schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.add_column(sa.Column(name, ExactDecimal(), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("market_data", schema=None) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
