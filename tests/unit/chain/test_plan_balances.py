"""A plan sent as one transaction may spend what its earlier moves bring in: while a plan is
built under `counting`, `require_balance` counts the balance on chain plus the guaranteed
minimum of earlier moves' balance checks, less what earlier moves spend."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.chain import tokens
from adapters.chain.tokens import PlanBalances, counting, require_balance
from application.ports.chain import (
    BalanceCheck,
    InsufficientBalance,
    StepKind,
    TransactionRequest,
)

SAFE = "0x" + "5a" * 20
USDC = "0x" + "0c" * 20
WBTC = "0x" + "0b" * 20


def _swap(minimum: int) -> TransactionRequest:
    """A sale of WBTC paying the Safe at least `minimum` USDC."""
    return TransactionRequest(
        chain_id=1,
        to="0x" + "11" * 20,
        data="0x",
        kind=StepKind.SWAP,
        description="swap",
        checks=(
            BalanceCheck(token=USDC, holder=SAFE.upper(), min_delta=minimum),
            BalanceCheck(token=WBTC, holder=SAFE, min_delta=-5, max_delta=-5),
            BalanceCheck(token=USDC, holder="0x" + "99" * 20, min_delta=10**12),  # not ours
        ),
    )


@pytest.fixture
def on_chain(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    balances = {USDC: 100, WBTC: 5}

    async def balance_of(w3: Any, token: str, owner: str) -> int:
        return balances[token]

    monkeypatch.setattr(tokens, "balance_of", balance_of)
    return balances


async def test_a_deposit_may_spend_what_an_earlier_sale_is_sure_to_bring(
    on_chain: dict[str, int],
) -> None:
    plan = PlanBalances()
    with pytest.raises(InsufficientBalance):  # outside a plan: only what is on chain counts
        await require_balance(None, USDC, SAFE, 150, "USDC")  # type: ignore[arg-type]
    with counting(plan):
        await require_balance(None, WBTC, SAFE, 5, "WBTC")  # type: ignore[arg-type]
    plan.credit([_swap(minimum=80)], SAFE)
    with counting(plan):
        await require_balance(None, USDC, SAFE, 150, "USDC")  # type: ignore[arg-type]
        # 100 on chain + 80 sure to come - 150 spent: 30 left, not 31.
        with pytest.raises(InsufficientBalance):
            await require_balance(None, USDC, SAFE, 31, "USDC")  # type: ignore[arg-type]
        with pytest.raises(InsufficientBalance):  # the WBTC is sold already
            await require_balance(None, WBTC, SAFE, 1, "WBTC")  # type: ignore[arg-type]
        await require_balance(None, USDC, SAFE, 30, "USDC")  # type: ignore[arg-type]
    plan.clear()  # the next plan starts from the chain
    with counting(plan), pytest.raises(InsufficientBalance):
        await require_balance(None, USDC, SAFE, 101, "USDC")  # type: ignore[arg-type]
