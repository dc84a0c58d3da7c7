"""Finding the servers integration tests need: skip locally when absent, fail under CI."""

from __future__ import annotations

import os
import socket

import pytest


def in_ci() -> bool:
    """Whether the suite runs under CI (CI=true), where a missing server is a failure."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_server(name: str, available: bool, hint: str) -> None:
    """Skip (locally) or fail (in CI) a test whose server is missing."""
    if available:
        return
    message = f"{name} is not available: {hint}"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)
