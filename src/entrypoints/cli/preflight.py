"""`treasury preflight`: read-only checks of everything live mode needs, one line each.

Exit 0 only when every required check passed (live mode would work); 1 otherwise. A service
that cannot even start is one failed line naming the cause. Nothing is sent anywhere.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Annotated

import typer

from adapters.persistence.errors import SchemaBehind
from application.errors import ApplicationError
from application.ports.preflight import CheckResult
from application.preflight import PreflightReport
from domain.errors import DomainError
from entrypoints.api.app import preflight_body
from entrypoints.cli.exit_codes import ExitCode
from entrypoints.cli.output import print_json
from entrypoints.container import AppSettings, StartupRefused, bootstrap, paper_tokens
from entrypoints.settings.service import AdvisorChoice
from entrypoints.wiring.preflight import preflight_for

log = logging.getLogger(__name__)


def line(result: CheckResult) -> str:
    """`ok     name: detail` or `failed name: detail; fix: ...` (optional failures say so)."""
    if result.ok:
        return f"ok      {result.name}: {result.detail}"
    label = "failed" if result.required else "warning"
    fix = f" -> fix: {result.fix}" if result.fix else ""
    return f"{label:<7} {result.name}: {result.detail}{fix}"


def report_json(report: PreflightReport) -> dict[str, object]:
    """The report for machines: the same shape as `GET /health?deep=true`."""
    return preflight_body(report)


def startup_settings(settings: AppSettings) -> AppSettings:
    """The settings the preflight opens the runtime with: the same, except that Claude is not
    asked at start-up. The service refuses to start on an unknown model; the preflight's own
    Claude check reports that (and a missing or refused key) as its line, beside the others."""
    if settings.service.advisor is not AdvisorChoice.CLAUDE:
        return settings
    service = settings.service.model_copy(update={"advisor": AdvisorChoice.RULES})
    return replace(settings, service=service)


async def run_preflight(settings: AppSettings) -> PreflightReport:
    """Open the runtime as the service would, run the checks, close it again."""
    try:
        runtime = await bootstrap(startup_settings(settings))
    except (StartupRefused, SchemaBehind, ApplicationError, DomainError, OSError) as exc:
        fix = "run `treasury db upgrade`" if isinstance(exc, SchemaBehind) else "see the cause"
        if isinstance(exc, StartupRefused):
            fix = "set what the message names"
        # The line below is what the operator reads; the traceback is for debugging only.
        log.debug("preflight: the service could not start", exc_info=True)
        return PreflightReport(
            results=(CheckResult(name="start-up", ok=False, detail=str(exc), fix=fix),)
        )
    try:
        return await preflight_for(settings, runtime.market, runtime.chain).execute()
    finally:
        await runtime.aclose()


def preflight(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """Check, without sending anything, that every API, the node, the keystore, the protocol
    contracts and the advisor answer as live mode needs (paper mode: its simulated world)."""
    settings, _ = paper_tokens(AppSettings.load())
    report = asyncio.run(run_preflight(settings))
    if as_json:
        print_json(report_json(report))
    else:
        for result in report.results:
            typer.echo(line(result))
        verdict = "live mode would work" if report.ok else f"{len(report.failures)} failed"
        typer.echo(f"preflight: {verdict}")
    if not report.ok:
        raise typer.Exit(ExitCode.FAILURE)
