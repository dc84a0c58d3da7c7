"""Gas of one plan: today's per-step sends from the treasury key against one Safe batch.

The plan is a typical rebalance into yield: approve USDC to Aave, supply 20,000 USDC, approve
DAI to the 3pool, add 500 DAI of liquidity. On a fresh in-process dev chain it is sent three
ways and the gas each used is printed: (1) four transactions from an EOA, as the per-step
executor sends them; (2) four transactions the agent sends through the Safe's Roles scope one by
one; (3) one MultiSendCallOnly batch the agent sends through the scope (issue 20's Safe mode).
Gas is deterministic: the machine's load does not change these figures.

    python -m bench safe_gas_bench
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from eth_account import Account
from eth_tester import EthereumTester
from web3 import AsyncWeb3
from web3.middleware import SignAndSendRawMiddlewareBuilder

from adapters.chain.devchain.deploy import contract_at, deploy_devchain, fund_account
from adapters.chain.devchain.node import in_process_web3
from adapters.chain.journal import InMemoryStepJournal
from adapters.chain.keystore import KeystoreSigner
from adapters.chain.safe.batch import RolesBatchSender
from adapters.chain.safe.devsetup import deploy_scoped_safe
from adapters.chain.safe.roles import exec_with_role
from application.ports.chain import StepKind, TransactionRequest

# Throwaway keys (public byte patterns), only ever used on this in-process chain.
OWNER_KEYS = ["0x" + f"{n:02x}" * 32 for n in (0x11, 0x22, 0x33)]
AGENT_KEY = "0x" + "a9" * 32
EOA_KEY = "0x" + "e0" * 32
USDC = 10**6
DAI = 10**18


async def _gas(w3: AsyncWeb3[Any], call: Any, sender: str) -> int:
    tx_hash = await call.transact({"from": sender})
    receipt = await w3.eth.wait_for_transaction_receipt(tx_hash)
    if receipt["status"] != 1:
        raise RuntimeError("a benchmark transaction reverted")
    return int(receipt["gasUsed"])


async def measure() -> dict[str, int]:
    """Gas used by the plan sent per step from an EOA, per step through Roles, and batched."""
    w3 = in_process_web3(EthereumTester())
    book = await deploy_devchain(w3)
    agent = str(Account.from_key(AGENT_KEY).address)
    eoa = str(Account.from_key(EOA_KEY).address)
    funding = {"USDC": Decimal(100_000), "DAI": Decimal(2_000)}
    scoped = await deploy_scoped_safe(
        w3, book, owner_keys=OWNER_KEYS, threshold=2, agent=agent, funding=funding
    )
    await fund_account(w3, book, eoa, {"ETH": Decimal(1), **funding})
    for key in (AGENT_KEY, EOA_KEY):
        w3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(key), layer=0)
    usdc = contract_at(w3, "ERC20", book.token("USDC"))
    dai = contract_at(w3, "ERC20", book.token("DAI"))
    pool = contract_at(w3, "AavePool", book.aave_pool)
    curve = contract_at(w3, "CurvePool", book.curve_pool)

    def plan(owner: str) -> list[tuple[Any, str, list[Any]]]:
        return [
            (usdc, "approve", [pool.address, 20_000 * USDC]),
            (pool, "supply", [usdc.address, 20_000 * USDC, owner, 0]),
            (dai, "approve", [curve.address, 500 * DAI]),
            (curve, "add_liquidity", [[500 * DAI, 0, 0], 0]),
        ]

    per_step_eoa = 0
    for contract, name, args in plan(eoa):
        per_step_eoa += await _gas(w3, getattr(contract.functions, name)(*args), eoa)

    per_step_roles = 0
    for contract, name, args in plan(scoped.safe):
        data = bytes.fromhex(contract.encode_abi(name, args)[2:])
        call = exec_with_role(w3, scoped.roles, to=contract.address, data=data)
        per_step_roles += await _gas(w3, call, agent)

    chain_id = await w3.eth.chain_id
    requests = [
        TransactionRequest(
            chain_id=chain_id,
            to=contract.address,
            data=contract.encode_abi(name, args),
            kind=StepKind.DEPOSIT,
            description=name,
        )
        for contract, name, args in plan(scoped.safe)
    ]
    sender = RolesBatchSender(
        w3,
        roles=scoped.roles,
        multi_send_call_only=scoped.contracts.multi_send_call_only,
        signer=KeystoreSigner(Account.from_key(AGENT_KEY)),
        journal=InMemoryStepJournal(),
    )
    receipt = await sender.send(requests, "bench-plan")
    if not receipt.success:
        raise RuntimeError("the benchmark batch reverted")
    return {
        "per-step, EOA (4 transactions)": per_step_eoa,
        "per-step, agent through Roles (4 transactions)": per_step_roles,
        "one Safe batch, agent through Roles (1 transaction)": receipt.gas_used,
    }


def main() -> int:
    """Print the three figures and the batch's ratio to today's per-step sends."""
    figures = asyncio.run(measure())
    for label, gas in figures.items():
        print(f"   {label:<52} {gas:>9,} gas")
    eoa = figures["per-step, EOA (4 transactions)"]
    batch = figures["one Safe batch, agent through Roles (1 transaction)"]
    print(f"   batch / per-step EOA: {batch / eoa:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
