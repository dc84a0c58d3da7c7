"""Logging, configured once: structlog renders stdlib records as console text for a person at
a terminal, JSON otherwise (or as `TREASURY_LOG_JSON` says).

A redaction processor masks values of keys that look secret and any string that equals a
registered secret, as a last line of defence; the first is never passing secrets to loggers.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

import structlog

_SECRET_KEY = re.compile(r"(key|token|secret|passphrase|password|private|authorization)", re.I)
_known_secrets: set[str] = set()
MASK = "***"


def register_secrets(values: Iterable[str | None]) -> None:
    """Remember secret values so that the log pipeline masks them wherever they appear."""
    _known_secrets.update(v for v in values if v and len(v) >= 6)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        for secret in _known_secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        return value
    if isinstance(value, dict):
        return {k: (MASK if _SECRET_KEY.search(str(k)) else _scrub(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_scrub(v) for v in value)
    return value


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: mask secret-looking keys and known secret values."""
    for key in list(event):
        if _SECRET_KEY.search(key) and key not in {"event"}:
            event[key] = MASK
        else:
            event[key] = _scrub(event[key])
    return event


def renders_json(json: bool | None, stream: TextIO) -> bool:
    """JSON when asked (`TREASURY_LOG_JSON=true`) or, unless asked otherwise, when `stream`
    is not a terminal (a file, a pipe, a log collector); readable text for a person."""
    if json is not None:
        return json
    isatty = getattr(stream, "isatty", None)
    return not (callable(isatty) and isatty())


def configure_logging(
    level: str = "INFO", json: bool | None = None, stream: TextIO | None = None
) -> None:
    """Route stdlib logging through structlog's renderer, with redaction, to `stream`
    (stderr by default): JSON or console text as `renders_json` decides."""
    out = stream if stream is not None else sys.stderr
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        redact,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if renders_json(json, out)
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, redact, renderer],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
