"""`treasury serve`, `treasury paper` and `treasury run`: the long-running service.

`serve` runs everything in one process: the Litestar API and dashboard on `--host`/`--port`
and the scheduler. `paper` is `serve` with the paper preset (simulated market, dev chain,
rules advisor, SQLite under `./var`); without `TREASURY_API_TOKENS` it generates an approver
token, keeps it in the data directory, and prints it with the URL. `run` is the scheduler
alone. All stop cleanly on SIGTERM and SIGINT.

Several of them may share one database: each takes part in the leader election
(`entrypoints.election`), and only the leader runs cycles and executions. A process tries once
to lead before it answers requests, so a lone instance has settled unfinished steps first.

One service per data directory (when the directory holds the SQLite database or the chain runs
in the process): each command takes the data directory's instance lock before it writes
anything, and a second one refuses to start, naming the running one (pid, host, URL). The
kernel drops the lock when the process ends, even by SIGKILL, so a restart after a crash is
never blocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Annotated

import typer
import uvicorn
from pydantic import ValidationError

from adapters.locks import DataDirectoryInUse, InstanceLock
from adapters.persistence.errors import SchemaBehind
from application.errors import ApplicationError
from domain.errors import DomainError
from entrypoints.api.app import create_app
from entrypoints.api.auth import TokenConfigError, TokenRegistry
from entrypoints.api.rate_limits import ApiLimits
from entrypoints.cli.exit_codes import ExitCode
from entrypoints.container import AppSettings, Runtime, StartupRefused, bootstrap, paper_tokens
from entrypoints.dashboard.routes import dashboard_routes
from entrypoints.heap import freeze_start_up_heap
from entrypoints.logging_setup import configure_logging
from entrypoints.paper_routes import paper_routes
from entrypoints.scheduler import Scheduler, SchedulerConfig
from entrypoints.settings.service import Mode

log = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077

HostOption = Annotated[str | None, typer.Option("--host", help="Interface to listen on.")]
PortOption = Annotated[int | None, typer.Option("--port", help="TCP port to listen on.")]
CyclesOption = Annotated[
    int | None, typer.Option("--cycles", min=1, help="Stop after this many cycles.")
]


def _settings(mode: Mode | None, host: str | None, port: int | None) -> AppSettings:
    overrides: dict[str, object] = {}
    if mode is not None:
        overrides["mode"] = mode
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    try:
        settings = AppSettings.load(**overrides)
        # Checked now, not once the chain and database are open: a bad token list is a
        # setting like any other.
        TokenRegistry.parse(settings.service.api_tokens.get_secret_value())
    except ValidationError as exc:
        raise _fail(_setting_problem(exc), ExitCode.USAGE) from None
    except TokenConfigError as exc:
        raise _fail(f"{exc}; {_FIX}", ExitCode.USAGE) from None
    return settings


_FIX = "fix the setting and start again"
_SECRET_NAME = re.compile(r"(key|token|secret|passphrase|password|private|url)", re.IGNORECASE)


def _setting_problem(exc: ValidationError) -> str:
    """The first invalid setting as one line: its environment name, the problem and the value
    (never the value of a setting that may hold a secret)."""
    error = exc.errors()[0]
    name = "TREASURY_" + "_".join(str(part) for part in error["loc"]).upper()
    shown = "" if _SECRET_NAME.search(name) else f" (got {error.get('input')!r})"
    return f"{name}: {error['msg']}{shown}; {_FIX}"


def _fail(message: str, code: ExitCode = ExitCode.FAILURE) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@contextlib.contextmanager
def one_instance(settings: AppSettings, *, serving: bool = True) -> Iterator[None]:
    """Hold the data directory's instance lock for the block (see module doc).

    Raises:
        typer.Exit: another service holds the data directory (the message names it).
    """
    if not _data_directory_is_exclusive(settings):
        yield
        return
    lock = InstanceLock(settings.database.data_dir)
    try:
        lock.acquire(
            url=settings.service.public_url if serving else None,
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
    except DataDirectoryInUse as exc:
        raise _fail(str(exc)) from None
    try:
        yield
    finally:
        lock.release()


def _data_directory_is_exclusive(settings: AppSettings) -> bool:
    """Whether this service must be the only one on its data directory: when the directory
    holds its database (SQLite) or its chain lives in this process. Instances sharing a
    PostgreSQL database and an outside node may share a directory: the leader election
    decides which one runs cycles and executions (docs/high-availability.md)."""
    on_postgres = settings.database.database_url is not None and (
        settings.database.resolved_database_url().startswith("postgresql")
    )
    in_process_chain = settings.paper and not settings.devchain.devchain_rpc_url
    return not on_postgres or in_process_chain


async def _open(settings: AppSettings) -> Runtime:
    try:
        return await bootstrap(settings)
    except (StartupRefused, SchemaBehind) as exc:
        raise _fail(str(exc)) from None
    except (ApplicationError, DomainError, OSError) as exc:
        raise _fail(f"the service could not start: {exc}") from None


def _scheduler(runtime: Runtime, cycles: int | None) -> Scheduler:
    interval = runtime.settings.service.cycle_interval_s or 3600.0
    return Scheduler(
        runtime.services,
        SchedulerConfig(interval_s=interval, max_cycles=cycles),
        before_cycle=runtime.before_cycle,
        leadership=runtime.election,
    )


async def _elect(runtime: Runtime) -> asyncio.Task[None]:
    """Try once to lead, then keep the election going in the background."""
    await runtime.election.try_lead(runtime.take_over)
    # Start-up is over (a leader has deployed, recovered and resumed): what exists now lives
    # as long as the process, so later collections need not walk it (entrypoints.heap).
    freeze_start_up_heap()
    return asyncio.create_task(
        runtime.election.run(take_over=runtime.take_over, while_leading=runtime.while_leading),
        name="election",
    )


async def _end(task: asyncio.Task[None], timeout_s: float) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=timeout_s)


class _ServiceServer(uvicorn.Server):
    """uvicorn's server that ends the scheduler and the election inside its own shutdown.

    uvicorn re-raises the stop signal (SIGTERM, SIGINT) once `serve()` returns, which kills the
    process before any code after `serve()` runs; a cycle in progress would be cut off and
    "scheduler stopped" never said. So the background work ends here, while the server shuts
    down: the cycle in progress finishes, then the HTTP side closes.
    """

    def __init__(self, config: uvicorn.Config, end_work: Callable[[], Awaitable[None]]) -> None:
        super().__init__(config)
        self._end_work = end_work

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await self._end_work()
        finally:
            await super().shutdown(sockets)


async def serve_forever(settings: AppSettings, *, cycles: int | None = None) -> None:
    """Open the service, serve HTTP and run the scheduler until a stop signal."""
    runtime = await _open(settings)
    try:
        electing = await _elect(runtime)
        scheduler = _scheduler(runtime, cycles)
        extra = [*dashboard_routes()]
        if runtime.settings.paper:
            extra.extend(paper_routes(runtime))
        limits = ApiLimits.from_settings(settings.service)
        app = create_app(runtime.services, runtime.tokens, extra_routes=extra, limits=limits)
        config = uvicorn.Config(
            app,
            host=settings.service.host,
            port=settings.service.port,
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=10,
        )
        schedule = asyncio.create_task(scheduler.run(), name="scheduler")

        async def end_work() -> None:
            scheduler.stop()
            runtime.election.stop()
            await _end(schedule, 60)
            await _end(electing, 60)

        server = _ServiceServer(config, end_work)
        try:
            await server.serve()
        finally:
            await end_work()
    finally:
        await runtime.aclose()


async def run_scheduler(settings: AppSettings, *, cycles: int | None = None) -> None:
    """Open the service and run the scheduler alone until a stop signal."""
    runtime = await _open(settings)
    try:
        electing = await _elect(runtime)
        scheduler = _scheduler(runtime, cycles)
        scheduler.install_signal_handlers()
        try:
            await scheduler.run()
        finally:
            runtime.election.stop()
            await _end(electing, 60)
    finally:
        await runtime.aclose()


def _start_logging(settings: AppSettings) -> None:
    # Every file the service creates (database, state, keys, caches) is the owner's alone.
    os.umask(PRIVATE_UMASK)
    configure_logging(settings.service.log_level, json=settings.service.log_json)


def serve(host: HostOption = None, port: PortOption = None, cycles: CyclesOption = None) -> None:
    """Run the whole service: API, dashboard and scheduler, adapters as the settings say."""
    settings = _settings(None, host, port)
    _start_logging(settings)
    with one_instance(settings):
        asyncio.run(serve_forever(settings, cycles=cycles))


def paper(host: HostOption = None, port: PortOption = None, cycles: CyclesOption = None) -> None:
    """Run the paper-trading service: simulated market, dev chain, a $400K treasury."""
    base = _settings(Mode.PAPER, host, port)
    with one_instance(base):
        settings, token = paper_tokens(base)
        _start_logging(settings)
        url = settings.service.public_url
        typer.echo(
            f"treasury paper trading: {url}  (dashboard at {url}/, API schema at {url}/schema)"
        )
        if token is not None:
            typer.echo(
                f"operator token (approver role; kept in {settings.database.data_dir}/api_token):"
            )
            typer.echo(f"  {token}")
        asyncio.run(serve_forever(settings, cycles=cycles))


def run(cycles: CyclesOption = None) -> None:
    """Run the scheduler alone (no API): a decision cycle every TREASURY_CYCLE_INTERVAL_S."""
    settings = _settings(None, None, None)
    _start_logging(settings)
    with one_instance(settings, serving=False):
        asyncio.run(run_scheduler(settings, cycles=cycles))
