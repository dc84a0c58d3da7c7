"""Two protections from the best treasury tools: a slippage budget that refills linearly over a
period (Enzyme's cumulative slippage tolerance), and a circuit breaker on consecutive failures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from domain.errors import InvalidValue
from domain.money import ZERO, require_aware, require_fraction, require_non_negative


@dataclass(frozen=True, slots=True, kw_only=True)
class SlippageBudget:
    """Capacity is `fraction` of the treasury; used slippage drains linearly over `period`."""

    fraction: Decimal = Decimal("0.01")
    period: timedelta = timedelta(days=7)

    def __post_init__(self) -> None:
        require_fraction(self.fraction, "fraction")
        if self.period <= timedelta(0):
            raise InvalidValue("period", self.period, "must be positive")

    def capacity(self, treasury_value_usd: Decimal) -> Decimal:
        """The most slippage (USD) the budget holds for a treasury of this size."""
        return treasury_value_usd * self.fraction


@dataclass(frozen=True, slots=True, kw_only=True)
class SlippageBudgetState:
    """Slippage counted against the budget, as of a time."""

    used_usd: Decimal = ZERO
    as_of: datetime | None = None

    def __post_init__(self) -> None:
        require_non_negative(self.used_usd, "used_usd")
        if self.as_of is not None:
            require_aware(self.as_of, "as_of")


def slippage_used(
    state: SlippageBudgetState, budget: SlippageBudget, treasury_value_usd: Decimal, now: datetime
) -> Decimal:
    """Slippage still counted at `now`, after the linear refill since `state.as_of`."""
    require_aware(now, "now")
    if state.as_of is None or state.used_usd == 0:
        return state.used_usd
    elapsed = max(now - state.as_of, timedelta(0))
    refill = (
        budget.capacity(treasury_value_usd)
        * Decimal(elapsed.total_seconds())
        / Decimal(budget.period.total_seconds())
    )
    return max(ZERO, state.used_usd - refill)


def slippage_available(
    state: SlippageBudgetState, budget: SlippageBudget, treasury_value_usd: Decimal, now: datetime
) -> Decimal:
    """How much slippage (USD) may still be spent at `now`."""
    used = slippage_used(state, budget, treasury_value_usd, now)
    return max(ZERO, budget.capacity(treasury_value_usd) - used)


def consume_slippage(
    state: SlippageBudgetState,
    budget: SlippageBudget,
    treasury_value_usd: Decimal,
    amount_usd: Decimal,
    now: datetime,
) -> SlippageBudgetState:
    """The state after spending `amount_usd` of slippage at `now`."""
    require_non_negative(amount_usd, "amount_usd")
    used = slippage_used(state, budget, treasury_value_usd, now)
    return SlippageBudgetState(used_usd=used + amount_usd, as_of=now)


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerState:
    """Consecutive failed executions; the breaker trips at the limit."""

    consecutive_failures: int = 0

    def __post_init__(self) -> None:
        if self.consecutive_failures < 0:
            raise InvalidValue("consecutive_failures", self.consecutive_failures, "must be >= 0")

    def after(self, succeeded: bool) -> BreakerState:
        """The state after one more execution."""
        return BreakerState(consecutive_failures=0 if succeeded else self.consecutive_failures + 1)

    def tripped(self, limit: int) -> bool:
        """Whether `limit` consecutive failures have happened."""
        return self.consecutive_failures >= limit
