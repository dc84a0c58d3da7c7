"""Fixtures for notification integration tests: loopback fake services, a client, a log."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from adapters.persistence.deliveries import InMemoryDeliveryLog
from tests.integration.notify.fake_services import FakeService
from tests.servers import port_open, require_server


@pytest.fixture
def service() -> Iterator[FakeService]:
    """A fake HTTP service on 127.0.0.1."""
    fake = FakeService().start()
    host, port = fake.url.removeprefix("http://").split(":")
    require_server("loopback fake service", port_open(host, int(port)), "cannot bind 127.0.0.1")
    yield fake
    fake.stop()


@pytest.fixture
def second_service() -> Iterator[FakeService]:
    """Another fake HTTP service on 127.0.0.1."""
    fake = FakeService().start()
    yield fake
    fake.stop()


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL where nothing listens (a channel that is down)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client like the service's."""
    async with httpx.AsyncClient() as http:
        yield http


@pytest.fixture
def delivery_log() -> InMemoryDeliveryLog:
    """An in-memory delivery log."""
    return InMemoryDeliveryLog()
