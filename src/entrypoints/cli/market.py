"""`treasury market`: the current MarketData with its phase and per-source freshness, and
`treasury market set-mvrv`: the operator's manual MVRV Z-Score (the spec's fallback).

The data comes from the live sources when `TREASURY_MARKET_DATA=live`, else from the simulated
market (or the history replay when `TREASURY_MARKET_HISTORY_CSV` is set).
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import typer
from rich.table import Table

from adapters.market.aggregate import build_live_market, create_market_client
from adapters.market.manual import UnitOfWorkManualMvrv
from adapters.persistence import migrate
from adapters.persistence.engine import create_engine
from adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import SystemClock
from application.errors import ApplicationError
from application.operator import SetManualMvrv
from application.ports.market import MarketDataSource, SourceHealth
from domain.market import MarketData, MarketField
from entrypoints.api.dto import MarketDataOut
from entrypoints.cli.output import console, print_json, run_async
from entrypoints.settings.database import DatabaseSettings
from entrypoints.settings.market import MarketSettings
from entrypoints.settings.service import MarketDataChoice, ServiceSettings
from entrypoints.wiring.local import local_units_of_work
from entrypoints.wiring.market import simulated_market

market_app = typer.Typer(
    help="Market intelligence: current market data, phase and source freshness.",
    invoke_without_command=True,
)


@dataclass(frozen=True, slots=True)
class MarketReport:
    """What `treasury market` shows: the data and the health of every source behind it."""

    data: MarketData
    sources: list[SourceHealth]
    notes: list[str]


async def _read(market: MarketDataSource, notes: list[str]) -> MarketReport:
    data = await market.fetch()
    return MarketReport(data=data, sources=await market.health(), notes=notes)


async def read_market(day: int = 0) -> MarketReport:
    """Read MarketData once with the configured adapter.

    Raises:
        MarketDataUnavailable: no source could be read.
    """
    clock = SystemClock()
    settings = MarketSettings()
    if ServiceSettings().market_data is not MarketDataChoice.LIVE:
        market = simulated_market(settings, clock)
        market.advance(day)
        return await _read(market, [])
    notes: list[str] = []
    engine = create_engine(DatabaseSettings().resolved_database_url())
    try:
        store: UnitOfWorkManualMvrv | None = None
        try:
            await migrate.ensure_schema_current(engine)
            store = UnitOfWorkManualMvrv(SqlUnitOfWorkFactory(engine))
        except ApplicationError as exc:
            notes.append(f"manual MVRV not available: {exc}")
        async with create_market_client() as client:
            live = build_live_market(client, settings.live_config(), clock=clock, manual_mvrv=store)
            return await _read(live, notes)
    finally:
        await engine.dispose()


def report_json(report: MarketReport) -> dict[str, Any]:
    """The spec's MarketData field names plus per-field freshness and per-source health."""
    body = MarketDataOut.from_domain(report.data).model_dump(mode="json")
    body["sources"] = [
        {
            "source": s.source,
            "status": s.status.value,
            "last_success": s.last_success.isoformat() if s.last_success else None,
            "last_error": s.last_error,
            "last_error_at": s.last_error_at.isoformat() if s.last_error_at else None,
        }
        for s in report.sources
    ]
    return body


def _value(data: MarketData, field: MarketField) -> str:
    value = getattr(data, field.value)
    if value is None:
        return "missing"
    if field is MarketField.FUNDING_RATE:
        return f"{value * 100:.4f} % / 8 h"
    if field in (MarketField.BTC_IMPLIED_VOLATILITY, MarketField.ETH_IMPLIED_VOLATILITY):
        change = getattr(data, field.value.replace("implied_volatility", "iv_change_24h"))
        return f"{value} DVOL" + (f" ({change * 100:+.2f} % 24 h)" if change is not None else "")
    if field in (MarketField.BTC_PRICE, MarketField.ETH_PRICE):
        change = getattr(data, field.value.replace("price", "change_24h"))
        text = f"${value:,.2f}"
        return text + (f" ({change * 100:+.2f} % 24 h)" if change is not None else "")
    return str(value)


def report_tables(report: MarketReport) -> list[Table]:
    """A table of fields with their freshness, and one of source health."""
    data = report.data
    fields = Table(title=f"Market data — phase: {data.market_phase.value}")
    # A field's name and value are never wrapped: on a narrow terminal the other columns give.
    fields.add_column("field", no_wrap=True)
    fields.add_column("value", no_wrap=True)
    for column in ("source", "observed", "age", "flags"):
        fields.add_column(column)
    for field in MarketField:
        info = data.freshness.get(field)
        flags = []
        if info is not None and info.stale:
            flags.append("stale")
        if info is not None and info.manual:
            flags.append("manual")
        fields.add_row(
            field.value,
            _value(data, field),
            info.source if info else "-",
            info.observed_at.strftime("%Y-%m-%d %H:%M:%SZ") if info else "-",
            f"{int(info.age_seconds)} s" if info else "-",
            ", ".join(flags) or "-",
        )
    sources = Table(title=f"Sources at {data.timestamp.strftime('%Y-%m-%d %H:%M:%SZ')}")
    for column in ("source", "status", "last success", "last error"):
        sources.add_column(column)
    for s in report.sources:
        sources.add_row(
            s.source,
            s.status.value,
            s.last_success.strftime("%Y-%m-%d %H:%M:%SZ") if s.last_success else "-",
            s.last_error or "-",
        )
    return [fields, sources]


@market_app.callback(invoke_without_command=True)
def market(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
    day: Annotated[
        int, typer.Option("--day", min=0, help="Simulated market only: show this day of it.")
    ] = 0,
) -> None:
    """Print the current market data, its phase and how fresh each source is."""
    if ctx.invoked_subcommand is not None:
        return
    report = run_async(read_market(day))
    for note in report.notes:
        typer.echo(f"note: {note}", err=True)
    if as_json:
        print_json(report_json(report))
        return
    for table in report_tables(report):
        console.print(table)


def parse_mvrv(text: str) -> Decimal:
    """An MVRV Z-Score typed by an operator.

    The range it may take is the use case's (`SetManualMvrv`), as through the API.

    Raises:
        typer.BadParameter: not a finite number.
    """
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise typer.BadParameter(f"{text!r} is not a number") from None
    if not value.is_finite():
        raise typer.BadParameter(f"{text!r} is not a plausible MVRV Z-Score")
    return value


@market_app.command("set-mvrv", context_settings={"ignore_unknown_options": True})
def set_mvrv(
    value: Annotated[str, typer.Argument(help="The MVRV Z-Score, e.g. 2.4 (may be negative).")],
    set_by: Annotated[
        str | None, typer.Option("--by", help="Who sets it (default: the OS user).")
    ] = None,
) -> None:
    """Store a manual MVRV Z-Score, used (flagged manual) when Glassnode is unavailable."""
    mvrv = parse_mvrv(value)
    who = set_by or f"cli:{getpass.getuser()}"

    async def work() -> str:
        clock = SystemClock()
        async with local_units_of_work(DatabaseSettings(), clock) as uow:
            # The API's use case: its range, and an audit row before the value takes effect.
            stored = await SetManualMvrv(clock=clock, uow=uow).execute(mvrv, who)
        return f"manual MVRV Z-Score set to {stored} at {clock.now().isoformat()} by {who}"

    typer.echo(run_async(work()))
