"""EIP-1559 fee arithmetic, in wei per gas: the tip, the gas cap, replacements, cancellations.

Pure functions: the node's fee history comes in as numbers, fees go out as `FeeQuote`s. A fee
that the gas cap forbids raises `NoFeeUnderCap` (or `GasPriceAboveCap` for a first send), and
nothing is signed.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from decimal import Decimal

from application.ports.chain import FeeQuote, GasPriceAboveCap

GWEI = 10**9
WEI_PER_ETH = 10**18


class NoFeeUnderCap(ValueError):
    """No fee under the gas cap would get the transaction mined; the message says why."""


def tip_from_rewards(rewards: Sequence[int]) -> int | None:
    """The tip: the median of the recent blocks' reward percentile; None without history."""
    if not rewards:
        return None
    return int(statistics.median(rewards))


def next_block_fees(base_fee: int, tip: int) -> FeeQuote:
    """Fees for the next block: the max fee survives two full blocks of base-fee rises."""
    return FeeQuote(base_fee=base_fee, max_priority_fee=tip, max_fee=2 * base_fee + tip)


def capped_fees(quote: FeeQuote, cap: int) -> FeeQuote:
    """The quote with the tip and the max fee held at the gas cap.

    Raises:
        GasPriceAboveCap: the next base fee is itself above the cap.
    """
    if quote.base_fee > cap:
        raise GasPriceAboveCap(quote.base_fee, cap)
    priority = min(quote.max_priority_fee, cap - quote.base_fee)
    max_fee = min(cap, 2 * quote.base_fee + priority)
    return FeeQuote(base_fee=quote.base_fee, max_priority_fee=priority, max_fee=max_fee)


def bumped(fee: int, bump: Decimal) -> int:
    """`fee` raised by the fraction `bump`, rounded up (nodes refuse a replacement a wei short)."""
    return math.ceil(Decimal(fee) * (1 + bump))


def replacement_fees(
    max_fee: int, max_priority_fee: int, quote: FeeQuote, *, bump: Decimal, cap: int
) -> FeeQuote:
    """Fees for a same-nonce replacement of a transaction priced at `max_fee` and
    `max_priority_fee`: each at least `bump` dearer and at least what `quote` asks, the max
    fee held at the cap.

    Raises:
        NoFeeUnderCap: the cap leaves no room for the bump, or the next base fee is above it.
    """
    min_priority = bumped(max_priority_fee, bump)
    min_fee = bumped(max_fee, bump)
    priority = max(min_priority, quote.max_priority_fee, 1)
    new_max_fee = min(max(min_fee, 2 * quote.base_fee + priority), cap)
    priority = min(priority, new_max_fee)
    if new_max_fee < min_fee or priority < min_priority:
        raise NoFeeUnderCap(
            f"a replacement {bump:.1%} dearer would exceed the gas cap of {cap / GWEI:.2f} gwei"
        )
    if new_max_fee <= quote.base_fee:
        raise NoFeeUnderCap(
            f"the next base fee of {quote.base_fee / GWEI:.2f} gwei is above the gas cap "
            f"of {cap / GWEI:.2f} gwei, so no replacement could be mined"
        )
    return FeeQuote(base_fee=quote.base_fee, max_priority_fee=priority, max_fee=new_max_fee)


def cancellation_fees(
    quote: FeeQuote, *, cap: int, least_max_fee: int = 1, least_priority: int = 1
) -> FeeQuote:
    """Fees for a same-nonce no-op: what `quote` asks, at least the given floors (the bumped
    fees of a transaction the node holds in its pool), the max fee held at the cap.

    Raises:
        NoFeeUnderCap: the floors are above the cap, or the next base fee is.
    """
    priority = max(quote.max_priority_fee, least_priority)
    max_fee = max(min(2 * quote.base_fee + priority, cap), least_max_fee)
    priority = min(priority, max_fee)
    if max_fee > cap or max_fee <= quote.base_fee:
        raise NoFeeUnderCap(
            f"would need more than the gas cap of {cap / GWEI:.2f} gwei "
            f"(next base fee {quote.base_fee / GWEI:.2f} gwei)"
        )
    return FeeQuote(base_fee=quote.base_fee, max_priority_fee=priority, max_fee=max_fee)


def gas_limit(estimate: int, margin: Decimal) -> int:
    """The gas limit to sign: the estimate plus a margin, rounded up."""
    return math.ceil(Decimal(estimate) * (1 + margin))


def gas_cost_usd(gas: int, price_wei: int, eth_usd: Decimal) -> Decimal:
    """What `gas` units cost in USD at `price_wei` per unit and ETH at `eth_usd`."""
    return Decimal(gas * price_wei) / Decimal(WEI_PER_ETH) * eth_usd
