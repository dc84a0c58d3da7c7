"""A plan's calls as one Safe transaction through the agent's scope: all or nothing, simulated
first, journaled, executed at most once. In-process and on anvil."""

from __future__ import annotations

from typing import Any

import pytest
from eth.vm.forks.frontier.state import FrontierState
from eth_account import Account

from adapters.chain.devchain.deploy import MAX_UINT256, contract_at
from adapters.chain.journal import InMemoryStepJournal
from adapters.chain.keystore import KeystoreSigner
from adapters.chain.safe.batch import RolesBatchSender, inner_calls_of
from application.ports.chain import SimulationFailed, StepKind, TransactionRequest
from tests.integration.devchain.fixtures import DevChain
from tests.integration.safe.scope import AGENT_KEY, STRANGER, ScopedSafe, scoped_safe

pytestmark = pytest.mark.slow(seconds=150)
USDC = 10**6
MOST_EXECUTIONS = 5
"""The call, the gas estimate (two or three runs: the batch's calls are nested two deep), the
transaction itself; py-evm's binary search alone would be about thirteen, and simulating again
at send another three or more."""


def _request(chain_id: int, contract: Any, name: str, args: list[Any]) -> TransactionRequest:
    return TransactionRequest(
        chain_id=chain_id,
        to=contract.address,
        data=contract.encode_abi(name, args),
        kind=StepKind.DEPOSIT,
        description=name,
    )


def _sender(scoped: ScopedSafe, journal: InMemoryStepJournal) -> RolesBatchSender:
    return RolesBatchSender(
        scoped.chain.w3,
        roles=scoped.roles,
        multi_send_call_only=scoped.contracts.multi_send_call_only,
        signer=KeystoreSigner(Account.from_key(AGENT_KEY)),
        journal=journal,
    )


async def _batch_all_or_nothing(chain: DevChain, executions: list[int] | None = None) -> None:
    """`executions`, in process: counts the EVM's executions; a batch simulated then sent (the
    call, the gas estimate, the transaction) may execute at most `MOST_EXECUTIONS` times."""
    scoped = await scoped_safe(chain)
    w3, book, safe = chain.w3, chain.book, scoped.safe
    chain_id = await w3.eth.chain_id
    usdc = contract_at(w3, "ERC20", book.token("USDC"))
    dai = contract_at(w3, "ERC20", book.token("DAI"))
    pool = contract_at(w3, "AavePool", book.aave_pool)
    curve = contract_at(w3, "CurvePool", book.curve_pool)
    a_usdc = contract_at(w3, "AToken", book.a_tokens["USDC"])
    journal = InMemoryStepJournal()
    sender = _sender(scoped, journal)
    start_usdc = await usdc.functions.balanceOf(safe).call()

    plan = [
        _request(chain_id, usdc, "approve", [pool.address, 20_000 * USDC]),
        _request(chain_id, pool, "supply", [usdc.address, 20_000 * USDC, safe, 0]),
        _request(chain_id, dai, "approve", [curve.address, 500 * 10**18]),
        _request(chain_id, curve, "add_liquidity", [[500 * 10**18, 0, 0], 0]),
    ]
    # One call outside the scope makes the whole batch fail its simulation: nothing is sent.
    with pytest.raises(SimulationFailed):
        await sender.send([*plan, _request(chain_id, usdc, "transfer", [STRANGER, 1])], "bad")
    assert await journal.attempts("bad") == ()
    # An inner call that reverts (supplying more than the Safe holds) fails the whole batch.
    too_much = [
        plan[0],
        _request(chain_id, pool, "supply", [usdc.address, 10**12 * USDC, safe, 0]),
    ]
    with pytest.raises(SimulationFailed):
        await sender.send(too_much, "too-much")
    assert await usdc.functions.allowance(safe, pool.address).call() == 0

    before = list(executions or [])
    # As the engine does: simulate, then send (which needs no second simulation of the same
    # batch on the same block).
    assert (await sender.simulate(plan)).success
    receipt = await sender.send(plan, "plan-1")
    assert receipt.success
    if executions is not None:
        assert executions[0] - before[0] <= MOST_EXECUTIONS
    assert await usdc.functions.balanceOf(safe).call() == start_usdc - 20_000 * USDC
    assert await a_usdc.functions.balanceOf(safe).call() >= 20_000 * USDC - 1
    assert await contract_at(w3, "ERC20", book.curve_lp).functions.balanceOf(safe).call() > 0
    # The journal holds the one signed transaction; its inner calls read back in order.
    (attempt,) = await journal.attempts("plan-1")
    inner = inner_calls_of(attempt.raw_transaction)
    assert [call.to.lower() for call in inner] == [r.to.lower() for r in plan]
    assert ["0x" + call.data.hex() for call in inner] == [r.data for r in plan]
    # Sent again (a retry after a restart), the batch is not executed a second time.
    again = await _sender(scoped, journal).send(plan, "plan-1")
    assert again == receipt
    assert await usdc.functions.balanceOf(safe).call() == start_usdc - 20_000 * USDC

    # The withdrawal back to the Safe goes as a batch too.
    back = await sender.send(
        [_request(chain_id, pool, "withdraw", [usdc.address, MAX_UINT256, safe])], "plan-2"
    )
    assert back.success
    assert await usdc.functions.balanceOf(safe).call() >= start_usdc


