"""The same dev chain on anvil (JSON-RPC), the address book reuse and the deploy command."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from eth_account import Account
from typer.testing import CliRunner

from adapters.chain.devchain.address_book import AddressBook
from adapters.chain.devchain.deploy import MAX_UINT256, contract_at, ensure_devchain
from adapters.chain.devchain.fake_apis import FakeApiServer
from adapters.chain.devchain.node import rpc_web3
from adapters.chain.devchain.oracle import advance_time
from entrypoints.cli.main import app
from tests.integration.devchain.chain_calls import (
    REVERTED,
    balance,
    send,
    signing_as_treasury,
    token,
)
from tests.integration.devchain.fixtures import FAKE_ONEINCH_API_KEY, DevChain

pytestmark = pytest.mark.anvil
USDC = 10**6


async def test_anvil_dev_chain_accrues_aave_interest_over_increased_time(
    anvil_devchain: DevChain,
) -> None:
    chain = anvil_devchain
    assert chain.book.chain_id == 31337
    w3 = signing_as_treasury(chain)
    me = chain.treasury_address
    pool = contract_at(w3, "AavePool", chain.book.aave_pool)
    a_usdc = contract_at(w3, "AToken", chain.book.a_tokens["USDC"])
    await send(w3, token(chain, "USDC").functions.approve(pool.address, 10_000 * USDC), me)
    await send(w3, pool.functions.supply(chain.book.token("USDC"), 10_000 * USDC, me, 0), me)
    await advance_time(w3, 365 * 86_400)
    grown = await a_usdc.functions.balanceOf(me).call()
    assert 10_449 * USDC < grown < 10_451 * USDC
    await send(w3, pool.functions.withdraw(chain.book.token("USDC"), MAX_UINT256, me), me)
    assert await a_usdc.functions.balanceOf(me).call() == 0


async def test_anvil_router_swap_and_min_return(anvil_devchain: DevChain) -> None:
    chain = anvil_devchain
    w3 = signing_as_treasury(chain)
    me = chain.treasury_address
    router = contract_at(w3, "SwapRouter", chain.book.router)
    usdc, wbtc = chain.book.token("USDC"), chain.book.token("WBTC")
    quoted = await router.functions.getAmountOut(usdc, wbtc, 65_000 * USDC).call()
    assert 99_900_000 < quoted < 100_000_000  # about 1 WBTC (8 decimals)
    await send(w3, token(chain, "USDC").functions.approve(router.address, 65_000 * USDC), me)
    with pytest.raises(REVERTED, match="return amount is not enough"):
        await router.functions.swap(usdc, wbtc, 65_000 * USDC, quoted + 1, me).transact(
            {"from": me}
        )
    before = await balance(chain, "WBTC")
    await send(w3, router.functions.swap(usdc, wbtc, 65_000 * USDC, quoted, me), me)
    assert await balance(chain, "WBTC") - before == quoted


async def test_ensure_devchain_reuses_the_deployment_and_funds_new_addresses(
    anvil_devchain: DevChain, tmp_path: Path
) -> None:
    path = tmp_path / "book.json"
    chain = anvil_devchain
    chain.book.save(path)
    newcomer = "0x" + "ab" * 20
    book = await ensure_devchain(chain.w3, path, fund=[newcomer])
    assert book.router == chain.book.router  # reused, not redeployed
    assert chain.w3.to_checksum_address(newcomer) in AddressBook.load(path).funded
    assert await balance(chain, "USDC", chain.w3.to_checksum_address(newcomer)) == 1_000_000 * USDC


async def test_ensure_devchain_redeploys_when_the_node_lost_the_contracts(
    anvil_devchain: DevChain, tmp_path: Path
) -> None:
    path = tmp_path / "book.json"
    stale = AddressBook.from_json(chain_json := anvil_devchain.book.to_json())
    AddressBook.from_json(chain_json | {"router": "0x" + "cd" * 20}).save(path)
    book = await ensure_devchain(anvil_devchain.w3, path)
    assert book.router != "0x" + "cd" * 20
    assert await anvil_devchain.w3.eth.get_code(book.router)
    assert book.tokens != stale.tokens


def test_deploy_command_writes_an_address_book(anvil_rpc_url: str, tmp_path: Path) -> None:
    path = tmp_path / "devchain.json"
    fund = "0x" + "12" * 20
    args = ["devchain", "deploy", "--rpc-url", anvil_rpc_url, "--address-book", str(path)]
    result = CliRunner().invoke(app, [*args, "--fund-address", fund, "--json"])
    assert result.exit_code == 0, result.output
    written = json.loads(path.read_text())
    assert json.loads(result.output)["router"] == written["router"]
    assert written["chain_id"] == 31337
    assert set(written["tokens"]) == {"USDC", "USDT", "DAI", "WETH", "WBTC"}

    again = CliRunner().invoke(app, args)  # reuses the deployment
    assert again.exit_code == 0, again.output
    assert json.loads(path.read_text())["router"] == written["router"]


def test_deploy_command_reports_an_unreachable_node(tmp_path: Path) -> None:
    args = [
        "devchain",
        "deploy",
        "--rpc-url",
        "http://127.0.0.1:9",
        "--address-book",
        str(tmp_path / "x.json"),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 75
    assert "dev chain node unreachable" in result.output


async def test_rpc_web3_reaches_anvil(anvil_rpc_url: str) -> None:
    w3 = rpc_web3(anvil_rpc_url)
    try:
        assert await w3.eth.chain_id == 31337
    finally:
        await w3.provider.disconnect()


async def test_fake_oneinch_calldata_swaps_on_anvil(
    anvil_devchain: DevChain, anvil_fake_apis: FakeApiServer
) -> None:
    chain = anvil_devchain
    w3 = signing_as_treasury(chain)
    me = chain.treasury_address
    usdc, dai = chain.book.token("USDC"), chain.book.token("DAI")
    await send(w3, token(chain, "USDC").functions.approve(chain.book.router, 1_000 * USDC), me)
    async with httpx.AsyncClient(base_url=anvil_fake_apis.oneinch_base_url) as client:
        response = await client.get(
            f"/swap/v6.0/{chain.book.chain_id}/swap",
            params={
                "src": usdc,
                "dst": dai,
                "amount": 1_000 * USDC,
                "from": me,
                "origin": me,
                "slippage": "0.5",
            },
            headers={"Authorization": f"Bearer {FAKE_ONEINCH_API_KEY}"},
        )
    assert response.status_code == 200, response.text
    tx = response.json()["tx"]
    before = await balance(chain, "DAI")
    tx_hash = await w3.eth.send_transaction(
        {
            "from": me,
            "to": w3.to_checksum_address(tx["to"]),
            "data": tx["data"],
            "gas": tx["gas"] + 50_000,
        }
    )
    assert (await w3.eth.wait_for_transaction_receipt(tx_hash))["status"] == 1
    assert await balance(chain, "DAI") - before == int(response.json()["dstAmount"])


def test_deploy_command_signs_with_the_deployer_key_and_never_prints_it(
    anvil_rpc_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    key = "0x" + "4d" * 32  # a throwaway key, funded below through anvil_setBalance
    deployer = Account.from_key(key).address
    set_balance = httpx.post(
        anvil_rpc_url,
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "anvil_setBalance",
            "params": [deployer, hex(10**21)],
        },
    )
    assert "error" not in set_balance.json()
    monkeypatch.setenv("TREASURY_DEVCHAIN_DEPLOYER_KEY", key)
    path = tmp_path / "signed.json"
    result = CliRunner().invoke(
        app,
        ["devchain", "deploy", "--rpc-url", anvil_rpc_url, "--address-book", str(path), "--json"],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(path.read_text())["deployer"] == deployer
    for text in (result.output, path.read_text(), caplog.text):
        assert key not in text
        assert key[2:] not in text


def test_an_invalid_deployer_key_is_refused_without_echoing_it(
    anvil_rpc_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad_key = "0x" + "zz" * 32
    monkeypatch.setenv("TREASURY_DEVCHAIN_DEPLOYER_KEY", bad_key)
    result = CliRunner().invoke(
        app,
        [
            "devchain",
            "deploy",
            "--rpc-url",
            anvil_rpc_url,
            "--address-book",
            str(tmp_path / "x.json"),
        ],
    )
    assert result.exit_code == 1
    assert "not a valid private key" in result.output
    assert "zz" * 32 not in result.output
