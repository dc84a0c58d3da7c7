"""The owners' side: a $120K plan signed by 2 of 3 owners executes as one Safe transaction; a
stranger's signature is refused; an expired proposal is cancelled by a no-op at its nonce; the
emergency stop takes the agent's role away."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from web3 import Web3

from adapters.chain.devchain.deploy import contract_at, fund_account
from adapters.chain.safe.deploy import SafeDeploymentFailed, safe_contract
from adapters.chain.safe.owners import (
    SignatureRefused,
    execute_proposal,
    propose_cancel,
    propose_plan,
    propose_stop,
)
from adapters.chain.safe.roles import exec_with_role
from adapters.chain.safe.transactions import sign_safe_tx_hash
from application.ports.chain import StepKind, TransactionRequest
from tests.integration.devchain.fixtures import DevChain
from tests.integration.safe.scope import (
    AGENT,
    REFUSED,
    revert_data,
    scoped_safe,
    simulated_refusal,
)
from tests.integration.safe.test_safe_deploy import OWNER_KEYS

pytestmark = [pytest.mark.slow(seconds=60), pytest.mark.anvil]
USDC = 10**6


def _request(chain_id: int, contract: Any, name: str, args: list[Any]) -> TransactionRequest:
    return TransactionRequest(
        chain_id=chain_id,
        to=contract.address,
        data=contract.encode_abi(name, args),
        kind=StepKind.DEPOSIT,
        description=name,
    )


async def test_owners_sign_a_big_plan_cancel_an_expired_one_and_stop_the_agent_on_anvil(
    anvil_devchain: DevChain,
) -> None:
    chain = anvil_devchain
    scoped = await scoped_safe(chain)
    w3, book, safe = chain.w3, chain.book, scoped.safe
    await fund_account(w3, book, safe, {"USDC": Decimal("50000")})
    chain_id = await w3.eth.chain_id
    usdc = contract_at(w3, "ERC20", book.token("USDC"))
    pool = contract_at(w3, "AavePool", book.aave_pool)
    a_usdc = contract_at(w3, "AToken", book.a_tokens["USDC"])
    submitter = book.deployer  # anyone may submit once the owners have signed
    plan = [
        _request(chain_id, usdc, "approve", [pool.address, 120_000 * USDC]),
        _request(chain_id, pool, "supply", [usdc.address, 120_000 * USDC, safe, 0]),
    ]

    proposal = await propose_plan(w3, safe, scoped.contracts.multi_send_call_only, plan)
    digest = proposal.safe_tx_hash
    on_chain = (
        await safe_contract(w3, safe)
        .functions.getTransactionHash(*proposal.tx.args(), proposal.tx.nonce)
        .call()
    )
    assert digest == bytes(on_chain)
    with pytest.raises(SignatureRefused, match="is not an owner"):
        proposal.add_signature(sign_safe_tx_hash(digest, "0x" + "44" * 32))
    proposal.add_signature(sign_safe_tx_hash(digest, OWNER_KEYS[0]))
    with pytest.raises(SafeDeploymentFailed, match="1 of 2 owners have signed"):
        await execute_proposal(w3, proposal, sender=submitter)
    proposal.add_signature(sign_safe_tx_hash(digest, OWNER_KEYS[2]))
    await execute_proposal(w3, proposal, sender=submitter)
    assert await a_usdc.functions.balanceOf(safe).call() >= 120_000 * USDC - 1

    # A proposal that expires is cancelled by a no-op at its nonce; its signatures are void.
    expired = await propose_plan(w3, safe, scoped.contracts.multi_send_call_only, plan[:1])
    for key in OWNER_KEYS[:2]:
        expired.add_signature(sign_safe_tx_hash(expired.safe_tx_hash, key))
    cancel = await propose_cancel(w3, expired)
    assert cancel.tx.nonce == expired.tx.nonce
    for key in OWNER_KEYS[1:]:
        cancel.add_signature(sign_safe_tx_hash(cancel.safe_tx_hash, key))
    await execute_proposal(w3, cancel, sender=submitter)
    with pytest.raises(SafeDeploymentFailed, match="GS026"):
        await execute_proposal(w3, expired, sender=submitter)

    # Before the stop the agent may approve the pool; after it, nothing.
    approve = exec_with_role(
        w3,
        scoped.roles,
        to=usdc.address,
        data=bytes.fromhex(usdc.encode_abi("approve", [pool.address, 1])[2:]),
    )
    assert await simulated_refusal(approve) == 0
    stop = await propose_stop(w3, safe, scoped.roles, AGENT)
    for key in OWNER_KEYS[:2]:
        stop.add_signature(sign_safe_tx_hash(stop.safe_tx_hash, key))
    await execute_proposal(w3, stop, sender=submitter)
    assert await simulated_refusal(approve) is None  # no scope status: the role itself is gone
    with pytest.raises(REFUSED) as refused:
        await approve.call({"from": AGENT})
    assert revert_data(refused.value)[:4] == bytes(Web3.keccak(text="NoMembership()")[:4])
