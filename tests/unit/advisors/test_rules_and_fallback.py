"""The rules advisor follows the signal deterministically; the fallback records why Claude was
not used and reports it as the advisor's health."""

from __future__ import annotations

from decimal import Decimal

import pytest

from adapters.advisors.rules import RulesAdvisor
from application.advice import FallbackAdvisor
from application.errors import AdvisorUnavailable
from application.ports.advisor import AdvisorRequest
from application.queries import Health
from domain.decisions import AdvisorDecision, DecisionKind
from domain.market import MarketData
from domain.planner import PlannerConfig, TacticalAsset
from domain.portfolio import PortfolioState
from domain.safety import SafetyLimits
from domain.signals import RiskLevel, generate_signal
from domain.tactical import RatchetState
from tests.unit.domain.builders import NOW, balanced_400k, market, portfolio, position

D = Decimal


def request(
    data: MarketData | None = None,
    state: PortfolioState | None = None,
    ratchet: RatchetState | None = None,
) -> AdvisorRequest:
    data = data or market()
    signal, _ = generate_signal(data, ratchet or RatchetState(), NOW)
    return AdvisorRequest(
        market=data, portfolio=state or balanced_400k(), signal=signal, limits=SafetyLimits()
    )


async def test_rules_hold_when_the_portfolio_sits_on_the_signals_targets() -> None:
    decision = await RulesAdvisor().advise(request())

    assert decision.decision is DecisionKind.HOLD
    assert decision.advisor == "rules"
    assert decision.target_allocations.as_dict() == {
        "base_yield": D("0.6"),
        "tactical": D("0.24"),
        "cash": D("0.16"),
    }
    assert "Decision: hold" in decision.reasoning
    assert decision.reasoning.startswith("MVRV Z 2 puts the market in euphoria.")


async def test_rules_rebalance_an_all_cash_treasury_to_the_signals_targets() -> None:
    req = request(state=portfolio(cash=400_000))

    decision = await RulesAdvisor().advise(req)

    assert decision.decision is DecisionKind.REBALANCE
    assert decision.target_allocations == req.signal.target_allocations
    assert decision.confidence == req.signal.confidence
    assert decision.risk_assessment is req.signal.risk_level
    assert "largest drift 0.8400 exceeds the band 0.05" in decision.reasoning


async def test_rules_rebalance_when_a_threshold_was_crossed_even_within_the_band() -> None:
    crossed = RatchetState(last_mvrv_z_score=D("4.9"))
    req = request(data=market(mvrv="5.2"), ratchet=crossed)
    assert req.signal.threshold_crossed

    decision = await RulesAdvisor(drift_band=D("0.5")).advise(req)

    assert decision.decision is DecisionKind.REBALANCE
    assert "threshold crossed (MVRV Z 5.2 crossed 5)" in decision.reasoning


@pytest.mark.parametrize(
    ("btc_change", "stablecoins"),
    [
        pytest.param("-0.20", None, id="btc-down-20-percent"),
        pytest.param("0.01", {"USDC": D("0.97")}, id="usdc-depegged-3-percent"),
    ],
)
async def test_rules_exit_on_a_black_swan(
    btc_change: str, stablecoins: dict[str, Decimal] | None
) -> None:
    req = request(data=market(btc_change=btc_change, stablecoins=stablecoins))

    decision = await RulesAdvisor().advise(req)

    assert decision.decision is DecisionKind.EMERGENCY_EXIT
    assert decision.risk_assessment is RiskLevel.HIGH
    assert "black swan" in decision.reasoning


async def test_rules_give_the_same_answer_for_the_same_request() -> None:
    req = request(state=portfolio(cash=400_000))

    assert await RulesAdvisor().advise(req) == await RulesAdvisor().advise(req)


class _Failing:
    def __init__(self, reason: str) -> None:
        self.reason = reason

    async def advise(self, request: AdvisorRequest) -> AdvisorDecision:
        raise AdvisorUnavailable("claude", self.reason)


class _Answering:
    async def advise(self, request: AdvisorRequest) -> AdvisorDecision:
        return AdvisorDecision(
            decision=DecisionKind.HOLD,
            target_allocations=request.signal.target_allocations,
            reasoning="Holding: the portfolio is on target.",
            risk_assessment=RiskLevel.MEDIUM,
            confidence=D("0.8"),
            advisor="claude",
            model="claude-sonnet-5-5",
        )


async def test_the_fallback_decides_with_the_rules_and_records_why() -> None:
    advisor = FallbackAdvisor(_Failing("no answer within 20 s"), RulesAdvisor())

    decision = await advisor.advise(request())
    health = await advisor.check()

    assert decision.advisor == "rules"
    assert decision.fallback_reason == "claude unavailable: no answer within 20 s"
    assert decision.metadata["fallback_from"] == "claude"
    assert health.status is Health.DEGRADED
    assert health.detail == "claude unavailable: no answer within 20 s"


async def test_the_fallback_passes_the_primarys_answer_through() -> None:
    advisor = FallbackAdvisor(_Answering(), RulesAdvisor())

    decision = await advisor.advise(request())

    assert decision.advisor == "claude"
    assert decision.fallback_reason is None
    assert (await advisor.check()).status is Health.HEALTHY


class _Flaky(_Answering):
    def __init__(self) -> None:
        self.down = True

    async def advise(self, request: AdvisorRequest) -> AdvisorDecision:
        if self.down:
            raise AdvisorUnavailable("claude", "Messages API answered HTTP 529 (overloaded_error)")
        return await super().advise(request)


async def test_the_fallback_recovers_its_health_when_the_primary_answers_again() -> None:
    primary = _Flaky()
    advisor = FallbackAdvisor(primary, RulesAdvisor())
    await advisor.advise(request())
    assert (await advisor.check()).status is Health.DEGRADED

    primary.down = False  # the API came back
    decision = await advisor.advise(request())

    assert decision.advisor == "claude"
    assert (await advisor.check()).status is Health.HEALTHY


async def test_rules_ask_to_rebalance_toward_a_target_the_planner_never_reaches() -> None:
    # BTC alone: the accumulation signal's 40 % tactical is 24.5 % after the single-position
    # cap. A treasury already there has nothing to do, as `propose` measures it.
    btc_only = PlannerConfig(tactical_assets=(TacticalAsset(asset="WBTC", weight=D(1)),))
    at_capped_target = portfolio(
        position("aave", "USDC", 96_000),
        position("pendle", "PT-USDC", 72_000, "0.96"),
        position("curve", "3CRV", 72_000, "1.03"),
        position("wallet", "WBTC", 98_000, 60_000),
        cash=62_000,
    )
    req = request(market(mvrv="-0.5"), state=at_capped_target)
    assert req.signal.target_allocations.tactical == D("0.4")

    decision = await RulesAdvisor(planner=btc_only).advise(req)

    assert decision.decision is DecisionKind.HOLD, decision.reasoning
    assert decision.target_allocations == req.signal.target_allocations
