"""The agent's scope, enforced by the chain: every refusal is a transaction the agent's key
signs and the chain reverts; every allowed call goes through. In-process and on anvil."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.chain.devchain.deploy import MAX_UINT256, contract_at
from adapters.chain.safe.deploy import safe_contract
from adapters.chain.safe.roles import Status, exec_with_role
from tests.integration.devchain.fixtures import DevChain
from tests.integration.safe.scope import (
    AGENT,
    STRANGER,
    ScopedSafe,
    agent_sends,
    scoped_safe,
    simulated_refusal,
)

pytestmark = pytest.mark.slow(seconds=120)
USDC = 10**6


def _data(contract: Any, name: str, args: list[Any]) -> bytes:
    return bytes.fromhex(contract.encode_abi(name, args)[2:])


async def _refused(scoped: ScopedSafe, to: str, data: bytes, status: Status) -> None:
    w3 = scoped.chain.w3
    call = exec_with_role(w3, scoped.roles, to=to, data=data)
    assert await simulated_refusal(call) == status
    outcome = await agent_sends(w3, call)
    if isinstance(outcome, BaseException):  # the in-process EVM refuses at inclusion
        assert "revert" in str(outcome).lower()
    else:
        assert outcome["status"] == 0, "the chain accepted a call outside the agent's scope"


async def _scope_holds(chain: DevChain) -> None:
    scoped = await scoped_safe(chain)
    w3 = chain.w3
    book = chain.book
    usdc = contract_at(w3, "ERC20", book.token("USDC"))
    pool = contract_at(w3, "AavePool", book.aave_pool)
    safe = scoped.safe
    before = await usdc.functions.balanceOf(safe).call()

    # Transfer out of the Safe: transfer is no function the adapters call.
    await _refused(
        scoped,
        usdc.address,
        _data(usdc, "transfer", [STRANGER, 1_000 * USDC]),
        Status.FUNCTION_NOT_ALLOWED,
    )
    # Approve an unknown spender.
    await _refused(
        scoped,
        usdc.address,
        _data(usdc, "approve", [STRANGER, MAX_UINT256]),
        Status.OR_VIOLATION,
    )
    # A protocol call naming a foreign beneficiary (Aave onBehalfOf).
    await _refused(
        scoped,
        pool.address,
        _data(pool, "supply", [usdc.address, 1_000 * USDC, STRANGER, 0]),
        Status.PARAMETER_NOT_ALLOWED,
    )
    # ... and a foreign receiver of a withdrawal.
    await _refused(
        scoped,
        pool.address,
        _data(pool, "withdraw", [usdc.address, MAX_UINT256, STRANGER]),
        Status.PARAMETER_NOT_ALLOWED,
    )
    # The Safe's owner management.
    safe_c = safe_contract(w3, safe)
    await _refused(
        scoped,
        safe,
        _data(safe_c, "addOwnerWithThreshold", [AGENT, 1]),
        Status.TARGET_ADDRESS_NOT_ALLOWED,
    )
    assert await usdc.functions.balanceOf(safe).call() == before
    assert AGENT not in await safe_c.functions.getOwners().call()

    # The allowed calls go through: approve the Aave pool, supply for the Safe, withdraw to it.
    a_usdc = contract_at(w3, "AToken", book.a_tokens["USDC"])
    for to, data in (
        (usdc.address, _data(usdc, "approve", [pool.address, 10_000 * USDC])),
        (pool.address, _data(pool, "supply", [usdc.address, 10_000 * USDC, safe, 0])),
    ):
        receipt = await agent_sends(w3, exec_with_role(w3, scoped.roles, to=to, data=data))
        assert not isinstance(receipt, BaseException), receipt
        assert receipt["status"] == 1
    assert await usdc.functions.balanceOf(safe).call() == before - 10_000 * USDC
    assert await a_usdc.functions.balanceOf(safe).call() >= 10_000 * USDC - 1
    receipt = await agent_sends(
        w3,
        exec_with_role(
            w3,
            scoped.roles,
            to=pool.address,
            data=_data(pool, "withdraw", [usdc.address, MAX_UINT256, safe]),
        ),
    )
    assert not isinstance(receipt, BaseException), receipt
    assert receipt["status"] == 1
    assert await usdc.functions.balanceOf(safe).call() >= before


async def test_the_chain_refuses_the_agent_outside_its_scope_in_process(
    devchain: DevChain,
) -> None:
    await _scope_holds(devchain)


@pytest.mark.anvil
async def test_the_chain_refuses_the_agent_outside_its_scope_on_anvil(
    anvil_devchain: DevChain,
) -> None:
    await _scope_holds(anvil_devchain)
