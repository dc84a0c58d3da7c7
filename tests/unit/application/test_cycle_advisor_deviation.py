"""The decision cycle bounds the advisor by the signal (`max_advisor_deviation`)."""

from __future__ import annotations

from decimal import Decimal

from application.cycle import CycleCommand
from domain.allocation import TargetAllocations
from domain.plans import TransactionType
from tests.unit.application.conftest import BALANCED, build_treasury

D = Decimal


async def test_a_95_percent_tactical_advice_does_not_empty_the_yield_venues_into_cash() -> None:
    t = build_treasury(cash=64_000, holdings=BALANCED)
    t.advisor.targets = TargetAllocations(D("0.05"), D("0.95"), D("0"))

    result = await t.cycle.execute(CycleCommand(force=True))

    assert result.plan is not None
    withdrawn = sum(
        (
            t.amount_usd
            for t in result.plan.required_transactions
            if t.tx_type is TransactionType.WITHDRAW
        ),
        D(0),
    )
    assert withdrawn <= D(40_000)  # 10 points of $400K at most, not $220K
    clamp = [r for r in result.decision.verdict_reasons if r.startswith("max_advisor_deviation")]
    assert clamp, result.decision.verdict_reasons
    assert "CLAMPED" in clamp[0]
    assert "tactical 95%" in clamp[0] or "tactical 95.00%" in clamp[0]
