"""`treasury devchain`: deploy the dev-chain contracts to a node and write the address book."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer

from adapters.chain.devchain.address_book import AddressBook
from adapters.chain.devchain.deploy import DEFAULT_FUNDING, ensure_devchain
from adapters.chain.devchain.node import rpc_web3
from entrypoints.cli.output import console, key_value_table, print_json, run_async
from entrypoints.settings.devchain import DevChainSettings

devchain_app = typer.Typer(
    help="The dev chain: Vyper contracts with the real protocols' ABIs, for paper mode and tests.",
    no_args_is_help=True,
)


def _funding(usdc: str, eth: str) -> dict[str, Decimal]:
    try:
        funding = dict(DEFAULT_FUNDING) | {"USDC": Decimal(usdc), "ETH": Decimal(eth)}
    except InvalidOperation as exc:
        raise typer.BadParameter("funding amounts must be decimal numbers") from exc
    if any(not amount.is_finite() or amount < 0 for amount in funding.values()):
        raise typer.BadParameter("funding amounts must be zero or more")
    return funding


@devchain_app.command("deploy")
def deploy(
    rpc_url: Annotated[str, typer.Option("--rpc-url", help="JSON-RPC URL of the node.")],
    address_book: Annotated[
        Path | None,
        typer.Option("--address-book", help="Where to write the address book JSON."),
    ] = None,
    fund_address: Annotated[
        list[str] | None,
        typer.Option("--fund-address", help="Address to fund with ETH and USDC (repeatable)."),
    ] = None,
    usdc: Annotated[str, typer.Option("--usdc", help="USDC to mint to each funded address.")] = (
        "1000000"
    ),
    eth: Annotated[str, typer.Option("--eth", help="ETH to send to each funded address.")] = "10",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the address book as JSON.")
    ] = False,
) -> None:
    """Deploy every dev-chain contract (or reuse a live deployment) and fund addresses.

    Deploys from the node's first unlocked account, or from TREASURY_DEVCHAIN_DEPLOYER_KEY.
    """
    settings = DevChainSettings()
    path = address_book or settings.resolved_address_book()
    funding = _funding(usdc, eth)

    async def work() -> AddressBook:
        w3 = rpc_web3(rpc_url)
        try:
            book = await ensure_devchain(
                w3,
                path,
                fund=fund_address or [],
                funding=funding,
                cache_dir=settings.compile_cache_dir(),
                deployer_key=settings.deployer_key(),
            )
        finally:
            await w3.provider.disconnect()
        return book

    book = run_async(work())
    if as_json:
        print_json(book.to_json())
        return
    rows: dict[str, object] = {
        "chain id": book.chain_id,
        "deployed at block": book.block,
        "address book": str(path),
        "funded": ", ".join(book.funded) or None,
    }
    console.print(key_value_table("dev chain", rows | book.contracts()))
