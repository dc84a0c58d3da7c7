"""`treasury safe`: Safe custody on the dev chain (create, info, permissions), and the owners'
revocation of the agent's role on the running service (`revocation`, `sign-revocation`, over
its API like the other operator commands)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer

from adapters.chain.devchain.address_book import AddressBook
from adapters.chain.devchain.deploy import contract_at, ensure_devchain, fund_account
from adapters.chain.devchain.node import rpc_web3
from adapters.chain.safe.deploy import (
    SafeBook,
    SafeInfo,
    contracts_deployed,
    create_safe,
    default_sender,
    deploy_safe_contracts,
    safe_info,
)
from entrypoints.cli.client import safe_revocation, safe_sign_revocation
from entrypoints.cli.exit_codes import ExitCode
from entrypoints.cli.output import console, key_value_table, print_json, run_async
from entrypoints.settings.custody import CustodySettings, parse_addresses
from entrypoints.settings.devchain import DevChainSettings

safe_app = typer.Typer(
    help=(
        "Safe custody: create and read a Safe on the dev chain, the agent's permissions, "
        "the owners' revocation of the agent."
    ),
    no_args_is_help=True,
)
safe_app.command("revocation")(safe_revocation)
safe_app.command("sign-revocation")(safe_sign_revocation)

RpcUrl = Annotated[
    str | None,
    typer.Option(
        "--rpc-url", help="JSON-RPC URL of the dev chain node (default TREASURY_DEVCHAIN_RPC_URL)."
    ),
]
SafeBookPath = Annotated[
    Path | None,
    typer.Option(
        "--safe-book", help="The Safe book JSON (default <data dir>/devchain/safe_book.json)."
    ),
]


def _safe_book_path(settings: DevChainSettings, path: Path | None) -> Path:
    return path or settings.data_dir / "devchain" / "safe_book.json"


def _rpc_url(settings: DevChainSettings, rpc_url: str | None) -> str:
    url = rpc_url or settings.devchain_rpc_url
    if not url:
        raise typer.BadParameter(
            "no node: pass --rpc-url or set TREASURY_DEVCHAIN_RPC_URL (an in-process chain "
            "lives only inside paper mode)",
            param_hint="--rpc-url",
        )
    return url


def _decimal(value: str, name: str) -> Decimal:
    try:
        amount = Decimal(value)
    except InvalidOperation as exc:
        raise typer.BadParameter(f"{name} must be a decimal number") from exc
    if not amount.is_finite() or amount < 0:
        raise typer.BadParameter(f"{name} must be zero or more")
    return amount


@safe_app.command("create")
def create(
    rpc_url: RpcUrl = None,
    owner: Annotated[
        list[str] | None,
        typer.Option(
            "--owner", help="An owner address (repeatable; default TREASURY_SAFE_OWNERS)."
        ),
    ] = None,
    threshold: Annotated[
        int | None,
        typer.Option(
            "--threshold", help="Owners needed to sign (default TREASURY_SAFE_THRESHOLD)."
        ),
    ] = None,
    usdc: Annotated[str, typer.Option("--usdc", help="USDC to mint to the Safe.")] = "1000000",
    eth: Annotated[str, typer.Option("--eth", help="ETH to send to the Safe.")] = "1",
    salt_nonce: Annotated[int, typer.Option("--salt-nonce", help="The proxy's salt nonce.")] = 0,
    safe_book: SafeBookPath = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the Safe book as JSON.")] = False,
) -> None:
    """Deploy the Safe v1.4.1 contracts on the dev chain (or reuse them), create a Safe, fund it.

    The dev chain's own contracts are deployed first if the node lacks them.
    """
    settings = DevChainSettings()
    custody = CustodySettings()
    url = _rpc_url(settings, rpc_url)
    owners = parse_addresses(",".join(owner), "--owner") if owner else custody.owners()
    if not owners:
        raise typer.BadParameter("name at least one --owner (or set TREASURY_SAFE_OWNERS)")
    needed = threshold if threshold is not None else custody.safe_threshold
    funding = {"USDC": _decimal(usdc, "--usdc"), "ETH": _decimal(eth, "--eth")}
    book_path = _safe_book_path(settings, safe_book)

    async def work() -> SafeBook:
        w3 = rpc_web3(url)
        try:
            dev_book = await ensure_devchain(
                w3,
                settings.resolved_address_book(),
                cache_dir=settings.compile_cache_dir(),
                deployer_key=settings.deployer_key(),
            )
            deployer = await default_sender(w3, dev_book.deployer)
            contracts = None
            if book_path.is_file():
                previous = SafeBook.load(book_path)
                if previous.chain_id == dev_book.chain_id and await contracts_deployed(
                    w3, previous.contracts
                ):
                    contracts = previous.contracts
            if contracts is None:
                contracts = await deploy_safe_contracts(w3, deployer=deployer)
            address = await create_safe(
                w3,
                contracts,
                owners=owners,
                threshold=needed,
                salt_nonce=salt_nonce,
                deployer=deployer,
            )
            await fund_account(w3, dev_book, address, {k: v for k, v in funding.items() if v > 0})
            book = SafeBook(
                chain_id=dev_book.chain_id,
                contracts=contracts,
                safe=address,
                owners=tuple(owners),
                threshold=needed,
            )
            book.save(book_path)
            return book
        finally:
            await w3.provider.disconnect()

    book = run_async(work())
    if as_json:
        print_json(book.to_json())
        return
    rows: dict[str, object] = {
        "safe": book.safe,
        "owners": ", ".join(book.owners),
        "threshold": f"{book.threshold} of {len(book.owners)}",
        "singleton": f"{book.contracts.singleton} ({book.contracts.singleton_name} 1.4.1)",
        "proxy factory": book.contracts.proxy_factory,
        "MultiSendCallOnly": book.contracts.multi_send_call_only,
        "fallback handler": book.contracts.fallback_handler,
        "safe book": str(book_path),
    }
    console.print(key_value_table("safe created", rows))
    console.print(f"Set TREASURY_SAFE_ADDRESS={book.safe} to use it.")


def _resolve_address(
    settings: DevChainSettings, custody: CustodySettings, address: str | None, book: Path | None
) -> str:
    if address:
        return parse_addresses(address, "--address")[0]
    if custody.safe_address:
        return custody.safe_address
    path = _safe_book_path(settings, book)
    if path.is_file():
        return SafeBook.load(path).safe
    raise typer.BadParameter(
        "no Safe: pass --address, set TREASURY_SAFE_ADDRESS, or run `treasury safe create`",
        param_hint="--address",
    )


@safe_app.command("info")
def info(
    rpc_url: RpcUrl = None,
    address: Annotated[
        str | None,
        typer.Option("--address", help="The Safe (default TREASURY_SAFE_ADDRESS, or the book's)."),
    ] = None,
    safe_book: SafeBookPath = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The Safe as the chain reports it: version, owners, threshold, nonce, modules, balances."""
    settings = DevChainSettings()
    custody = CustodySettings()
    url = _rpc_url(settings, rpc_url)
    target = _resolve_address(settings, custody, address, safe_book)
    address_book = settings.resolved_address_book()

    async def work() -> tuple[SafeInfo, dict[str, Decimal]]:
        w3 = rpc_web3(url)
        try:
            found = await safe_info(w3, target)
            balances: dict[str, Decimal] = {}
            if address_book.is_file():
                dev_book = AddressBook.load(address_book)
                if dev_book.chain_id == await w3.eth.chain_id:
                    for symbol, token in dev_book.tokens.items():
                        units = (
                            await contract_at(w3, "ERC20", token)
                            .functions.balanceOf(found.address)
                            .call()
                        )
                        if units:
                            balances[symbol] = Decimal(units).scaleb(-dev_book.decimals[symbol])
            return found, balances
        finally:
            await w3.provider.disconnect()

    found, balances = run_async(work())
    data: dict[str, Any] = {
        "address": found.address,
        "version": found.version,
        "owners": list(found.owners),
        "threshold": found.threshold,
        "nonce": found.nonce,
        "modules": list(found.modules),
        "eth": str(Decimal(found.eth_wei).scaleb(-18)),
        "balances": {k: str(v) for k, v in balances.items()},
    }
    if as_json:
        print_json(data)
        return
    rows: dict[str, object] = {
        "safe": found.address,
        "version": found.version,
        "owners": ", ".join(found.owners),
        "threshold": f"{found.threshold} of {len(found.owners)}",
        "nonce": found.nonce,
        "modules": ", ".join(found.modules) or None,
        "ETH": data["eth"],
    } | {symbol: str(amount) for symbol, amount in balances.items()}
    console.print(key_value_table("safe", rows))


@safe_app.command("permissions")
def permissions(
    address_book: Annotated[
        Path | None,
        typer.Option(
            "--address-book",
            help="The dev chain's address book (default TREASURY_DEVCHAIN_ADDRESS_BOOK).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The calls the agent's role allows on the Safe, generated from the adapters' calls.

    Everything else (a transfer, an approval to another spender, a receiver other than the
    Safe, the Safe's own owner management) the Roles Modifier refuses on chain.
    """
    from adapters.chain.devchain.address_book import AddressBookUnreadable
    from adapters.chain.safe.permissions import dev_chain_permissions

    settings = DevChainSettings()
    path = address_book or settings.resolved_address_book()
    try:
        book = AddressBook.load(path)
    except (AddressBookUnreadable, OSError) as exc:
        typer.echo(
            f"error: no dev chain address book at {path} ({exc}); run `treasury devchain "
            "deploy` or paper mode first, or pass --address-book",
            err=True,
        )
        raise typer.Exit(ExitCode.NOT_FOUND) from exc
    rows = dev_chain_permissions(book).rows()
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table(title="agent role: allowed calls (anything else is refused on chain)")
    for column in ("target", "address", "function", "constraint"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["target"], row["address"], row["function"], row["constraint"])
    console.print(table)
