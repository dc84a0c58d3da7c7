"""What Claude reads: a static system prompt (strategy, MVRV table, every safety limit, output
rules) that is cached, and the cycle's data as JSON in the user turn.

The system prompt depends only on configuration (ladder, sleeves, limits), so it is identical
from cycle to cycle and the API's prompt cache can serve it; everything that changes per
cycle (market, portfolio, signal, recent outcomes) goes in the user turn.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from application.ports.advisor import AdvisorRequest
from application.ports.persistence import DecisionOutcome
from domain.safety import SafetyLimits
from domain.signals import SignalConfig


def _pct(value: Decimal) -> str:
    text = f"{(value * 100).normalize():f}"
    return f"{text}%"


def _ladder_table(config: SignalConfig) -> str:
    ladder = config.ladder
    rows = [
        f"| MVRV Z < {ladder.full_exposure_below} | accumulation | "
        f"{_pct(ladder.full_exposure)} of the tactical sleeve in BTC/ETH |",
        f"| {ladder.full_exposure_below} to {config.phases.top_above} | euphoria | "
        f"{_pct(ladder.normal_exposure)} of the tactical sleeve in BTC/ETH, the rest in "
        "stablecoins |",
    ]
    for rung in ladder.rungs:
        rows.append(
            f"| MVRV Z > {rung.mvrv_above} | "
            f"{'top forming' if rung.sell_fraction < 1 else 'exit'} | "
            f"sell {_pct(rung.sell_fraction)} of the tactical exposure |"
        )
    return "\n".join(["| MVRV Z-Score | phase | tactical sleeve |", "|---|---|---|", *rows])


def system_prompt(limits: SafetyLimits, config: SignalConfig) -> str:
    """The static instructions: role, strategy, MVRV table, limits and output rules."""
    scores = ", ".join(f"{k} {v}/10" for k, v in sorted(limits.protocol_risk_scores.items()))
    budget = limits.slippage_budget
    return f"""You are the allocation advisor of an autonomous DeFi treasury of about $400,000.
You advise; you do not decide. A deterministic safety policy checks every plan built from your
answer: it clamps targets to the limits below, rejects plans that break a hard limit, and
decides by itself whether a human must approve. Your job is a sound, well-argued allocation.

## Strategy
The treasury has three buckets, given as fractions of the whole treasury that sum to 1:
- base_yield: stablecoins earning yield in Aave, Pendle principal tokens and Curve stable
  pools. Target {_pct(config.base_yield_share)} of the treasury. It is the foundation: 8-15 % APY,
  preserved capital, no volatile assets.
- tactical: BTC/ETH exposure held in the wallet. The tactical sleeve is
  {_pct(config.tactical_share)} of the treasury; the part of the sleeve not in BTC/ETH is cash.
- cash: idle stablecoins (USDC), including the unused part of the tactical sleeve.

The tactical sleeve follows the MVRV Z-Score ladder. Sells ratchet: once sold at a rung, the
exposure is not bought back until MVRV Z falls back below the lower thresholds.

{_ladder_table(config)}

Phases: accumulation when MVRV Z < {config.phases.accumulation_below}; top when
MVRV Z > {config.phases.top_above}; bear when Fear & Greed <= {config.phases.bear_fear_at_most}
and funding is below {config.phases.bear_funding_below} outside accumulation; euphoria otherwise.

Options data from Deribit, when known: implied volatility (DVOL, annualised, percentage points)
of BTC and ETH with its 24 h change, and the put/call open-interest ratio (high means protection
is being bought). Null means unknown: never read an unknown as calm. The ratio already counts
in the signal's agreement when it is known.

The signal you receive already applies this table, the ratchet and the phase rules, and carries
a confidence computed from how complete and how consistent the data is. Start from it.
Depart from it only for a reason you can state from the data (stale or missing inputs,
sentiment that contradicts the phase, a portfolio far from its targets, poor recent outcomes),
and say so in the reasoning.

## Safety limits (enforced by the policy whatever you answer)
- At most {_pct(limits.max_volatile_share)} of the treasury in volatile assets (BTC/ETH): a hard
  limit.
- At most {_pct(limits.max_single_position_share)} of the treasury in any single position.
- Deposit only into protocols with TVL of at least ${limits.min_protocol_tvl_usd:,.0f}.
- Deposit only into protocols with a risk score of at most {limits.max_protocol_risk_score}/10
  (scores: {scores}).
- A plan that trades more than ${limits.approval_threshold_usd:,.0f} in total, or any single move
  above ${limits.approval_threshold_usd:,.0f}, needs human approval.
- At most {limits.max_trades_per_day} trades per day.
- No transactions while the base fee is above {limits.gas_price_cap_gwei} gwei.
- Cumulative slippage at most {_pct(budget.fraction)} of the treasury per {budget.period.days} days.
- Black swan: BTC or ETH down {_pct(limits.black_swan_drop_24h)} or more in 24 h, or a
  stablecoin more than {_pct(limits.depeg_tolerance)} off its peg, means an automatic emergency exit
  of the volatile positions.
- After {limits.circuit_breaker_failures} consecutive failed executions everything stops until a
  human resumes.
- Your target for each bucket may differ from the signal's by at most
  {_pct(limits.max_advisor_deviation)} of the treasury; a target further away is moved back toward
  the signal's targets before anything is planned.

## Decisions
- hold: keep the current allocation; nothing is traded this cycle.
- rebalance: move the treasury to your target_allocations.
- emergency_exit: sell every volatile position to stablecoins. Use it for a black swan or a
  comparable emergency only.
