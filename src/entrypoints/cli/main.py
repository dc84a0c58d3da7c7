"""The `treasury` command: one Typer app; each command group lives in its own module."""

from __future__ import annotations

import typer

from entrypoints.cli.lazy import LazyCommand, LazyGroup

_CLIENT = "entrypoints.cli.client"
_SERVICE = "entrypoints.cli.service"
_DB = "entrypoints.cli.db"

# In the order `treasury --help` lists them. Each module is imported only when its command
# runs, so the help page and the client commands load none of the service's libraries.
COMMANDS: tuple[LazyCommand, ...] = (
    LazyCommand(
        name="serve",
        module=_SERVICE,
        attribute="serve",
        summary=(
            "Run the whole service: API, dashboard and scheduler, adapters as the settings say."
        ),
    ),
    LazyCommand(
        name="paper",
        module=_SERVICE,
        attribute="paper",
        summary="Run the paper-trading service: simulated market, dev chain, a $400K treasury.",
    ),
    LazyCommand(
        name="run",
        module=_SERVICE,
        attribute="run",
        summary=(
            "Run the scheduler alone (no API): a decision cycle every TREASURY_CYCLE_INTERVAL_S."
        ),
    ),
    LazyCommand(
        name="status",
        module=_CLIENT,
        attribute="status",
        summary="The portfolio now: value, positions, allocations against targets.",
    ),
    LazyCommand(
        name="signal",
        module=_CLIENT,
        attribute="signal",
        summary="The allocation signal the market implies now.",
    ),
    LazyCommand(
        name="metrics",
        module=_CLIENT,
        attribute="metrics",
        summary=(
            "Performance over a time range: returns, APY, Sharpe, drawdown, against baselines."
        ),
    ),
    LazyCommand(
        name="cycle",
        module=_CLIENT,
        attribute="cycle",
        summary="Run one decision cycle now (the scheduler's work, on demand).",
    ),
    LazyCommand(
        name="rebalance",
        module=_CLIENT,
        attribute="rebalance",
        summary="Request a rebalance; large plans wait for approval.",
    ),
    LazyCommand(
        name="emergency-stop",
        module=_CLIENT,
        attribute="emergency_stop",
        summary="Stop all execution until `treasury resume`.",
    ),
    LazyCommand(
        name="resume",
        module=_CLIENT,
        attribute="resume",
        summary="Lift the emergency stop (needs an approver token).",
    ),
    LazyCommand(
        name="lift-cooldown",
        module=_CLIENT,
        attribute="lift_cooldown",
        summary="End the re-entry cooldown after an exit early (needs an approver token).",
    ),
    LazyCommand(
        name="preflight",
        module="entrypoints.cli.preflight",
        attribute="preflight",
        summary=(
            "Check, without sending anything, that every API, the node, the keystore, the "
            "protocol contracts and the advisor answer as live mode needs (paper mode: its "
            "simulated world)."
        ),
    ),
    LazyCommand(
        name="advise",
        module="entrypoints.cli.advise",
        attribute="advise_app",
        summary="The decision the configured advisor would make now (nothing is executed).",
    ),
    LazyCommand(
        name="db",
        module=_DB,
        attribute="db_app",
        summary="Database schema: upgrade and show the revision.",
    ),
    LazyCommand(
        name="audit", module=_DB, attribute="audit_app", summary="The hash-chained audit trail."
    ),
    LazyCommand(
        name="state", module=_DB, attribute="state_app", summary="The live portfolio state file."
    ),
    LazyCommand(
        name="keystore",
        module="entrypoints.cli.keystore",
        attribute="keystore_app",
        summary="The encrypted signing key (keystore v3, scrypt).",
    ),
    LazyCommand(
        name="devchain",
        module="entrypoints.cli.devchain",
        attribute="devchain_app",
        summary=(
            "The dev chain: Vyper contracts with the real protocols' ABIs, for paper mode and "
            "tests."
        ),
    ),
    LazyCommand(
        name="safe",
        module="entrypoints.cli.safe",
        attribute="safe_app",
        summary=(
            "Safe custody: create and read a Safe on the dev chain, the agent's permissions, "
            "the owners' revocation of the agent."
        ),
    ),
    LazyCommand(
        name="notify",
        module="entrypoints.cli.notify",
        attribute="notify_app",
        summary="Notifications (webhook, Slack, Telegram): send a test message.",
    ),
    LazyCommand(
        name="backtest",
        module="entrypoints.cli.backtest",
        attribute="backtest_app",
        summary=(
            "Replay history through the same signal, planner and safety policy that trade live."
        ),
    ),
    LazyCommand(
        name="market",
        module="entrypoints.cli.market",
        attribute="market_app",
        summary="Market intelligence: current market data, phase and source freshness.",
    ),
    LazyCommand(
        name="decisions",
        module=_CLIENT,
        attribute="decisions_app",
        summary="Decisions: pending approvals, history, approve or reject.",
    ),
)


class TreasuryGroup(LazyGroup):
    """The `treasury` command group."""

    lazy_commands = COMMANDS


app = typer.Typer(
    name="treasury",
    cls=TreasuryGroup,
    help="Autonomous DeFi treasury manager: market intelligence, advice, safety, execution.",
    invoke_without_command=True,
    add_completion=False,
    # Plain help and errors: rich (with markdown-it) costs about 0.2 s of start-up, more than
    # the rest of `treasury --help` (issue 18: the help answers within 0.5 s).
    rich_markup_mode=None,
)


def _version() -> str:
    # importlib.metadata costs tens of milliseconds: only `--version` pays for it.
    from importlib.metadata import PackageNotFoundError, version

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
    ctx: typer.Context,
    show_version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version."
    ),
) -> None:
    """Autonomous DeFi treasury manager."""
    if ctx.invoked_subcommand is None:  # `treasury` alone: the help, on stdout
        typer.echo(ctx.get_help())


def run() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # `python -m entrypoints.cli.main`, used by the end-to-end tests
    run()
