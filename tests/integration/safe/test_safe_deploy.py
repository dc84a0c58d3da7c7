"""The Safe v1.4.1 contracts deploy from the vendored artifacts, a Safe is created with owners
and a threshold, funded, and only enough owners' signatures move its money: in-process and on
anvil."""

from __future__ import annotations

from decimal import Decimal

import pytest
from eth_account import Account

from adapters.chain.devchain.deploy import contract_at, fund_account
from adapters.chain.safe.deploy import (
    SafeDeploymentFailed,
    create_safe,
    deploy_safe_contracts,
    safe_info,
)
from adapters.chain.safe.transactions import (
    execute_with_owner_keys,
    next_safe_tx,
    safe_tx_hash,
    sign_safe_tx_hash,
    signer_of,
)
from tests.integration.devchain.fixtures import DevChain

pytestmark = pytest.mark.slow(seconds=40)
USDC = 10**6
# Throwaway keys (a public byte pattern), only ever used on dev chains.
OWNER_KEYS = ["0x" + f"{n:02x}" * 32 for n in (0x11, 0x22, 0x33)]
OWNERS = [str(Account.from_key(k).address) for k in OWNER_KEYS]


async def _safe_round_trip(chain: DevChain) -> None:
    w3 = chain.w3
    deployer = chain.book.deployer
    contracts = await deploy_safe_contracts(w3, deployer=deployer)
    safe = await create_safe(w3, contracts, owners=OWNERS, threshold=2, deployer=deployer)
    info = await safe_info(w3, safe)
    assert info.version == "1.4.1"
    assert sorted(info.owners) == sorted(OWNERS)
    assert info.threshold == 2
    assert info.nonce == 0
    assert info.modules == ()

    await fund_account(w3, chain.book, safe, {"USDC": Decimal("1000"), "ETH": Decimal("1")})
    usdc = contract_at(w3, "ERC20", chain.book.token("USDC"))
    assert await usdc.functions.balanceOf(safe).call() == 1000 * USDC
    assert (await safe_info(w3, safe)).eth_wei == 10**18

    receiver = "0x000000000000000000000000000000000000dEaD"
    data = usdc.encode_abi("transfer", [receiver, 250 * USDC])
    tx = await next_safe_tx(w3, safe, to=usdc.address, data=bytes.fromhex(data[2:]))
    # One owner is below the threshold of two: the Safe refuses (GS020).
    with pytest.raises(SafeDeploymentFailed, match="GS020"):
        await execute_with_owner_keys(
            w3, safe, tx, OWNER_KEYS[:1], sender=deployer, step="transfer"
        )
    # A key that is no owner does not count (GS026).
    stranger = "0x" + "44" * 32
    with pytest.raises(SafeDeploymentFailed, match="GS026"):
        await execute_with_owner_keys(
            w3, safe, tx, [OWNER_KEYS[0], stranger], sender=deployer, step="transfer"
        )
    await execute_with_owner_keys(w3, safe, tx, OWNER_KEYS[1:], sender=deployer, step="transfer")
    assert await usdc.functions.balanceOf(safe).call() == 750 * USDC
    assert await usdc.functions.balanceOf(receiver).call() == 250 * USDC
    assert (await safe_info(w3, safe)).nonce == 1

    chain_id = await w3.eth.chain_id
    digest = safe_tx_hash(chain_id, safe, tx)
    assert signer_of(digest, sign_safe_tx_hash(digest, OWNER_KEYS[2])) == OWNERS[2]


async def test_safe_deploys_creates_funds_and_needs_its_threshold_in_process(
    devchain: DevChain,
) -> None:
    await _safe_round_trip(devchain)


@pytest.mark.anvil
async def test_safe_deploys_creates_funds_and_needs_its_threshold_on_anvil(
    anvil_devchain: DevChain,
) -> None:
    await _safe_round_trip(anvil_devchain)


async def test_create_safe_refuses_a_threshold_above_the_owner_count(devchain: DevChain) -> None:
    contracts = await deploy_safe_contracts(devchain.w3, deployer=devchain.book.deployer)
    with pytest.raises(SafeDeploymentFailed, match="threshold 4 must be between 1 and 3"):
        await create_safe(devchain.w3, contracts, owners=OWNERS, threshold=4)


async def test_safe_info_names_an_address_without_a_safe(devchain: DevChain) -> None:
    with pytest.raises(SafeDeploymentFailed, match="no contract at that address"):
        await safe_info(devchain.w3, "0x000000000000000000000000000000000000dEaD")
