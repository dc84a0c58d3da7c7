"""`treasury backtest`: replay history (a file or a simulated scenario) through the live policy."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from adapters.history.coinmetrics import load_history
from adapters.market.simulated import STORYLINES, Scenario, SimulatedMarket
from adapters.reporting import walk_forward_report
from adapters.reporting.backtest_report import print_report, write_report
from application.backtest import BacktestRun, run_and_summarise
from application.errors import ApplicationError
from application.walk_forward import WalkForwardResult, WalkForwardWindows, run_walk_forward
from domain.backtest import BacktestConfig, BacktestCosts
from domain.errors import DomainError
from domain.history import DailyObservation
from entrypoints.cli.output import console, exit_code_for, rich_console
from entrypoints.settings.backtest import BacktestSettings

PROGRESS_FROM_DAYS = 1_000
VENUES = ("aave", "pendle", "curve")

backtest_app = typer.Typer(
    help="Replay history through the same signal, planner and safety policy that trade live.",
    invoke_without_command=True,
)


class _FixedClock:
    """The scenario's clock: only its history is read, so time need not move."""

    def now(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC)


def _money(text: str, option: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise typer.BadParameter(f"{option} must be a decimal number") from exc
    if not value.is_finite() or value <= 0:
        raise typer.BadParameter(f"{option} must be positive")
    return value


def _history(
    data: Path | None,
    eth_data: Path | None,
    scenario: Scenario | None,
    start: datetime | None,
    end: datetime | None,
    seed: int,
) -> Sequence[DailyObservation]:
    if data is not None and scenario is not None:
        raise typer.BadParameter("give --data FILE or --scenario NAME, not both")
    if scenario is not None:
        days = sum(length for _, length in STORYLINES[scenario].schedule)
        market = SimulatedMarket(clock=_FixedClock(), scenario=scenario, seed=seed)
        return market.history(days)
    if data is None:
        raise typer.BadParameter("give --data FILE or --scenario NAME")
    return load_history(
        data,
        eth_path=eth_data,
        start=start.date() if start else None,
        end=end.date() if end else None,
    )


def _run(observations: Sequence[DailyObservation], config: BacktestConfig) -> BacktestRun:
    if len(observations) < PROGRESS_FROM_DAYS:
        return run_and_summarise(observations, config)
    with Progress(
        TextColumn("backtest"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} days"),
        TimeRemainingColumn(),
        console=rich_console(),
        transient=True,
    ) as progress:
        task = progress.add_task("days", total=len(observations))

        def advance(done: int, total: int) -> None:
            if done % 100 == 0 or done == total:
                progress.update(task, completed=done)

        return run_and_summarise(observations, config, on_day=advance)


def _walk_forward(
    observations: Sequence[DailyObservation], config: BacktestConfig, windows: WalkForwardWindows
) -> WalkForwardResult:
    with Progress(
        TextColumn("walk-forward"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} variants"),
        TimeRemainingColumn(),
        console=rich_console(),
        transient=True,
    ) as progress:
        task = progress.add_task("variants", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return run_walk_forward(observations, config, windows, on_variant=advance)


_WINDOW_OPTIONS = ("--tune-from", "--tune-to", "--test-from", "--test-to")


def _windows(dates: Sequence[datetime | None]) -> WalkForwardWindows | None:
    if all(d is None for d in dates):
        return None
    missing = [name for name, d in zip(_WINDOW_OPTIONS, dates, strict=True) if d is None]
    if missing:
        raise typer.BadParameter(f"walk-forward needs {', '.join(missing)} as well")
    tune_from, tune_to, test_from, test_to = (d.date() for d in dates if d is not None)
    return WalkForwardWindows(
        tune_from=tune_from, tune_to=tune_to, test_from=test_from, test_to=test_to
    )


@backtest_app.callback()
def backtest(
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Daily history: the project's CSV or Coin Metrics' (BTC)."),
    ] = None,
    eth_data: Annotated[
        Path | None, typer.Option("--eth-data", help="Coin Metrics ETH file (optional).")
    ] = None,
    scenario: Annotated[
        Scenario | None, typer.Option("--scenario", help="Replay a simulated market instead.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulated scenario.")] = 7,
    start: Annotated[
        datetime | None, typer.Option("--from", formats=["%Y-%m-%d"], help="First day.")
    ] = None,
    end: Annotated[
        datetime | None, typer.Option("--to", formats=["%Y-%m-%d"], help="Last day.")
    ] = None,
    capital: Annotated[str, typer.Option("--capital", help="Starting USDC.")] = "400000",
    advisor: Annotated[
        str, typer.Option("--advisor", help="Only `rules` (the signal's targets) replays.")
    ] = "rules",
    deny_approvals: Annotated[
        bool, typer.Option("--deny-approvals", help="Deny every plan that needs approval.")
    ] = False,
    approval_delay: Annotated[
        int | None, typer.Option("--approval-delay-days", help="Days until approval.")
    ] = None,
    gas_usd: Annotated[
        str | None, typer.Option("--gas-usd", help="Gas per transaction in USD.")
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write JSON, SVG, PNG and HTML here.")
    ] = None,
    tune_from: Annotated[
        datetime | None,
        typer.Option("--tune-from", formats=["%Y-%m-%d"], help="Walk-forward: tuning from."),
    ] = None,
    tune_to: Annotated[
        datetime | None,
        typer.Option("--tune-to", formats=["%Y-%m-%d"], help="Walk-forward: tuning to."),
    ] = None,
    test_from: Annotated[
        datetime | None,
        typer.Option("--test-from", formats=["%Y-%m-%d"], help="Walk-forward: test from."),
    ] = None,
    test_to: Annotated[
        datetime | None,
        typer.Option("--test-to", formats=["%Y-%m-%d"], help="Walk-forward: test to."),
    ] = None,
) -> None:
    """Replay history through the live decision code and compare it with the baselines."""
    if advisor != "rules":
        raise typer.BadParameter("only the rules advisor can be replayed (Claude is not)")
    settings = BacktestSettings()
    try:
        costs = BacktestCosts(
            gas_usd_per_tx=_money(gas_usd, "--gas-usd") if gas_usd else settings.gas_usd,
            swap_fee=settings.swap_fee,
            swap_impact_per_million_usd=settings.swap_impact_per_million,
            protocol_apy=dict.fromkeys(VENUES, settings.base_apy),
        )
        config = BacktestConfig(
            capital=_money(capital, "--capital"),
            costs=costs,
            approval_delay_days=settings.approval_delay_days
            if approval_delay is None
            else approval_delay,
            deny_approvals=deny_approvals,
            static_apy=settings.base_apy,
        )
        windows = _windows((tune_from, tune_to, test_from, test_to))
        if windows is not None:
            if start is not None or end is not None:
                raise typer.BadParameter("give --from/--to or the walk-forward windows, not both")
            observations = _history(data, eth_data, scenario, tune_from, test_to, seed)
            walked = _walk_forward(observations, config, windows)
            walk_forward_report.print_report(walked, rich_console())
            if report is not None:
                path = walk_forward_report.write_report(walked, report)
                console.print(f"Walk-forward report written to {path}")
            return
        observations = _history(data, eth_data, scenario, start, end, seed)
        run = _run(observations, config)
        print_report(run, rich_console())
        if report is not None:
            files = write_report(run, report)
            console.print(f"Report written to {files.html}")
    except (ApplicationError, DomainError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exit_code_for(exc)) from exc
