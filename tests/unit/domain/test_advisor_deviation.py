"""The advisor is bounded by the quant signal: `max_advisor_deviation` per bucket."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.allocation import TargetAllocations
from domain.planner import achievable_targets
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
    advice = TargetAllocations(D("0.45"), D("0.35"), D("0.2"))  # 15 points off base yield
    for limit, clamped in ((D("0.10"), True), (D("0.20"), False)):
        wide = StrategyConfig(limits=SafetyLimits(max_advisor_deviation=limit))
        result = propose(
            balanced_400k(),
            advice,
            market(),
            context(),
            prices=PRICES,
            plan_id="p",
            now=NOW,
            config=wide,
            signal_targets=SIGNAL,
        )
        assert result.deviation is not None
        assert result.deviation.passed is not clamped
        assert (result.targets == advice) is not clamped


def test_advice_the_volatile_cap_would_cut_does_not_leave_the_cut_in_idle_cash() -> None:
    accumulation = TargetAllocations(D("0.6"), D("0.4"), D("0"))
    # Within 10 points of the signal, but above the 40 % volatile cap the planner clamps to.
    advice = TargetAllocations(D("0.5"), D("0.5"), D("0"))

    result = propose(
        balanced_400k(),
        advice,
        market(),
        context(),
        prices=PRICES,
        plan_id="p",
        now=NOW,
        force=True,
        signal_targets=accumulation,
    )

    assert result.targets is not None
    assert result.targets.tactical <= SafetyLimits().max_volatile_share
    reachable = achievable_targets(result.targets, StrategyConfig().planner)
    assert reachable.cash <= D("0.01")  # the planner's headroom, not the 10 points cut
    assert result.deviation is not None
    assert "volatile cap" in result.deviation.message


_SHARES = st.integers(min_value=0, max_value=100)


def _targets(a: int, b: int) -> TargetAllocations:
    low, high = sorted((a, b))
    return TargetAllocations(D(low) / 100, D(high - low) / 100, D(100 - high) / 100)


@given(_SHARES, _SHARES, _SHARES, _SHARES, st.integers(min_value=0, max_value=100))
def test_clamped_advice_always_lies_between_the_advice_and_the_signal_within_bounds(
    a: int, b: int, c: int, d: int, points: int
) -> None:
    advice, signal = _targets(a, b), _targets(c, d)
    limit, cap = D(points) / 100, D("0.40")

    targets, verdict = advisor_deviation(advice, signal, limit, volatile_cap=cap)

    tolerance = D("1e-9")
    assert abs(targets.base_yield + targets.tactical + targets.cash - 1) <= tolerance
    for bucket in ("base_yield", "tactical", "cash"):
        got, want, asked = (getattr(x, bucket) for x in (targets, signal, advice))
        assert abs(got - want) <= limit + tolerance
        assert min(want, asked) - tolerance <= got <= max(want, asked) + tolerance
    if signal.tactical <= cap:
        assert targets.tactical <= cap + tolerance
    assert verdict.passed is (targets == advice)
