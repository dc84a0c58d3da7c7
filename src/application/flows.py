"""Outside money: a deposit or withdrawal is marked on a snapshot taken right after it, so that
returns stay time-weighted (new capital is never counted as performance)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from application.ports.clock import Clock
from application.ports.persistence import UnitOfWorkFactory
from application.ports.treasury import PortfolioReader
from domain.errors import InvalidValue
from domain.portfolio import PortfolioState


class RecordCapitalFlow:
    """Snapshot the treasury after capital arrived (+) or left (-), with the flow on it."""

    def __init__(self, *, portfolio: PortfolioReader, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._portfolio = portfolio
        self._uow = uow
        self._clock = clock

    async def execute(self, net_flow_usd: Decimal) -> PortfolioState:
        """Read the treasury now and store it as a snapshot carrying `net_flow_usd`.

        Raises:
            InvalidValue: the flow is zero, not finite, or larger than what the treasury holds
                after it (a withdrawal cannot take out more than was there).
            TransientError: the treasury could not be read.
        """
        if not net_flow_usd.is_finite() or net_flow_usd == 0:
            raise InvalidValue("net_flow_usd", net_flow_usd, "must be a non-zero amount")
        state = await self._portfolio.read()
        marked = replace(
            state, net_flow_usd=net_flow_usd, as_of=state.as_of or self._clock.now()
        )  # PortfolioState refuses a flow larger than the value it is part of
        async with self._uow() as uow:
            await uow.snapshots.add(marked)
            await uow.positions.replace_all(marked.positions)
            await uow.commit()
        return marked
