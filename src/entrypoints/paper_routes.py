"""Paper-mode routes: fast-forward simulated time (clock, market, chain time, oracle) and
receive new capital.

Only registered by `treasury paper`; a live service has no such route. Both are audited with
the caller's name before they take effect; pending decisions whose approval window a jump in
time passes expire at once, audited in the caller's name as caused by that jump.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from litestar import post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import JSONBody
from pydantic import Field, model_validator

from adapters.chain.devchain.deploy import DECIMALS
from application.flows import RecordCapitalFlow
from entrypoints.api.auth import Principal, Role
from entrypoints.api.dto import JsonNumber, StrictIn
from entrypoints.container import Runtime
from entrypoints.paper_owner_routes import paper_owner_routes


class FundIn(StrictIn):
    """New capital, in USD (arrives as USDC, so at most 6 decimal places), at most $10M."""

    usd: JsonNumber = Field(gt=0, le=Decimal(10_000_000), decimal_places=DECIMALS["USDC"])


class AdvanceIn(StrictIn):
    """How much simulated time to let pass: days plus hours (JSON integers), at most a year."""

    days: int = Field(default=0, ge=0, le=365)
    hours: int = Field(default=0, ge=0, le=24 * 365)

    @model_validator(mode="after")
    def _some_time(self) -> AdvanceIn:
        total = self.days * 24 + self.hours
        if not 1 <= total <= 24 * 365:
            raise ValueError("advance by at least one hour and at most a year")
        return self


async def _refresh_views(runtime: Runtime) -> None:
    """Simulated time moved: what the dashboard shows follows at once."""
    views = runtime.services.views
    for view in (views.market, views.signal, views.portfolio):
        await view.refresh_quietly()


def paper_routes(runtime: Runtime) -> list[Any]:
    """The paper-only route handlers, bound to this runtime."""

    @post(
        "/paper/advance",
        tags=["paper"],
        opt={"role": Role.OPERATOR},
        status_code=200,
        summary="Paper mode: let simulated days pass",
    )
    async def advance(
        data: JSONBody[AdvanceIn], principal: NamedDependency[Principal]
    ) -> dict[str, Any]:
        delta = timedelta(days=data.days, hours=data.hours)
        before = runtime.clock.now()
        async with runtime.uow() as uow:
            entry = await uow.audit.append(
                principal.name,
                "paper.advanced",
                "clock",
                "paper",
                {
                    "days": data.days,
                    "hours": data.hours,
                    "from": before.isoformat(),
                    "to": (before + delta).isoformat(),
                },
                at=before,
            )
            await uow.commit()
        now = await runtime.advance(delta)
        # Decisions whose approval window the jump passed expire now, in the caller's name.
        expiry = await runtime.services.expire.execute(
            actor=principal.name, cause={"caused_by": "paper.advanced", "caused_by_seq": entry.seq}
        )
        await _refresh_views(runtime)
        market = await runtime.market.fetch()
        return {
            "now": now.isoformat(),
            "expired_decisions": [decision_id for decision_id, _ in expiry.expired],
            "btc_price": float(market.btc_price) if market.btc_price is not None else None,
            "eth_price": float(market.eth_price) if market.eth_price is not None else None,
            "mvrv_z_score": (
                float(market.mvrv_z_score) if market.mvrv_z_score is not None else None
            ),
        }

    @post(
        "/paper/fund",
        tags=["paper"],
        opt={"role": Role.APPROVER},
        status_code=200,
        summary="Paper mode: new capital arrives in the treasury wallet (USDC)",
    )
    async def fund(data: JSONBody[FundIn], principal: NamedDependency[Principal]) -> dict[str, Any]:
        if runtime.chain.fund is None:
            raise NotFoundException("this chain cannot be funded")
        async with runtime.uow() as uow:
            await uow.audit.append(
                principal.name,
                "paper.funded",
                "treasury",
                runtime.chain.address,
                {"usdc": str(data.usd)},
                at=runtime.clock.now(),
            )
            await uow.commit()
        await runtime.chain.fund(data.usd)
        # A snapshot carrying the deposit keeps the returns time-weighted.
        flow = RecordCapitalFlow(
            portfolio=runtime.chain.portfolio, uow=runtime.uow, clock=runtime.clock
        )
        state = await flow.execute(data.usd)
        await runtime.services.views.portfolio.refresh_quietly()
        return {"funded_usd": float(data.usd), "total_value_usd": float(state.total_value_usd)}

    return [advance, fund, *paper_owner_routes(runtime)]
