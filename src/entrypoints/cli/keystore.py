"""`treasury keystore new | import | address`: the signing key, encrypted with scrypt.

The passphrase comes from `TREASURY_KEYSTORE_PASSPHRASE`, `TREASURY_KEYSTORE_PASSPHRASE_FILE`
or a hidden prompt; a private key to import is read from a hidden prompt or stdin. Neither is
ever echoed or printed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from adapters.chain.keystore import create_keystore, import_keystore, keystore_address
from application.ports.chain import KeystoreError
from entrypoints.cli.exit_codes import ExitCode
from entrypoints.settings.chain import ChainSettings

keystore_app = typer.Typer(
    help="The encrypted signing key (keystore v3, scrypt).", no_args_is_help=True
)

PathOption = Annotated[
    Path | None, typer.Option("--path", help="Keystore file (default TREASURY_KEYSTORE_PATH).")
]


def _passphrase(settings: ChainSettings, confirm: bool) -> str:
    configured = settings.passphrase()
    if configured is not None:
        return configured
    value: str = typer.prompt("Keystore passphrase", hide_input=True, confirmation_prompt=confirm)
    return value


def _fail(exc: KeystoreError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(ExitCode.FAILURE)


@keystore_app.command("new")
def new(path: PathOption = None) -> None:
    """Create a keystore with a fresh random key and print its address."""
    settings = ChainSettings()
    target = path or settings.keystore_path
    try:
        address = create_keystore(target, _passphrase(settings, confirm=True))
    except KeystoreError as exc:
        raise _fail(exc) from None
    typer.echo(address)


@keystore_app.command("import")
def import_(
    path: PathOption = None,
    key_stdin: Annotated[
        bool, typer.Option("--key-stdin", help="Read the private key from stdin.")
    ] = False,
) -> None:
    """Encrypt an existing private key into a new keystore and print its address."""
    settings = ChainSettings()
    target = path or settings.keystore_path
    key = (
        sys.stdin.readline().strip() if key_stdin else typer.prompt("Private key", hide_input=True)
    )
    try:
        address = import_keystore(target, key, _passphrase(settings, confirm=True))
    except KeystoreError as exc:
        raise _fail(exc) from None
    finally:
        del key
    typer.echo(address)


@keystore_app.command("address")
def address(path: PathOption = None) -> None:
    """Print the keystore's address (no passphrase needed)."""
    settings = ChainSettings()
    try:
        typer.echo(keystore_address(path or settings.keystore_path))
    except KeystoreError as exc:
        raise _fail(exc) from None
