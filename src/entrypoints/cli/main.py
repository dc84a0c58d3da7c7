"""The `treasury` command: one Typer app; each command group lives in its own module."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import typer

from entrypoints.cli.advise import advise_app
from entrypoints.cli.backtest import backtest_app
from entrypoints.cli.client import register as register_client_commands
from entrypoints.cli.db import audit_app, db_app, state_app
from entrypoints.cli.devchain import devchain_app
from entrypoints.cli.keystore import keystore_app
from entrypoints.cli.market import market_app
from entrypoints.cli.notify import notify_app
from entrypoints.cli.preflight import preflight
from entrypoints.cli.service import paper, serve
from entrypoints.cli.service import run as run_scheduler

app = typer.Typer(
    name="treasury",
    help="Autonomous DeFi treasury manager: market intelligence, advice, safety, execution.",
    no_args_is_help=True,
    add_completion=False,
)


app.add_typer(advise_app, name="advise")
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
app.add_typer(state_app, name="state")
app.add_typer(keystore_app, name="keystore")
app.add_typer(devchain_app, name="devchain")
app.add_typer(notify_app, name="notify")
app.add_typer(backtest_app, name="backtest")
app.add_typer(market_app, name="market")
app.command("serve")(serve)
app.command("paper")(paper)
app.command("run")(run_scheduler)
app.command("preflight")(preflight)
register_client_commands(app)


def _version() -> str:
    try:
        return version("treasury-manager")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0+source"


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"treasury {_version()}")
        raise typer.Exit


@app.callback()
def main(
    show_version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version."
    ),
) -> None:
    """Autonomous DeFi treasury manager."""


def run() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # `python -m entrypoints.cli.main`, used by the end-to-end tests
    run()
