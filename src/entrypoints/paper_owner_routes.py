"""Paper mode under Safe custody: sign the revocation of the agent's role as a paper owner.

Paper mode's Safe has three owners whose keys the service generated and keeps encrypted in
`<data dir>/devchain/` (`adapters.chain.safe.devsetup.paper_owner_keys`), so a drill of the
emergency stop can be carried through without wallets. These routes exist only in paper mode
(`paper_routes` registers them): on a real Safe each owner signs in their own wallet and the
signature is pasted in (`POST /emergency-stop/revocation/signatures`).

The keys never leave the server: the answers carry addresses and the outcome of the signature,
never a key or the passphrase, and nothing here logs them. The signature is made over the
pending revocation's safeTxHash and goes through the same use case as a pasted one (checked
against the Safe's owners, audited with the signer before it counts); the request itself is
audited first as `paper.signed_as_owner` (owner number and address).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from eth_account import Account
from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from pydantic import Field

from adapters.chain.safe.devsetup import OWNERS_FILE, paper_owner_keys
from adapters.chain.safe.transactions import sign_safe_tx_hash
from application.errors import NotFound
from application.ports.persistence import EMERGENCY_STOP
from application.revocation import RevokeAgentRole
from entrypoints.api.auth import Principal, Role
from entrypoints.api.dto import RevocationSignatureOut, StrictIn, dump
from entrypoints.container import Runtime
from entrypoints.wiring.safe import PAPER_OWNERS


class PaperOwnerIn(StrictIn):
    """Body of POST /paper/emergency-stop/revocation/sign-as-owner: which paper owner signs."""

    owner: int = Field(ge=1, le=PAPER_OWNERS)


def _owners_directory(runtime: Runtime) -> Path:
    """Where paper mode keeps its Safe owners' keys; NotFound when there are none (not under
    Safe custody, or the Safe was never created)."""
    directory = runtime.settings.devchain.data_dir / "devchain"
    if runtime.services.revocation is None or not (directory / OWNERS_FILE).exists():
        raise NotFound("paper Safe owners", "under Safe custody in paper mode")
    return directory


def _revocation(runtime: Runtime) -> RevokeAgentRole:
    revocation = runtime.services.revocation
    if revocation is None:
        raise NotFound("revocation of the agent's role", "under Safe custody")
    return revocation


def paper_owner_routes(runtime: Runtime) -> list[Any]:
    """The paper owners' route handlers, bound to this runtime."""
    addresses: list[str] = []

    async def owner_addresses() -> list[str]:
        """The paper owners' addresses, derived once (decrypting the keys costs scrypt)."""
        if not addresses:
            keys = await asyncio.to_thread(
                paper_owner_keys, _owners_directory(runtime), PAPER_OWNERS
            )
            addresses.extend(str(Account.from_key(key).address) for key in keys)
        return addresses

    @get(
        "/paper/safe-owners",
        tags=["paper"],
        summary="Paper mode: the paper Safe's owners (addresses; their keys stay on the server)",
    )
    async def safe_owners() -> dict[str, Any]:
        found = await owner_addresses()
        return {
            "owners": [{"owner": n, "address": a} for n, a in enumerate(found, start=1)],
            "paper_only": True,
        }

    @post(
        "/paper/emergency-stop/revocation/sign-as-owner",
        tags=["paper"],
        opt={"role": Role.APPROVER},
        status_code=200,
        summary="Paper mode: sign the pending revocation with a paper owner's key",
    )
    async def sign_as_paper_owner(
        data: JSONBody[PaperOwnerIn], principal: NamedDependency[Principal]
    ) -> dict[str, Any]:
        revocation = _revocation(runtime)
        pending = await revocation.pending()
        directory = _owners_directory(runtime)
        keys = await asyncio.to_thread(paper_owner_keys, directory, PAPER_OWNERS)
        key = keys[data.owner - 1]
        address = str(Account.from_key(key).address)
        signature = sign_safe_tx_hash(bytes.fromhex(pending.proposal.safe_tx_hash[2:]), key)
        del keys, key
        async with runtime.uow() as uow:
            await uow.audit.append(
                principal.name,
                "paper.signed_as_owner",
                "flag",
                EMERGENCY_STOP,
                {
                    "owner": data.owner,
                    "address": address,
                    "safe_tx_hash": pending.proposal.safe_tx_hash,
                },
                at=runtime.clock.now(),
            )
            await uow.commit()
        outcome = await revocation.sign(signature, submitted_by=principal.name, signer=address)
        return dump(RevocationSignatureOut.of(outcome))

    return [safe_owners, sign_as_paper_owner]
