"""The Curve-like 3pool, the Pendle-like PT market and the swap router on the in-process chain."""

from __future__ import annotations

from decimal import Decimal

import pytest

from adapters.chain.devchain.deploy import contract_at
from adapters.chain.devchain.oracle import advance_time, set_prices
from tests.integration.devchain.chain_calls import (
    REVERTED,
    balance,
    send,
    signing_as_treasury,
    token,
)
from tests.integration.devchain.fixtures import DevChain

USDC = 10**6
PT = 10**18  # PT decimals follow the SY (18), not USDC's 6
PT_PER_USDC_UNIT = PT // USDC
DAY = 86_400


async def test_curve_deposit_mints_lp_at_the_virtual_price_less_the_fee(devchain: DevChain) -> None:
    w3 = signing_as_treasury(devchain)
    me = devchain.treasury_address
    curve = contract_at(w3, "CurvePool", devchain.book.curve_pool)
    lp = contract_at(w3, "ERC20", devchain.book.curve_lp)
    assert [await curve.functions.coins(i).call() for i in range(3)] == [
        devchain.book.token("DAI"),
        devchain.book.token("USDC"),
        devchain.book.token("USDT"),
    ]
    virtual_price_before = await curve.functions.get_virtual_price().call()
    deposit = [0, 100_000 * USDC, 0]
    expected = await curve.functions.calc_token_amount(deposit, True).call()
    assert expected == 100_000 * 10**18 * 10**18 // virtual_price_before

    await send(w3, token(devchain, "USDC").functions.approve(curve.address, 100_000 * USDC), me)
    with pytest.raises(REVERTED, match="Slippage screwed you"):
        await curve.functions.add_liquidity(deposit, expected).transact({"from": me})
    await send(w3, curve.functions.add_liquidity(deposit, expected * 9_995 // 10_000), me)

    minted = await lp.functions.balanceOf(me).call()
    assert expected * 9_998 // 10_000 <= minted < expected  # 1 bp fee
    assert await curve.functions.balances(1).call() == 10_100_000 * USDC
    assert await curve.functions.get_virtual_price().call() > virtual_price_before


async def test_curve_one_coin_withdrawal_honours_the_minimum(devchain: DevChain) -> None:
    w3 = signing_as_treasury(devchain)
    me = devchain.treasury_address
    curve = contract_at(w3, "CurvePool", devchain.book.curve_pool)
    lp = contract_at(w3, "ERC20", devchain.book.curve_lp)
    await send(w3, token(devchain, "USDT").functions.approve(curve.address, 50_000 * USDC), me)
    await send(w3, curve.functions.add_liquidity([0, 0, 50_000 * USDC], 0), me)
    lp_balance = await lp.functions.balanceOf(me).call()
    quoted = await curve.functions.calc_withdraw_one_coin(lp_balance, 1).call()
    assert 49_980 * USDC < quoted < 50_000 * USDC  # two 1 bp fees

    with pytest.raises(REVERTED, match="Not enough coins removed"):
        await curve.functions.remove_liquidity_one_coin(lp_balance, 1, quoted + 1).transact(
            {"from": me}
        )
    usdc_before = await balance(devchain, "USDC")
    await send(w3, curve.functions.remove_liquidity_one_coin(lp_balance, 1, quoted), me)
    assert await balance(devchain, "USDC") - usdc_before == quoted
    assert await lp.functions.balanceOf(me).call() == 0


async def test_pt_price_follows_the_implied_apy_and_time_to_maturity(devchain: DevChain) -> None:
    market = contract_at(devchain.w3, "PendleMarket", devchain.book.pendle_market)
    assert await market.functions.impliedApy().call() == 75 * 10**15
    now = (await devchain.w3.eth.get_block("latest"))["timestamp"]
    years = Decimal(devchain.book.pendle_expiry - now) / Decimal(31_536_000)
    expected = Decimal(1) / (Decimal("1.075") ** years)
    price = Decimal(await market.functions.ptPrice().call()).scaleb(-18)
    assert abs(price - expected) < Decimal("0.000001")


async def test_pt_buy_sell_and_redeem_at_maturity(devchain: DevChain) -> None:
    w3 = signing_as_treasury(devchain)
    me = devchain.treasury_address
    market = contract_at(w3, "PendleMarket", devchain.book.pendle_market)
    pt = contract_at(w3, "ERC20", devchain.book.pendle_pt)
    usdc = token(devchain, "USDC")
    await send(w3, usdc.functions.approve(market.address, 200_000 * USDC), me)
    await send(w3, pt.functions.approve(market.address, 2**256 - 1), me)

    quoted = await market.functions.previewSwapExactTokenForPt(100_000 * USDC).call()
    assert quoted > 100_000 * PT  # PT trades at a discount before maturity
    with pytest.raises(REVERTED, match="INSUFFICIENT_PT_OUT"):
        await market.functions.swapExactTokenForPt(me, 100_000 * USDC, quoted * 2).transact(
            {"from": me}
        )
    # The PT price creeps towards par block by block, so allow for the next block's price.
    await send(
        w3, market.functions.swapExactTokenForPt(me, 100_000 * USDC, quoted * 9_999 // 10_000), me
    )
    held = await pt.functions.balanceOf(me).call()
    assert quoted * 9_999 // 10_000 <= held <= quoted

    # Selling straight back loses the two swap fees and nothing else.
    usdc_before = await balance(devchain, "USDC")
    await send(w3, market.functions.swapExactPtForToken(me, held // 2, 0), me)
    got = await balance(devchain, "USDC") - usdc_before
    assert 49_940 * USDC < got < 50_000 * USDC

    with pytest.raises(REVERTED, match="not expired"):
        await market.functions.redeemPyToToken(me, held - held // 2, 0).transact({"from": me})
    now = (await w3.eth.get_block("latest"))["timestamp"]
    await advance_time(w3, devchain.book.pendle_expiry - now + DAY)
    assert await market.functions.ptPrice().call() == 10**18
    usdc_before = await balance(devchain, "USDC")
    rest = held - held // 2
    await send(w3, market.functions.redeemPyToToken(me, rest, rest // PT_PER_USDC_UNIT), me)
    assert await balance(devchain, "USDC") - usdc_before == rest // PT_PER_USDC_UNIT
    assert await pt.functions.balanceOf(me).call() == 0


async def test_router_swaps_at_the_oracle_price_less_fee_and_impact(devchain: DevChain) -> None:
    w3 = signing_as_treasury(devchain)
    me = devchain.treasury_address
    router = contract_at(w3, "SwapRouter", devchain.book.router)
    usdc, weth = devchain.book.token("USDC"), devchain.book.token("WETH")
    amount = 35_000 * USDC
    quoted = await router.functions.getAmountOut(usdc, weth, amount).call()
    at_oracle = 10 * 10**18  # $35,000 at $3,500
    assert at_oracle * 9_994 // 10_000 < quoted < at_oracle * 9_995 // 10_000  # 5 bp + impact

    await send(w3, token(devchain, "USDC").functions.approve(router.address, amount), me)
    with pytest.raises(REVERTED, match="return amount is not enough"):
        await router.functions.swap(usdc, weth, amount, quoted + 1, me).transact({"from": me})
    weth_before = await balance(devchain, "WETH")
    await send(w3, router.functions.swap(usdc, weth, amount, quoted, me), me)
    assert await balance(devchain, "WETH") - weth_before == quoted


async def test_router_follows_oracle_updates_and_impact_grows_with_size(devchain: DevChain) -> None:
    router = contract_at(devchain.w3, "SwapRouter", devchain.book.router)
    weth, usdc = devchain.book.token("WETH"), devchain.book.token("USDC")
    small = await router.functions.getAmountOut(weth, usdc, 10**18).call()
    await set_prices(devchain.w3, devchain.book, {"ETH": Decimal("4000")})
    after = await router.functions.getAmountOut(weth, usdc, 10**18).call()
    assert after * 3_500 // 4_000 == pytest.approx(small, rel=1e-5)
    big = await router.functions.getAmountOut(weth, usdc, 1_000 * 10**18).call()
    assert big < after * 1_000 * 9_95 // 1_000  # $4M trade: close to 1 % impact on $500M depth
