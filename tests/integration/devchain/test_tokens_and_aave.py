"""ERC-20 tokens, the price oracle and the Aave-like pool on the in-process dev chain."""

from __future__ import annotations

import pytest

from adapters.chain.devchain.deploy import MAX_UINT256, RAY, contract_at
from adapters.chain.devchain.oracle import advance_time
from tests.integration.devchain.chain_calls import (
    REVERTED,
    balance,
    send,
    signing_as_treasury,
    token,
)
from tests.integration.devchain.fixtures import DevChain

SECONDS_PER_YEAR = 31_536_000


@pytest.mark.parametrize(
    ("symbol", "decimals"),
    [("USDC", 6), ("USDT", 6), ("DAI", 18), ("WETH", 18), ("WBTC", 8)],
)
async def test_tokens_have_the_real_decimals_and_the_treasury_is_funded(
    devchain: DevChain, symbol: str, decimals: int
) -> None:
    erc20 = token(devchain, symbol)
    assert await erc20.functions.decimals().call() == decimals
    assert await erc20.functions.symbol().call() == symbol
    assert await balance(devchain, symbol) > 0
    assert await devchain.w3.eth.get_balance(devchain.treasury_address) == 100 * 10**18


async def test_transfer_from_needs_an_allowance_and_spends_it(devchain: DevChain) -> None:
    w3 = signing_as_treasury(devchain)
    spender = (await w3.eth.accounts)[3]
    usdc = token(devchain, "USDC")
    with pytest.raises(REVERTED, match="insufficient allowance"):
        await usdc.functions.transferFrom(devchain.treasury_address, spender, 1).transact(
            {"from": spender}
        )
    await send(w3, usdc.functions.approve(spender, 5_000_000), devchain.treasury_address)
    await send(
        w3, usdc.functions.transferFrom(devchain.treasury_address, spender, 2_000_000), spender
    )
    assert await usdc.functions.allowance(devchain.treasury_address, spender).call() == 3_000_000
    assert await balance(devchain, "USDC", spender) == 2_000_000


async def test_only_the_owner_mints(devchain: DevChain) -> None:
    stranger = (await devchain.w3.eth.accounts)[4]
    with pytest.raises(REVERTED, match="may not mint"):
        await token(devchain, "USDC").functions.mint(stranger, 1).transact({"from": stranger})


async def test_oracle_holds_usd_prices_in_1e18(devchain: DevChain) -> None:
    oracle = contract_at(devchain.w3, "PriceOracle", devchain.book.oracle)
    assert await oracle.functions.price(devchain.book.token("USDC")).call() == 10**18
    assert await oracle.functions.price(devchain.book.token("WETH")).call() == 3500 * 10**18


async def test_reserve_data_has_the_aave_v3_legacy_layout(devchain: DevChain) -> None:
    pool = contract_at(devchain.w3, "AavePool", devchain.book.aave_pool)
    data = await pool.functions.getReserveData(devchain.book.token("USDC")).call()
    assert len(data) == 15
    assert data[2] == 45 * RAY // 1000  # currentLiquidityRate, 4.5 % APR in ray
    assert data[8] == devchain.book.a_tokens["USDC"]  # aTokenAddress
    assert (data[0][0] >> 48) & 0xFF == 6  # decimals in the configuration bitmap


async def test_supplied_usdc_accrues_interest_with_block_time(devchain: DevChain) -> None:
    w3 = signing_as_treasury(devchain)
    me = devchain.treasury_address
    usdc = token(devchain, "USDC")
    pool = contract_at(w3, "AavePool", devchain.book.aave_pool)
    a_usdc = contract_at(w3, "AToken", devchain.book.a_tokens["USDC"])
    amount = 100_000 * 10**6
    before = await balance(devchain, "USDC")

    await send(w3, usdc.functions.approve(pool.address, amount), me)
    await send(w3, pool.functions.supply(usdc.address, amount, me, 0), me)
    assert await a_usdc.functions.balanceOf(me).call() == amount

    await advance_time(w3, SECONDS_PER_YEAR)
    grown = await a_usdc.functions.balanceOf(me).call()
    # One year of linear interest at 4.5 % APR, give or take the seconds of mining.
    assert 104_499 * 10**6 <= grown <= 104_501 * 10**6

    await send(w3, pool.functions.withdraw(usdc.address, MAX_UINT256, me), me)
    assert await a_usdc.functions.balanceOf(me).call() == 0
    assert await balance(devchain, "USDC") - before >= 4_499 * 10**6


async def test_withdraw_of_more_than_the_balance_reverts_with_a_reason(devchain: DevChain) -> None:
    w3 = signing_as_treasury(devchain)
    me = devchain.treasury_address
    usdc = token(devchain, "USDC")
    pool = contract_at(w3, "AavePool", devchain.book.aave_pool)
    await send(w3, usdc.functions.approve(pool.address, 10**6), me)
    await send(w3, pool.functions.supply(usdc.address, 10**6, me, 0), me)
    with pytest.raises(REVERTED, match="not enough available user balance"):
        await pool.functions.withdraw(usdc.address, 2 * 10**6, me).transact({"from": me})


async def test_supply_without_allowance_reverts_with_a_reason(devchain: DevChain) -> None:
    w3 = signing_as_treasury(devchain)
    me = devchain.treasury_address
    pool = contract_at(w3, "AavePool", devchain.book.aave_pool)
    with pytest.raises(REVERTED, match="insufficient allowance"):
        await pool.functions.supply(devchain.book.token("USDC"), 10**6, me, 0).transact(
            {"from": me}
        )
    with pytest.raises(REVERTED, match="insufficient balance"):
        await pool.functions.supply(devchain.book.token("USDC"), 10**15, me, 0).transact(
            {"from": me}
        )