async def test_a_plan_is_one_all_or_nothing_safe_transaction_in_process(
    devchain: DevChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    executions = [0]
    original = FrontierState.apply_transaction

    def counting(self: FrontierState, transaction: Any) -> Any:
        executions[0] += 1
        return original(self, transaction)

    monkeypatch.setattr(FrontierState, "apply_transaction", counting)
    await _batch_all_or_nothing(devchain, executions)


@pytest.mark.anvil
async def test_a_plan_is_one_all_or_nothing_safe_transaction_on_anvil(
    anvil_devchain: DevChain,
) -> None:
    await _batch_all_or_nothing(anvil_devchain)


class _CrashAfterJournaling(InMemoryStepJournal):
    """Dies (raises) right after the signed batch is journaled, before it is broadcast."""

    async def record_attempt(self, attempt: Any) -> None:
        await super().record_attempt(attempt)
        raise KeyboardInterrupt("killed between signing and broadcast")


async def _at_most_once_across_crashes(chain: DevChain) -> None:
    scoped = await scoped_safe(chain)
    w3, book, safe = chain.w3, chain.book, scoped.safe
    chain_id = await w3.eth.chain_id
    usdc = contract_at(w3, "ERC20", book.token("USDC"))
    pool = contract_at(w3, "AavePool", book.aave_pool)
    start = await usdc.functions.balanceOf(safe).call()
    plan = [
        _request(chain_id, usdc, "approve", [pool.address, 5_000 * USDC]),
        _request(chain_id, pool, "supply", [usdc.address, 5_000 * USDC, safe, 0]),
    ]
    crashing = _CrashAfterJournaling()
    with pytest.raises(KeyboardInterrupt):
        await _sender(scoped, crashing).send(plan, "plan-crash")
    assert await usdc.functions.balanceOf(safe).call() == start  # signed, never broadcast
    # The restarted service finds the journaled transaction and broadcasts that one.
    journal = InMemoryStepJournal()
    journal._attempts = crashing._attempts  # the same durable records
    receipt = await _sender(scoped, journal).send(plan, "plan-crash")
    assert receipt.success
    (attempt,) = await journal.attempts("plan-crash")
    assert receipt.tx_hash == attempt.tx_hash
    # Killed after inclusion but before the outcome was written: found mined, not resent.
    journal._outcomes.clear()
    again = await _sender(scoped, journal).send(plan, "plan-crash")
    assert again.tx_hash == receipt.tx_hash
    assert again.block_number == receipt.block_number
    assert await usdc.functions.balanceOf(safe).call() == start - 5_000 * USDC


@pytest.mark.anvil
async def test_a_batch_killed_between_signing_and_inclusion_executes_once_on_anvil(
    anvil_devchain: DevChain,
) -> None:
    await _at_most_once_across_crashes(anvil_devchain)
