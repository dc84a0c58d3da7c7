"""Preflight of the market sources: one fetch, then one line per source from its health."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from application.errors import MarketDataUnavailable
from application.ports.market import MarketDataSource, SourceStatus
from application.ports.preflight import CheckResult

logger = logging.getLogger(__name__)

# The setting an operator changes when a source's key is refused, per source.
KEY_SETTINGS: Mapping[str, str] = {
    "coingecko": "TREASURY_COINGECKO_API_KEY",
    "glassnode": "TREASURY_GLASSNODE_API_KEY",
    "coinglass": "TREASURY_COINGLASS_API_KEY",
}
URL_SETTINGS: Mapping[str, str] = {
    "coingecko": "TREASURY_COINGECKO_BASE_URL",
    "glassnode": "TREASURY_GLASSNODE_BASE_URL",
    "coinglass": "TREASURY_COINGLASS_BASE_URL",
    "alternative.me": "TREASURY_FEAR_GREED_BASE_URL",
    "deribit": "TREASURY_DERIBIT_BASE_URL",
}
# Live mode runs without these: Glassnode falls back to the manual MVRV, Deribit's fields are
# extras. Their failures are shown but do not fail the preflight.
OPTIONAL_SOURCES = frozenset({"glassnode", "deribit"})


def _fix(source: str, error: str) -> str:
    if ("HTTP 401" in error or "HTTP 403" in error) and source in KEY_SETTINGS:
        return f"the key was refused: set a valid {KEY_SETTINGS[source]}"
    if "not configured" in error and source in KEY_SETTINGS:
        return f"set {KEY_SETTINGS[source]} (or `treasury market set-mvrv` for the MVRV)"
    where = URL_SETTINGS.get(source, "its base URL setting")
    return f"check {where} and that the service answers"


class MarketSourcesCheck:
    """Reads the market once and reports each source: ok, degraded or down (with the fix)."""

    name = "market"

    def __init__(self, market: MarketDataSource) -> None:
        self._market = market

    async def run(self) -> Sequence[CheckResult]:
        """One line per source; never raises."""
        try:
            await self._market.fetch()
        except MarketDataUnavailable as exc:
            # No source answered; the per-source health below says why, source by source.
            logger.info("preflight market fetch found no data", extra={"error": str(exc)})
        results = []
        for health in await self._market.health():
            source = health.source
            name = f"market source {source}"
            required = source not in OPTIONAL_SOURCES
            error = health.last_error or ""
            if health.status is SourceStatus.OK:
                results.append(CheckResult(name=name, ok=True, detail="answers", required=required))
            elif health.status is SourceStatus.DEGRADED:
                results.append(
                    CheckResult(name=name, ok=True, detail=f"degraded: {error}", required=required)
                )
            else:
                results.append(
                    CheckResult(
                        name=name,
                        ok=False,
                        detail=error or "no answer",
                        fix=_fix(source, error),
                        required=required,
                    )
                )
        return results
