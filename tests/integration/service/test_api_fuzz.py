"""The whole HTTP API fuzzed from its own OpenAPI schema (schemathesis), in-process.

The real app from `create_app` runs over a real SQLite unit of work, with fakes only for the
market, the chain and the advisor. Every operation gets valid and invalid inputs (schemathesis'
positive and negative modes, derandomized so each run sends the same requests). Two properties
hold for every request: no answer is a 5xx, and a rejected request (4xx) stores nothing: every
table keeps its row count. The 403 and 422 of `POST /portfolio/rebalance` that carry a
`decision_id` are not rejections: the cycle ran and recorded its decision, as it must.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from litestar import Litestar
from schemathesis import openapi
from schemathesis.generation import GenerationMode

from adapters.persistence import migrate
from adapters.persistence.engine import create_engine, sqlite_url
from adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from entrypoints.api.app import create_app
from entrypoints.api.rate_limits import ApiLimits
from entrypoints.dashboard import dashboard_routes
from tests.fakes.treasury import FixedClock
from tests.unit.application.conftest import build_treasury
from tests.unit.entrypoints.test_api import APPROVER, TOKENS, services_for

pytestmark = pytest.mark.slow(seconds=45)

# Bounded so the whole run stays well under a minute on a loaded two-core machine.
EXAMPLES_PER_OPERATION = 25
# Room for every fuzzed request: the limits themselves are tested in tests/unit/entrypoints.
NO_LIMITS = ApiLimits(rebalances_per_minute=100_000, mutations_per_minute=100_000)


def _migrated(database: Path) -> None:
    async def upgrade() -> None:
        engine = create_engine(sqlite_url(database.parent, database.name))
        try:
            await migrate.upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(upgrade())


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fuzz") / "treasury.db"
    _migrated(path)
    return path


@pytest.fixture(scope="module")
def app(database: Path) -> Litestar:
    # The engine connects lazily, inside the event loop that serves the app.
    engine = create_engine(sqlite_url(database.parent, database.name))

    def sql_uow(clock: FixedClock) -> SqlUnitOfWorkFactory:
        return SqlUnitOfWorkFactory(engine, clock=clock.now)

    treasury = build_treasury(cash=400_000, uow_factory=sql_uow)
    return create_app(
        services_for(treasury), TOKENS, extra_routes=dashboard_routes(), limits=NO_LIMITS
    )


@pytest.fixture(scope="module")
def api_schema(app: Litestar) -> Any:
    return openapi.from_asgi("/schema/openapi.json", app)


def row_counts(database: Path) -> dict[str, int]:
    """Rows in every table, read beside the app through SQLite itself."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        tables = [
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'alembic_version'"
            )
        ]
        return {t: connection.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}  # noqa: S608


def recorded_a_decision(response: Any) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and "decision_id" in body


def test_no_request_gets_a_server_error_and_no_rejected_request_stores_anything(
    api_schema: Any, database: Path
) -> None:
    sent: Counter[str] = Counter()

    def check(case: Any) -> None:
        before = row_counts(database)
        response = case.call(headers={"Authorization": f"Bearer {APPROVER}"})
        sent[f"{case.method} {case.path} {response.status_code}"] += 1
        where = (case.method, case.formatted_path, case.query, case.body, response.text[:300])
        assert response.status_code < 500, where
        if 400 <= response.status_code < 500 and not recorded_a_decision(response):
            assert row_counts(database) == before, where

    operations = [result.ok() for result in api_schema.get_all_operations()]
    no_invalid_variant: list[str] = []
    assert len(operations) >= 15
    for operation in operations:
        inputs = len(operation.query) + len(operation.path_parameters) + len(operation.body)
        # An operation without inputs has no invalid variant to send.
        modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if inputs else [])
        for mode in modes:
            fuzz = settings(
                max_examples=EXAMPLES_PER_OPERATION,
                derandomize=True,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )(given(case=operation.as_strategy(generation_mode=mode))(check))
            try:
                fuzz()
            except Unsatisfiable:
                # Every value fits the schema (an id is any string): no invalid variant exists.
                assert mode is GenerationMode.NEGATIVE, operation.label
                no_invalid_variant.append(operation.label)
    # Every body was fuzzed with invalid variants too.
    assert not [op.label for op in operations if len(op.body) and op.label in no_invalid_variant]
    # Every operation was reached, and some requests got past validation to the use cases.
    assert len({key.rsplit(" ", 1)[0] for key in sent}) >= len(operations)
    assert any(key.endswith((" 200", " 202", " 403")) for key in sent), sent
