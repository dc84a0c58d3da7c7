"""Simulated trading volume through the dev-chain 3pool, so it earns fees as the real one does.

Paper mode has no other traders: without them the pool's virtual price never moves and its
base APY is zero. After each advance of chain time, `trade_curve_volume` swaps DAI for USDC and
back through the pool, a volume of `curve_daily_volume_share` of the pool's balances per day
elapsed. The pool keeps its fee on every swap, which raises the virtual price: the base APY
the fake Curve API reports comes from that growth, as Curve's own API computes it. The
deployer (the dev tokens' minter) is the trader; its coins are minted for the purpose.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any

from web3 import AsyncWeb3

from adapters.chain.devchain.address_book import AddressBook
from adapters.chain.devchain.deploy import DAY, MAX_UINT256, DevChainConfig, _Sender, contract_at

# One swap moves at most this share of the smaller balance, so the pool stays balanced.
MAX_SWAP_SHARE = Decimal("0.05")
MAX_ROUNDS = 20
DAI, USDC = 0, 1  # 3pool coin indexes


async def trade_curve_volume(
    w3: AsyncWeb3[Any], book: AddressBook, seconds: int, config: DevChainConfig
) -> Decimal:
    """Swap DAI -> USDC -> DAI through the dev pool for `seconds` worth of volume; return the
    USD volume traded (less than asked when a long gap would need more than `MAX_ROUNDS`).

    Raises:
        DevChainDeploymentFailed: a swap failed.
    """
    if seconds <= 0 or config.curve_daily_volume_share <= 0:
        return Decimal(0)
    pool = contract_at(w3, "CurvePool", book.curve_pool)
    dai = contract_at(w3, "ERC20", book.token("DAI"))
    usdc = contract_at(w3, "ERC20", book.token("USDC"))
    dai_units = 10 ** book.decimals["DAI"]
    usdc_units = 10 ** book.decimals["USDC"]
    dai_balance = Decimal(int(await pool.functions.balances(DAI).call())) / dai_units
    usdc_balance = Decimal(int(await pool.functions.balances(USDC).call())) / usdc_units
    wanted = (dai_balance + usdc_balance) * config.curve_daily_volume_share * seconds / DAY
    per_swap = min(wanted / 2, min(dai_balance, usdc_balance) * MAX_SWAP_SHARE)
    if per_swap <= 0:
        return Decimal(0)
    rounds = min(MAX_ROUNDS, int((wanted / 2 / per_swap).to_integral_value(rounding=ROUND_UP)))
    sender = _Sender(w3, w3.to_checksum_address(book.deployer), None)
    trader = sender.sender
    for token in (dai, usdc):  # approved once for good: two swaps a tick, not five transactions
        if int(await token.functions.allowance(trader, pool.address).call()) < MAX_UINT256 // 2:
            await sender.send(
                "approve the 3pool", token.functions.approve(pool.address, MAX_UINT256)
            )
    traded = Decimal(0)
    for _ in range(rounds):
        dx = int((per_swap * dai_units).to_integral_value(rounding=ROUND_DOWN))
        held = int(await dai.functions.balanceOf(trader).call())
        if held < dx:  # the round trips lose the fees: top up, with room for the next ticks
            await sender.send("mint DAI for 3pool volume", dai.functions.mint(trader, 10 * dx))
        before = int(await usdc.functions.balanceOf(trader).call())
        await sender.send(
            "swap DAI for USDC in the 3pool", pool.functions.exchange(DAI, USDC, dx, 0)
        )
        dy = int(await usdc.functions.balanceOf(trader).call()) - before
        await sender.send(
            "swap USDC for DAI in the 3pool", pool.functions.exchange(USDC, DAI, dy, 0)
        )
        traded += Decimal(dx) / dai_units + Decimal(dy) / usdc_units
    return traded


__all__ = ["trade_curve_volume"]
