"""`treasury db`, `treasury audit` and `treasury state`: schema migrations, the audit trail and
the live state file. Failures print one line on stderr and exit non-zero."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from adapters.persistence import migrate
from adapters.persistence.engine import create_engine
from adapters.persistence.state_file import write_state_file
from adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from application.errors import ApplicationError, PermanentError
from domain.audit import canonical_json
from domain.errors import DomainError
from entrypoints.cli.exit_codes import ExitCode
from entrypoints.settings.database import DatabaseSettings

T = TypeVar("T")

db_app = typer.Typer(help="Database schema: upgrade and show the revision.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)
state_app = typer.Typer(help="The live portfolio state file.", no_args_is_help=True)


class CommandFailed(Exception):
    """A command's expected failure: its message is printed as one line."""

    def __init__(self, message: str, exit_code: ExitCode = ExitCode.FAILURE) -> None:
        self.exit_code = exit_code
        super().__init__(message)


def _run(work: Callable[[DatabaseSettings], Coroutine[Any, Any, T]]) -> T:
    """Run one async command with the settings; map failures to one line and an exit code."""
    settings = DatabaseSettings()
    try:
        return asyncio.run(work(settings))
    except CommandFailed as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from exc
    except (ApplicationError, DomainError) as exc:
        code = (
            ExitCode.FAILURE
            if isinstance(exc, (PermanentError, DomainError))
            else ExitCode.TEMPORARY  # the database unreachable or busy: later may work
        )
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code) from exc
    except OSError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(ExitCode.FAILURE) from exc


async def _with_engine(
    settings: DatabaseSettings, body: Callable[[Any], Awaitable[T]], *, check_schema: bool
) -> T:
    engine = create_engine(settings.resolved_database_url())
    try:
        if check_schema:
            await migrate.ensure_schema_current(engine)
        return await body(engine)
    finally:
        await engine.dispose()


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[
        str, typer.Argument(help="Target revision (default: the newest).")
    ] = "head",
) -> None:
    """Migrate the database schema up to the newest revision."""

    async def work(settings: DatabaseSettings) -> str:
        async def body(engine: Any) -> str:
            before = await migrate.current_revision(engine)
            await migrate.upgrade(engine, revision)
            after = await migrate.current_revision(engine)
            return f"{settings.display_database_url()}: {before or 'empty'} -> {after}"

        return await _with_engine(settings, body, check_schema=False)

    typer.echo(_run(work))


@db_app.command("current")
def db_current() -> None:
    """Show the database's schema revision and whether it is up to date."""

    async def work(settings: DatabaseSettings) -> tuple[str, bool]:
        async def body(engine: Any) -> tuple[str, bool]:
            status = await migrate.schema_status(engine)
            state = "up to date" if status.up_to_date else "behind: run `treasury db upgrade`"
            return (
                f"{settings.display_database_url()}: revision {status.current or 'none'} "
                f"(head {status.head}, {state})",
                status.up_to_date,
            )

        return await _with_engine(settings, body, check_schema=False)

    line, up_to_date = _run(work)
    typer.echo(line)
    if not up_to_date:
        raise typer.Exit(ExitCode.FAILURE)


@audit_app.command("verify")
def audit_verify() -> None:
    """Walk the audit chain and report the first broken row, if any."""

    async def work(settings: DatabaseSettings) -> str:
        async def body(engine: Any) -> str:
            async with SqlUnitOfWorkFactory(engine)() as uow:
                broken = await uow.audit.verify()
                tail = await uow.audit.tail(1)
            if broken is not None:
                raise CommandFailed(
                    f"audit chain broken at seq {broken}: that row was altered, inserted or a "
                    "row before it was removed",
                    ExitCode.AUDIT_BROKEN,
                )
            if not tail:
                return "audit log is empty"
            return f"audit chain intact: {tail[0].seq} entries, head {tail[0].hash}"

        return await _with_engine(settings, body, check_schema=True)

    typer.echo(_run(work))


@audit_app.command("tail")
def audit_tail(
    count: Annotated[int, typer.Option("--count", "-n", min=1, help="How many entries.")] = 20,
) -> None:
    """Print the newest audit entries, oldest first, one per line."""

    async def work(settings: DatabaseSettings) -> list[str]:
        async def body(engine: Any) -> list[str]:
            async with SqlUnitOfWorkFactory(engine)() as uow:
                entries = await uow.audit.tail(count)
            return [
                f"{e.seq}\t{e.at.isoformat()}\t{e.actor}\t{e.action}\t"
                f"{e.subject_type}:{e.subject_id}\t{canonical_json(dict(e.payload))}"
                for e in entries
            ]

        return await _with_engine(settings, body, check_schema=True)

    for line in _run(work):
        typer.echo(line)


@state_app.command("export")
def state_export(
    path: Annotated[
        Path | None,
        typer.Argument(
            help="Where to write (default: TREASURY_STATE_FILE or <data dir>/portfolio_state.json)."
        ),
    ] = None,
) -> None:
    """Write the latest portfolio snapshot to the state file, atomically."""

    async def work(settings: DatabaseSettings) -> str:
        target = path if path is not None else settings.resolved_state_file()

        async def body(engine: Any) -> str:
            async with SqlUnitOfWorkFactory(engine)() as uow:
                state = await uow.snapshots.latest()
            if state is None:
                raise CommandFailed("no portfolio snapshot yet: run a decision cycle first")
            written = write_state_file(state, target)
            return f"wrote {written} (as of {state.as_of.isoformat() if state.as_of else '?'})"

        return await _with_engine(settings, body, check_schema=True)

    typer.echo(_run(work))
