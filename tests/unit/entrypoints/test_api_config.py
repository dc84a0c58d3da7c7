"""`GET /config`: the strategy's limits in force, for any holder of a token."""

from __future__ import annotations

from dataclasses import replace

from litestar.testing import AsyncTestClient

from application.queries import GetLimitsInForce
from domain.strategy import StrategyConfig
from entrypoints.api.app import create_app
from tests.unit.application.conftest import build_treasury
from tests.unit.entrypoints.test_api import TOKENS, VIEWER, auth, services_for


async def test_the_limits_in_force_are_visible_to_a_viewer_and_not_anonymously() -> None:
    limits = StrategyConfig().limits_in_force()
    services = replace(services_for(build_treasury()), limits=GetLimitsInForce(limits=limits))
    async with AsyncTestClient(app=create_app(services, TOKENS)) as client:
        anonymous = await client.get("/config")
        seen = await client.get("/config", headers=auth(VIEWER))

    assert anonymous.status_code == 401
    assert seen.status_code == 200
    body = seen.json()["limits"]
    assert body["approval_threshold_usd"] == "50000"
    assert body["gas_cap_gwei"] == "100"
    assert body["max_advisor_deviation"] == "0.10"
    assert body["cash_buffer_share"] == "0.01"
