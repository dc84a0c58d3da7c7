"""Printing for the CLI: rich tables for people, JSON (the API's shapes) for machines, and one
table from errors to exit codes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from application.errors import (
    ApplicationError,
    ConcurrencyConflict,
    CycleBusy,
    NotFound,
    PermanentError,
    TransientError,
)
from domain.errors import DecisionNotPending, DomainError, InvalidValue
from entrypoints.cli.exit_codes import ExitCode

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

T = TypeVar("T")


@cache
def rich_console() -> Console:
    """The one rich console, for rich's own objects (a progress bar, a report) to print to."""
    from rich.console import Console

    return Console()


class _Console:
    """rich's console, imported on first use: `--json` output and errors never load rich.
    Only attributes pass through (`console.print`); give rich's own objects `rich_console()`."""

    def __getattr__(self, name: str) -> Any:
        return getattr(rich_console(), name)


console: Console = _Console()  # type: ignore[assignment]

# Most specific first, like the HTTP table in entrypoints/api/errors.py.
EXIT_BY_ERROR: tuple[tuple[type[Exception], ExitCode], ...] = (
    (NotFound, ExitCode.NOT_FOUND),
    (DecisionNotPending, ExitCode.CONFLICT),
    (ConcurrencyConflict, ExitCode.CONFLICT),
    (CycleBusy, ExitCode.TEMPORARY),
    (TransientError, ExitCode.TEMPORARY),
    (InvalidValue, ExitCode.USAGE),
    (PermanentError, ExitCode.FAILURE),
    (DomainError, ExitCode.FAILURE),
)


def exit_code_for(exc: Exception) -> ExitCode:
    """The exit code for an error."""
    for kind, code in EXIT_BY_ERROR:
        if isinstance(exc, kind):
            return code
    return ExitCode.FAILURE


def run_async(work: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; print one clear line and exit non-zero on a known failure."""
    try:
        return asyncio.run(work)
    except (ApplicationError, DomainError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exit_code_for(exc)) from exc
    except OSError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(ExitCode.FAILURE) from exc


def print_json(data: object) -> None:
    """Print JSON for machines."""
    typer.echo(json.dumps(data, indent=2, default=str))


def key_value_table(title: str, rows: dict[str, object]) -> Table:
    """A two-column table."""
    from rich.table import Table

    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in rows.items():
        table.add_row(key, "-" if value is None else str(value))
    return table
