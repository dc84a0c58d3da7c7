"""Backtests of tiny series whose right answers are worked out by hand in the comments.

Setup for all: $100,000 starting in USDC, no costs, no yield, MVRV Z seen one day late.
At MVRV Z 1 (euphoria) the signal wants 60 % base yield (aave 40 %, pendle 30 %, curve 30 % of
it: $24,000 / $18,000 / $18,000), 40 % x 0.6 = 24 % in BTC and 16 % cash. A plan decided on
day d fills at day d+1's price.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import pytest

from domain.backtest import OrderOutcome, run_backtest
from domain.errors import InvalidValue
from domain.market import MarketPhase
from domain.plans import TransactionType
from tests.unit.backtest.series import SPREAD, free_config, history


def _d(values: Sequence[int | str]) -> list[Decimal]:
    return [Decimal(str(v)) for v in values]


def test_a_rising_market_deploys_once_then_rides_the_btc_sleeve_and_trims_it_past_the_band() -> (
    None
):
    # Day 0 (MVRV not yet known: it arrives a day late) deploys only the base yield: unknown
    # data buys no BTC. Day 1 sees MVRV and decides the BTC; day 2 buys $24,000 at $12,000 = 2 BTC.
    # Equity = $60,000 deposits + $16,000 cash + 2 BTC x price.
    # Day 5 at $16,000: BTC is $32,000 of $108,000 = 29.6 %, 5.6 points over 24 % (band 5):
    # sell $32,000 - 24 % x $108,000 = $6,080 (0.38 BTC), and top up the deposits to
    # 60 % x $108,000 = $64,800 (+$1,920 aave, +$1,440 pendle, +$1,440 curve). Day 6 fills.
    result = run_backtest(
        history([10_000, 10_000, 12_000, 13_000, 14_000, 16_000, 16_000]), free_config()
    )

    assert list(result.equity) == _d(
        [100_000, 100_000, 100_000, 102_000, 104_000, 108_000, 108_000]
    )
    assert list(result.volatile_usd) == _d([0, 0, 24_000, 26_000, 28_000, 32_000, 25_920])
    assert [d.day.day for d in result.decisions] == [1, 2, 6]
    assert [d.reason for d in result.decisions] == [
        "drift beyond band; no MVRV seen yet: BTC/ETH held as they are",
        "drift beyond band",
        "drift beyond band",
    ]
    assert [(f.day.day, f.to_asset) for f in result.fills if f.day.day < 7] == [
        (2, "USDC"),
        (2, "3CRV"),
        (2, "PT-USDC"),
        (3, "WBTC"),
    ]
    trim = [f for f in result.fills if f.day.day == 7]
    assert [(f.tx_type, f.to_asset, f.amount_usd) for f in trim] == [
        (TransactionType.SWAP, "USDC", Decimal("6080.00")),
        (TransactionType.DEPOSIT, "USDC", Decimal(1_920)),
        (TransactionType.DEPOSIT, "3CRV", Decimal(1_440)),
        (TransactionType.DEPOSIT, "PT-USDC", Decimal(1_440)),
    ]


def test_the_baselines_are_static_yield_btc_hold_and_an_untimed_60_40_split() -> None:
    # Static yield 3.65 %/year = 0.01 %/day compounding daily; BTC hold 10 BTC;
    # 60/40 = $60,000 at 0.01 %/day + 4 BTC.
    result = run_backtest(history([10_000, 11_000, 12_100]), free_config(static_apy="0.0365"))

    assert list(result.baselines["static_yield"]) == _d(["100000", "100010.0", "100020.001"])
    assert list(result.baselines["btc_hold"]) == _d([100_000, 110_000, 121_000])
    assert list(result.baselines["static_60_40"]) == _d(["100000", "104006.0", "108412.0006"])


def test_base_yield_accrues_its_apy_daily_on_deposited_money() -> None:
    # 36.5 %/year = 0.1 %/day on $60,000 deposited on day 1: +$60 on day 2, +$60.06 on day 3.
    result = run_backtest(history([10_000] * 4), free_config(apy="0.365"))

    assert list(result.equity) == _d(["100000", "100000", "100060.000", "100120.060000"])


def test_with_the_sweep_idle_cash_above_the_buffer_earns_the_base_rate_within_the_caps() -> None:
    # Day 0 (MVRV unknown, so no BTC) deposits the base targets $24,000 / $18,000 / $18,000
    # and sweeps the idle $40,000 less the $1,000 buffer into the room under each venue's
    # 24.5 % cap (25 % less the 0.5 % headroom), Aave first: +$500 aave, +$6,500 curve,
    # +$6,500 pendle; $73,500 earns the rate from day 1. Day 1 sees MVRV 2: buy $24,000 of
    # BTC from the $26,500 left idle (nothing to withdraw). 36.5 %/year = 0.1 %/day:
    # +$73.50 on day 2, +$73.5735 on day 3 (against $60 and $60.06 without the sweep).
    result = run_backtest(history([10_000] * 4), free_config(apy="0.365", sweep=True))

    assert list(result.equity) == _d(["100000", "100000", "100073.5", "100147.0735"])
    day_one = [(f.to_asset, f.amount_usd) for f in result.fills if f.day.day == 2]
    assert day_one == [
        ("USDC", Decimal(24_500)),
        ("3CRV", Decimal(24_500)),
        ("PT-USDC", Decimal(24_500)),
    ]
    assert [(f.to_asset, f.amount_usd) for f in result.fills if f.day.day == 3] == [
        ("WBTC", Decimal(24_000))
    ]


def test_a_crash_of_twenty_percent_in_a_day_triggers_the_black_swan_exit_at_the_next_price() -> (
    None
):
    # Venues split 34/33/33 so no deposit nears the 25 % cap after the fall.
    # Day 1 deposits (MVRV, a day late, is not yet known on day 0, so no BTC is bought on it);
    # day 2 buys 2.4 BTC at $10,000. Day 4 falls 25 % to $7,500: BTC is worth $18,000, equity
    # $94,000, and the black-swan rule sells every BTC; day 5 fills 2.4 BTC x $7,500 = $18,000.
    result = run_backtest(
        history([10_000, 10_000, 10_000, 10_000, 7_500, 7_500]), free_config(venue_weights=SPREAD)
    )

    assert list(result.equity) == _d([100_000, 100_000, 100_000, 100_000, 94_000, 94_000])
    assert list(result.volatile_usd) == _d([0, 0, 24_000, 24_000, 18_000, 0])
    exit_decision = result.decisions[-1]
    assert exit_decision.emergency_exit
    assert exit_decision.outcome is OrderOutcome.FILLED
    assert "BTC -25.00% in 24 h" in exit_decision.reason
    assert [(f.from_asset, f.amount_usd) for f in result.fills if f.day.day == 6] == [
        ("WBTC", Decimal(18_000))
    ]
    assert list(result.baselines["btc_hold"])[-1] == Decimal(75_000)


def test_with_the_default_venue_split_the_crash_exit_fills_although_aave_drifted_over_the_cap() -> (
    None
):
    # aave holds 24 % of the treasury by design (60 % x 40 %); a 25 % BTC fall takes the total
    # to $94,000, so aave's $24,000 is 25.53 %, above the 25 % single-position cap. The exit
    # does not add to aave, so the cap does not block it: day 5 sells 2.4 BTC x $7,500.
    result = run_backtest(history([10_000, 10_000, 10_000, 10_000, 7_500, 7_500]), free_config())

    exit_decision = result.decisions[-1]
    assert exit_decision.emergency_exit
    assert exit_decision.outcome is OrderOutcome.FILLED
    assert exit_decision.policy_reasons == ()
    assert list(result.equity) == _d([100_000, 100_000, 100_000, 100_000, 94_000, 94_000])
    assert list(result.volatile_usd) == _d([0, 0, 24_000, 24_000, 18_000, 0])
    assert [(f.from_asset, f.amount_usd) for f in result.fills if f.day.day == 6] == [
        ("WBTC", Decimal(18_000))
    ]


# MVRV Z rows; the strategy sees each one a day later (so on day 0 it knows none, and buys no
# BTC: the first day only deposits the base yield). Price stays at $10,000.
CYCLE_MVRV = ["2", "2", "2", "4", "4", "6", "6", "8", "8", "6", "4", "2", "-0.5", "-0.5", "-0.5"]


def test_a_full_cycle_sells_up_the_ladder_above_mvrv_7_and_buys_back_only_in_accumulation() -> None:
    # Tactical BTC = 40 % x 0.6 x (1 - sold) of $100,000:
    # deploy $24,000; above 3.5 sold 25 % -> $18,000; above 5 sold 50 % -> $12,000;
    # above 7 sold 67 % -> $7,920; falling back through 7, 5 and 3.5 the ratchet holds $7,920;
    # below 0 (accumulation) the ratchet resets and exposure is 100 % of the sleeve = 40 %,
    # clamped by the 25 % single-position cap less 0.5 % headroom: $24,500.
    result = run_backtest(history([10_000] * len(CYCLE_MVRV), CYCLE_MVRV), free_config())

    assert list(result.volatile_usd) == _d(
        [0, 0, 24_000, 24_000, 24_000, 18_000, 18_000, 12_000, 12_000, 7_920]
        + [7_920] * 4
        + [24_500]
    )
    assert all(e == Decimal(100_000) for e in result.equity)
    assert result.phases[8] is MarketPhase.TOP
    assert result.phases[13] is MarketPhase.ACCUMULATION
    assert result.exposures[8] == Decimal("0.198")
    assert result.final_ratchet.sold_fraction == 0


def test_the_ratchet_does_not_buy_back_while_mvrv_falls_from_the_top() -> None:
    # Between the sale above 7 (filled day 9) and accumulation (decided day 13) the MVRV
    # crossings down through 7, 5 and 3.5 plan nothing: no BTC is bought.
    result = run_backtest(history([10_000] * len(CYCLE_MVRV), CYCLE_MVRV), free_config())

    falling = [i for i in range(9, 13)]
    assert {result.exposures[i] for i in falling} == {Decimal("0.198")}
    buys = [f for f in result.fills if f.to_asset == "WBTC"]
    assert [b.day.day for b in buys] == [3, 15]


def test_approvals_wait_the_configured_delay_and_denied_ones_never_fill() -> None:
    # $400,000 wants $96,000 of BTC, and its deposits $96,000 / $72,000 / $72,000: all above
    # the $50,000 approval threshold. Day 1 (MVRV not yet known) decides the deposits only.
    prices = [10_000] * 7
    waited = run_backtest(history(prices), free_config(400_000, approval_delay_days=2))
    denied = run_backtest(history(prices), free_config(400_000, deny_approvals=True))

    assert [d.outcome for d in waited.decisions] == [OrderOutcome.FILLED] * 2
    # Decided day 1, +1 to fill, +2 waiting; the BTC then decided on day 4 fills on day 7.
    assert [d.fills_on.day for d in waited.decisions if d.fills_on] == [4, 7]
    assert list(waited.volatile_usd) == _d([0, 0, 0, 0, 0, 0, 96_000])
    assert {d.outcome for d in denied.decisions} == {OrderOutcome.DENIED}
    assert len(denied.decisions) == 6  # asked again every day but the last
    assert not denied.fills
    assert set(denied.equity) == {Decimal(400_000)}


def test_a_history_shorter_than_two_days_or_out_of_order_is_refused() -> None:
    with pytest.raises(InvalidValue):
        run_backtest(history([10_000]), free_config())
    with pytest.raises(InvalidValue):
        run_backtest(list(reversed(history([10_000, 11_000]))), free_config())
