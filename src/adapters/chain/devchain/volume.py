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
from web3.logs import DISCARD
from web3.types import TxReceipt

from adapters.chain.devchain.address_book import AddressBook
from adapters.chain.devchain.deploy import (
    DAY,
    MAX_UINT256,
    DevChainConfig,
    DevChainDeploymentFailed,
    DevChainUnreachable,
    _Sender,
    contract_at,
)
from adapters.chain.multicall3 import ViewCall, batch_reader
from application.ports.chain import ProtocolUnavailable, RpcUnavailable

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
    sender = _Sender(w3, w3.to_checksum_address(book.deployer), None)
    trader = sender.sender
    # Every read a tick needs in one eth_call, from one block.
    pool_dai, pool_usdc, dai_allowed, usdc_allowed, held = await _read(
        w3,
        pool.functions.balances(DAI),
        pool.functions.balances(USDC),
        dai.functions.allowance(trader, pool.address),
        usdc.functions.allowance(trader, pool.address),
        dai.functions.balanceOf(trader),
    )
    dai_balance = Decimal(pool_dai) / dai_units
    usdc_balance = Decimal(pool_usdc) / usdc_units
    wanted = (dai_balance + usdc_balance) * config.curve_daily_volume_share * seconds / DAY
    per_swap = min(wanted / 2, min(dai_balance, usdc_balance) * MAX_SWAP_SHARE)
    if per_swap <= 0:
        return Decimal(0)
    rounds = min(MAX_ROUNDS, int((wanted / 2 / per_swap).to_integral_value(rounding=ROUND_UP)))
    for token, allowed in ((dai, dai_allowed), (usdc, usdc_allowed)):
        if allowed < MAX_UINT256 // 2:  # approved once for good: two swaps a tick
            await sender.send(
                "approve the 3pool", token.functions.approve(pool.address, MAX_UINT256)
            )
    traded = Decimal(0)
    for _ in range(rounds):
        dx = int((per_swap * dai_units).to_integral_value(rounding=ROUND_DOWN))
        if held < dx:  # the round trips lose the fees: top up, with room for the next ticks
            await sender.send("mint DAI for 3pool volume", dai.functions.mint(trader, 10 * dx))
            held += 10 * dx
        # What each swap paid is in its receipt (the pool's TokenExchange event): the
        # trader's balances need no reading back.
        dy = _bought(
            pool,
            await sender.send(
                "swap DAI for USDC in the 3pool", pool.functions.exchange(DAI, USDC, dx, 0)
            ),
        )
        back = _bought(
            pool,
            await sender.send(
                "swap USDC for DAI in the 3pool", pool.functions.exchange(USDC, DAI, dy, 0)
            ),
        )
        held += back - dx
        traded += Decimal(dx) / dai_units + Decimal(dy) / usdc_units
    return traded


async def _read(w3: AsyncWeb3[Any], *functions: Any) -> list[int]:
    """The integer answers of `functions`, read in one batch.

    Raises:
        DevChainUnreachable: the node did not answer.
        DevChainDeploymentFailed: a read reverted.
    """
    try:
        answers = await batch_reader(w3).read([ViewCall("3pool volume", f) for f in functions])
        return [int(answer.get()) for answer in answers]
    except RpcUnavailable as exc:
        raise DevChainUnreachable(str(exc)) from exc
    except ProtocolUnavailable as exc:
        raise DevChainDeploymentFailed("read the 3pool for volume", str(exc)) from exc


def _bought(pool: Any, receipt: TxReceipt) -> int:
    """What the swap in `receipt` paid out (its TokenExchange event's `tokens_bought`).

    Raises:
        DevChainDeploymentFailed: the receipt holds no exchange.
    """
    events = pool.events.TokenExchange().process_receipt(receipt, errors=DISCARD)
    if len(events) != 1:
        raise DevChainDeploymentFailed("swap in the 3pool", "no TokenExchange in the receipt")
    return int(events[0]["args"]["tokens_bought"])


__all__ = ["trade_curve_volume"]
