"""Safe custody in paper mode (`TREASURY_CUSTODY=safe`): the treasury's Safe on the dev chain.

At start-up the paper service creates (or, on a node that outlived it, finds again) a Safe owned
by three paper owners, with the Zodiac Roles Modifier scoping the service's key (the agent) to
the adapters' calls (`adapters/chain/safe/devsetup.py`). The Safe holds the money: the capital is
minted to it, every balance and position is read for its address, and each plan is sent as one
scoped MultiSendCallOnly batch (`RolesBatchSender`). The agent holds only the gas ETH.

What a restart needs is kept in `<data dir>/devchain/paper_safe.json` (addresses) and the owners'
encrypted keys beside it.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from web3 import AsyncWeb3

from adapters.chain.devchain.address_book import AddressBook
from adapters.chain.keystore import KeystoreSigner
from adapters.chain.safe.batch import RolesBatchSender
from adapters.chain.safe.deploy import SafeDeploymentFailed
from adapters.chain.safe.devsetup import ScopedSafe, deploy_scoped_safe, paper_owner_keys
from adapters.chain.safe.owner_proposals import SafeOwnerProposals
from adapters.chain.safe.permissions import dev_chain_permissions
from adapters.chain.safe.tx_service import SafeTransactionServiceClient
from application.ports.chain import StepJournal
from application.ports.faults import FaultPoints

log = logging.getLogger(__name__)

SAFE_RECORD = "paper_safe.json"
PAPER_OWNERS = 3


async def open_paper_safe(
    w3: AsyncWeb3[Any],
    book: AddressBook,
    *,
    directory: Path,
    fresh: bool,
    agent: str,
    threshold: int,
    funding: Mapping[str, Decimal],
) -> ScopedSafe:
    """The paper treasury's scoped Safe: the recorded one when the chain still holds it,
    else a new one funded with `funding` (its owners: the paper owners' keys).

    Raises:
        SafeDeploymentFailed: setting up the Safe failed, or the threshold is above the owners.
    """
    record = directory / SAFE_RECORD
    if not fresh and record.exists():
        try:
            data = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SafeDeploymentFailed(f"read {record}", type(exc).__name__) from None
        scoped = ScopedSafe.from_json(data, dev_chain_permissions(book))
        if scoped.agent.lower() == agent.lower() and await w3.eth.get_code(
            w3.to_checksum_address(scoped.safe)
        ):
            log.info("paper Safe found again", extra={"safe": scoped.safe})
            return scoped
    if threshold > PAPER_OWNERS:
        raise SafeDeploymentFailed(
            "create the paper Safe",
            f"TREASURY_SAFE_THRESHOLD is {threshold}; paper mode has {PAPER_OWNERS} owners",
        )
    owner_keys = paper_owner_keys(directory, PAPER_OWNERS)
    scoped = await deploy_scoped_safe(
        w3,
        book,
        owner_keys=owner_keys,
        threshold=threshold,
        agent=agent,
        funding={symbol: amount for symbol, amount in funding.items() if amount > 0},
        agent_eth=Decimal(0),
    )
    scoped.save(record)
    log.info(
        "paper Safe created",
        extra={"safe": scoped.safe, "threshold": threshold, "roles": scoped.roles.roles},
    )
    return scoped


def batch_sender(
    w3: AsyncWeb3[Any],
    scoped: ScopedSafe,
    *,
    signer: KeystoreSigner,
    journal: StepJournal,
    receipt_timeout_seconds: float,
    faults: FaultPoints,
) -> RolesBatchSender:
    """The sender of whole plans through the Safe's Roles scope, signed by the agent."""
    return RolesBatchSender(
        w3,
        roles=scoped.roles,
        multi_send_call_only=scoped.contracts.multi_send_call_only,
        signer=signer,
        journal=journal,
        safe=scoped.safe,
        receipt_timeout_seconds=receipt_timeout_seconds,
        faults=faults,
    )


def owner_proposals(
    w3: AsyncWeb3[Any], scoped: ScopedSafe, *, chain_id: int, scope: RolesBatchSender
) -> SafeOwnerProposals:
    """The owners' proposals on the paper Safe; the agent submits what they signed, sending
    it the way `scope` sends its scoped batches."""
    return SafeOwnerProposals(w3, chain_id=chain_id, safe=scoped.safe, scope=scope)


@contextlib.asynccontextmanager
async def transaction_service(
    url: str | None, *, timeout_s: float, api_key: str | None
) -> AsyncIterator[SafeTransactionServiceClient | None]:
    """The Safe Transaction Service client when `TREASURY_SAFE_TX_SERVICE_URL` is set (its own
    HTTP connection pool, closed on exit), else None."""
    if url is None:
        yield None
        return
    async with httpx.AsyncClient(follow_redirects=False) as client:
        yield SafeTransactionServiceClient(
            client, base_url=url, timeout_s=timeout_s, api_key=api_key
        )
