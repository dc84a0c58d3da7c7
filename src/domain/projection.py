"""What a portfolio would look like after a plan: the basis of every safety check."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType

from domain.market import VOLATILE_ASSETS
from domain.money import ZERO
from domain.plans import RebalancingPlan, TransactionType
from domain.portfolio import PortfolioState

Key = tuple[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Projection:
    """USD value per (protocol, asset) position and idle cash after applying a plan.

    `lowest_cash` is the lowest cash balance seen between steps; `lowest_position` the lowest
    position value; both must stay at or above zero for a plan to be executable in order.
    """

    values: Mapping[Key, Decimal]
    cash: Decimal
    lowest_cash: Decimal
    lowest_position: Decimal

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))

    @property
    def total(self) -> Decimal:
        """Total USD value."""
        return sum(self.values.values(), ZERO) + self.cash

    @property
    def volatile_value(self) -> Decimal:
        """USD value held in BTC/ETH exposure."""
        return sum((v for (_, a), v in self.values.items() if a.upper() in VOLATILE_ASSETS), ZERO)

    @property
    def volatile_share(self) -> Decimal:
        """Share of the total in BTC/ETH exposure."""
        total = self.total
        return self.volatile_value / total if total > 0 else ZERO

    def position_shares(self) -> dict[Key, Decimal]:
        """Each position's share of the total (cash is not a position)."""
        total = self.total
        if total <= 0:
            return {k: ZERO for k in self.values}
        return {k: v / total for k, v in self.values.items()}

    @property
    def largest_position(self) -> tuple[Key | None, Decimal]:
        """The largest position and its share of the total."""
        shares = self.position_shares()
        if not shares:
            return None, ZERO
        key = max(shares, key=lambda k: shares[k])
        return key, shares[key]


def holdings_of(portfolio: PortfolioState) -> dict[Key, Decimal]:
    """USD value per (protocol, asset) position."""
    values: dict[Key, Decimal] = {}
    for p in portfolio.positions:
        values[p.key] = values.get(p.key, ZERO) + p.value_usd
    return values


def project(portfolio: PortfolioState, plan: RebalancingPlan) -> Projection:
    """Apply a plan's transactions in order, with their estimated gas and slippage.

    Gas is paid from cash; slippage reduces what arrives. Value is conserved exactly:
    total after = total before - estimated gas - estimated slippage.
    """
    values = holdings_of(portfolio)
    cash = portfolio.cash_balance
    lowest_cash = cash
    lowest_position = min(values.values(), default=ZERO)
    for tx in plan.required_transactions:
        arriving = tx.amount_usd - tx.estimated_slippage_usd
        source = tx.source_key
        if source is None:
            cash -= tx.amount_usd
        else:
            values[source] = values.get(source, ZERO) - tx.amount_usd
            lowest_position = min(lowest_position, values[source])
        destination = tx.destination_key
        if destination is None:
            cash += arriving
        else:
            values[destination] = values.get(destination, ZERO) + arriving
        cash -= tx.estimated_gas_usd
        lowest_cash = min(lowest_cash, cash)
        if tx.tx_type is TransactionType.WITHDRAW and tx.full_exit and source is not None:
            # A full exit takes the whole position; any rounding remainder is not left as dust.
            values[source] = max(values[source], ZERO)
    cleaned = {k: v for k, v in values.items() if v != 0}
    return Projection(
        values=cleaned, cash=cash, lowest_cash=lowest_cash, lowest_position=lowest_position
    )
