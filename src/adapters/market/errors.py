"""Typed failures of market data sources. Each names its source; `permanent` ones (bad keys,
malformed answers, missing configuration) are not retried."""

from __future__ import annotations

from decimal import Decimal

from application.errors import MarketDataUnavailable


class SourceUnreachable(MarketDataUnavailable):
    """The source could not be reached (connection refused, DNS, reset)."""


class SourceTimedOut(SourceUnreachable):
    """The source did not answer within its time budget."""

    def __init__(self, source: str, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(source, f"no answer within {seconds:.1f} s")


class SourceHttpError(MarketDataUnavailable):
    """The source answered with an HTTP error status (5xx and 408 are retryable)."""

    def __init__(self, source: str, status: int, detail: str = "") -> None:
        self.status = status
        reason = f"HTTP {status}" + (f": {detail}" if detail else "")
        super().__init__(source, reason, permanent=not (status >= 500 or status == 408))


class SourceAuthFailed(SourceHttpError):
    """The source refused our credentials or plan (401/403): an operator must fix the key."""


class SourceRateLimited(SourceHttpError):
    """The source rate-limited us (429); `retry_after` is how long it asked us to wait."""

    def __init__(self, source: str, retry_after: Decimal | None, detail: str = "") -> None:
        self.retry_after = retry_after
        wait = f" (retry after {retry_after} s)" if retry_after is not None else ""
        super().__init__(source, 429, (detail + wait).strip())
        self.permanent = False


class MalformedPayload(MarketDataUnavailable):
    """The source answered 200 with something we cannot read (bad JSON, missing or wrong fields)."""

    def __init__(self, source: str, detail: str) -> None:
        super().__init__(source, f"malformed payload: {detail}", permanent=True)


class SourceNotConfigured(MarketDataUnavailable):
    """The source needs a setting (an API key) that is not set."""

    def __init__(self, source: str, detail: str) -> None:
        super().__init__(source, f"not configured: {detail}", permanent=True)
