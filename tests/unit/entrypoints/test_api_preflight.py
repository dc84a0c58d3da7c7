"""GET /health?deep=true: the preflight for operators and approvers, as JSON."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import replace

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from application.ports.preflight import CheckResult
from application.preflight import Preflight
from entrypoints.api.app import create_app
from tests.unit.application.conftest import build_treasury
from tests.unit.entrypoints.test_api import APPROVER, OPERATOR, TOKENS, VIEWER, auth, services_for

Client = AsyncTestClient[Litestar]


class Scripted:
    def __init__(self, name: str, *results: CheckResult) -> None:
        self.name = name
        self.results = results

    async def run(self) -> Sequence[CheckResult]:
        return self.results


GOOD = CheckResult(name="rpc chain id", ok=True, detail="chain 1")
BAD = CheckResult(
    name="claude model",
    ok=False,
    detail="the Anthropic API has no model 'claude-x' (404)",
    fix="set TREASURY_CLAUDE_MODEL to a current model id",
)


@pytest.fixture
async def client() -> AsyncIterator[tuple[Client, Scripted]]:
    check = Scripted("chain", GOOD)
    services = replace(services_for(build_treasury(cash=400_000)), preflight=Preflight([check]))
    async with AsyncTestClient(app=create_app(services, TOKENS)) as c:
        yield c, check


async def test_deep_health_needs_an_operator_or_approver_token(
    client: tuple[Client, Scripted],
) -> None:
    c, _ = client
    assert (await c.get("/health", params={"deep": "true"})).status_code == 401
    viewer = await c.get("/health", params={"deep": "true"}, headers=auth(VIEWER))
    assert viewer.status_code == 403
    for token in (OPERATOR, APPROVER):
        answer = await c.get("/health", params={"deep": "true"}, headers=auth(token))
        assert answer.status_code == 200
    assert (await c.get("/health")).status_code == 200  # the shallow health stays public


async def test_deep_health_returns_every_check_with_its_fix_and_500_when_one_fails(
    client: tuple[Client, Scripted],
) -> None:
    c, check = client
    check.results = (GOOD, BAD)
    answer = await c.get("/health", params={"deep": "true"}, headers=auth(OPERATOR))
    assert answer.status_code == 500
    assert answer.json() == {
        "ok": False,
        "checks": [
            {
                "name": "rpc chain id",
                "ok": True,
                "required": True,
                "detail": "chain 1",
                "fix": None,
            },
            {
                "name": "claude model",
                "ok": False,
                "required": True,
                "detail": "the Anthropic API has no model 'claude-x' (404)",
                "fix": "set TREASURY_CLAUDE_MODEL to a current model id",
            },
        ],
    }
