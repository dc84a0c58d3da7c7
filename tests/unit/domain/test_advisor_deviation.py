"""The advisor is bounded by the quant signal: `max_advisor_deviation` per bucket."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import pytest

from domain.allocation import TargetAllocations
from domain.plans import Transaction, TransactionType
from domain.safety import SafetyLimits, Severity, advisor_deviation
from domain.strategy import StrategyConfig, propose
from tests.unit.domain.builders import NOW, PRICES, balanced_400k, context, market

D = Decimal
SIGNAL = TargetAllocations(D("0.6"), D("0.24"), D("0.16"))
GREEDY = TargetAllocations(D("0.05"), D("0.95"), D("0"))


def _withdrawn_from_yield(transactions: Sequence[Transaction]) -> Decimal:
    return sum((t.amount_usd for t in transactions if t.tx_type is TransactionType.WITHDRAW), D(0))


def test_a_95_percent_tactical_advice_does_not_pull_yield_into_idle_cash() -> None:
    result = propose(
        balanced_400k(),
        GREEDY,
        market(),
        context(),
        prices=PRICES,
        plan_id="p",
        now=NOW,
        signal_targets=SIGNAL,
    )

    assert result.plan is not None
    # 10 points from the signal's 60 % base yield is at most $40K of $400K out of yield.
    assert _withdrawn_from_yield(result.plan.required_transactions) <= D(40_000)
    assert result.plan.target_allocations.cash <= SIGNAL.cash
    assert result.verdict is not None
    rule = next(v for v in result.verdict.verdicts if v.rule == "max_advisor_deviation")
    assert not rule.passed
    assert rule.severity is Severity.ADJUSTED
    assert "tactical" in rule.message
    assert "95.00%" in rule.message
    assert any("max_advisor_deviation" in r for r in result.verdict.reasons)


def test_clamping_moves_every_bucket_toward_the_signal_and_keeps_the_sum() -> None:
    targets, verdict = advisor_deviation(GREEDY, SIGNAL, D("0.10"))

    assert targets.base_yield + targets.tactical + targets.cash == 1
    for bucket in ("base_yield", "tactical", "cash"):
        gap = abs(getattr(targets, bucket) - getattr(SIGNAL, bucket))
        assert gap <= D("0.10")
        # never further from the signal than the advice was, never past the signal
        assert gap <= abs(getattr(GREEDY, bucket) - getattr(SIGNAL, bucket))
    assert targets.tactical == D("0.34")
    assert verdict.limit == "10.00 points per bucket"
    assert verdict.actual == "71.00 points (tactical)"


@pytest.mark.parametrize(
    ("advice", "clamped"),
    [
        pytest.param(SIGNAL, False, id="the-signal-itself"),
        pytest.param(TargetAllocations(D("0.5"), D("0.34"), D("0.16")), False, id="at-the-limit"),
        pytest.param(TargetAllocations(D("0.49"), D("0.35"), D("0.16")), True, id="beyond-it"),
    ],
)
def test_advice_within_the_deviation_is_left_as_it_is(
    advice: TargetAllocations, clamped: bool
) -> None:
    targets, verdict = advisor_deviation(advice, SIGNAL, D("0.10"))

    assert verdict.passed is not clamped
    assert (targets != advice) is clamped


def test_the_deviation_limit_is_configurable_and_checked() -> None:
    from domain.errors import InvalidValue

    assert SafetyLimits().max_advisor_deviation == D("0.10")
    with pytest.raises(InvalidValue, match="max_advisor_deviation"):
        SafetyLimits(max_advisor_deviation=D("1.5"))
    wide = StrategyConfig(limits=SafetyLimits(max_advisor_deviation=D("1")))
    result = propose(
        balanced_400k(),
        GREEDY,
        market(),
        context(),
        prices=PRICES,
        plan_id="p",
        now=NOW,
        config=wide,
        signal_targets=SIGNAL,
    )
    assert result.verdict is not None
    rule = next(v for v in result.verdict.verdicts if v.rule == "max_advisor_deviation")
    assert rule.passed