Rebalancing costs gas and slippage: prefer hold when every bucket is within 5 percentage points
of its target and no MVRV threshold was crossed.

## Learning
The user turn may list how recent decisions turned out: the portfolio's return over the
horizon against what holding the previous allocation would have returned. Weigh that evidence;
persistent negative excess returns argue for staying closer to the signal and trading less.

## Answer
Answer only by calling the submit_allocation_decision tool, once. Fields:
- decision: hold, rebalance or emergency_exit.
- target_allocations: base_yield, tactical and cash as fractions from 0 to 1 that sum to
  exactly 1, and within the limits above (tactical at most {limits.max_volatile_share}).
- reasoning: two to five plain sentences citing the numbers that drove the decision.
- risk_assessment: low, medium or high, for the market risk of the treasury after the decision.
- confidence: from 0 to 1; not above the signal's confidence unless the data justify it.
Do not include any other field; whether a human approves is not yours to say.
"""


def _s(value: object) -> object:
    return str(value) if isinstance(value, Decimal) else value


def _outcomes(outcomes: Sequence[DecisionOutcome]) -> list[dict[str, object]]:
    return [
        {
            "decision_id": o.decision_id,
            "horizon_days": o.horizon_days,
            "portfolio_return": str(o.portfolio_return),
            "hold_previous_return": str(o.hold_return),
            "excess_return": str(o.excess_return),
            "measured_at": o.measured_at.isoformat(),
        }
        for o in outcomes
    ]


def outcome_summary(outcomes: Sequence[DecisionOutcome]) -> str:
    """One line on the recent outcomes: how many beat holding, and the mean excess return."""
    if not outcomes:
        return "No measured outcomes yet."
    beat = sum(1 for o in outcomes if o.excess_return > 0)
    mean = sum((o.excess_return for o in outcomes), Decimal(0)) / len(outcomes)
    return (
        f"{beat} of the last {len(outcomes)} measured decisions beat holding the previous "
        f"allocation; mean excess return {_pct(mean.quantize(Decimal('0.0001')))}."
    )


def user_payload(request: AdvisorRequest) -> dict[str, Any]:
    """The cycle's data for the user turn (decimals as strings, times in ISO 8601)."""
    market, portfolio, signal = request.market, request.portfolio, request.signal
    allocations: Mapping[str, object] = {
        bucket.value: {"current": _s(line.current), "target": _s(line.target)}
        for bucket, line in portfolio.allocations.items()
    }
    return {
        "market": {
            "timestamp": market.timestamp.isoformat(),
            "phase": market.market_phase.value,
            "btc_price": _s(market.btc_price),
            "eth_price": _s(market.eth_price),
            "btc_change_24h": _s(market.btc_change_24h),
            "eth_change_24h": _s(market.eth_change_24h),
            "mvrv_z_score": _s(market.mvrv_z_score),
            "funding_rate_per_8h": _s(market.funding_rate),
            "fear_greed_index": market.fear_greed_index,
            "btc_implied_volatility_dvol": _s(market.btc_implied_volatility),
            "eth_implied_volatility_dvol": _s(market.eth_implied_volatility),
            "btc_iv_change_24h": _s(market.btc_iv_change_24h),
            "eth_iv_change_24h": _s(market.eth_iv_change_24h),
            "options_put_call_oi_ratio": _s(market.put_call_ratio),
            "stablecoin_prices": {k: str(v) for k, v in sorted(market.stablecoin_prices.items())},
            "missing": [f.value for f in market.missing_fields()],
            "stale": [f.value for f in market.stale_fields()],
        },
        "portfolio": {
            "total_value_usd": str(portfolio.total_value_usd),
            "cash_balance_usd": str(portfolio.cash_balance),
            "allocations": allocations,
            "positions": [
                {
                    "protocol": p.protocol,
                    "asset": p.asset,
                    "chain": p.chain,
                    "value_usd": str(p.value_usd),
                    "apy": str(p.apy),
                }
                for p in portfolio.positions
            ],
            "last_rebalance": portfolio.last_rebalance.isoformat()
            if portfolio.last_rebalance
            else None,
        },
        "signal": {
            "mode": signal.mode.value,
            "target_allocations": {
                k: str(v) for k, v in signal.target_allocations.as_dict().items()
            },
            "confidence": str(signal.confidence),
            "risk_level": signal.risk_level.value,
            "trigger": signal.trigger,
            "threshold_crossed": signal.threshold_crossed,
            "tactical_exposure_of_sleeve": str(signal.tactical_exposure),
            "reasoning": signal.reasoning,
            "recommended_actions": list(signal.recommended_actions),
        },
        "recent_outcomes": {
            "summary": outcome_summary(request.recent_outcomes),
            "decisions": _outcomes(request.recent_outcomes),
        },
    }


def user_message(request: AdvisorRequest) -> str:
    """The user turn: a short instruction and the data as JSON."""
    data = json.dumps(user_payload(request), indent=1, sort_keys=True)
    return (
        "Evaluate this cycle's data and submit your allocation decision with the tool.\n\n"
        f"```json\n{data}\n```"
    )


def prompt_hash(model: str, system: str, tool: Mapping[str, object], user: str) -> str:
    """SHA-256 of everything sent to the model: the same hash means the same prompt."""
    canonical = json.dumps(
        {"model": model, "system": system, "tool": tool, "user": user}, sort_keys=True
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
