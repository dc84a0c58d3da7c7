"""Servers the browser tests drive: the real app on a real socket, over fakes or in paper mode.

`fake_dashboard_server` serves `create_app(...)` with the dashboard over the application fakes
with uvicorn in a thread; `paper_dashboard_server` runs `treasury paper` in a subprocess. Both
yield the same `DashboardServer`, so the tests do not care which one runs.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from unittest.mock import patch

import httpx
import uvicorn

from application.operator import EmergencyStop
from application.revocation import RevokeAgentRole
from entrypoints.api import app as api_app
from entrypoints.api.app import create_app
from entrypoints.api.auth import TokenRegistry
from entrypoints.api.services import Services
from entrypoints.dashboard import dashboard_routes
from tests.e2e.harness import free_port
from tests.unit.application.conftest import Treasury, build_treasury
from tests.unit.application.test_owner_signatures import FakeOwnerProposals
from tests.unit.application.test_stop_revocation import FakeRevocation
from tests.unit.entrypoints.test_api import services_for

VIEWER = "dash-viewer-token-0000001"
OPERATOR = "dash-operator-token-00001"
APPROVER = "dash-approver-token-00001"

D = Decimal

# Half invested, half idle: a forced rebalance moves more than $50K, so it waits for approval.
HALF_INVESTED = {
    ("aave", "USDC"): D(48_000),
    ("pendle", "PT-USDC"): D(36_000),
    ("curve", "3CRV"): D(36_000),
    ("wallet", "WBTC"): D(24_000),
    ("wallet", "WETH"): D(24_000),
}


@dataclass
class DashboardServer:
    """A running service with the dashboard, and its three tokens."""

    url: str
    viewer: str
    operator: str
    approver: str
    move_market: Callable[[], None]
    fund: Callable[[Decimal], None]

    def client(self, token: str | None = None) -> httpx.Client:
        """An HTTP client for the JSON API, optionally with a bearer token."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def create_pending_decision(self) -> str:
        """Receive new funds, then force a decision cycle: deploying them takes steps above
        $50K, so the plan waits for approval. Returns the decision id."""
        self.fund(D(300_000))
        with self.client(self.operator) as api:
            response = api.post("/portfolio/rebalance", json={"force": True})
        assert response.status_code == 403, response.text
        decision_id: str = response.json()["decision_id"]
        return decision_id


def _with_revocation(services: Services, treasury: Treasury) -> Services:
    """Safe custody's emergency stop over the fakes: the stop prepares the owners' revocation
    of the agent's role (`FakeRevocation`; owner i signs with 65 bytes of i + 1)."""
    chain = FakeRevocation(treasury.uow)
    revoke = RevokeAgentRole(
        clock=treasury.clock, uow=treasury.uow, owners=FakeOwnerProposals(), revocation=chain
    )
    stop = EmergencyStop(clock=treasury.clock, uow=treasury.uow, revocation=revoke)
    return replace(services, emergency_stop=stop, revocation=revoke)


@contextmanager
def fake_dashboard_server(
    without: Sequence[object] = (), *, safe_custody: bool = False
) -> Iterator[DashboardServer]:
    """The real app and dashboard over in-memory fakes, on 127.0.0.1 and a free port;
    `without` lists API route handlers the server leaves out (an older server); with
    `safe_custody` the emergency stop also prepares the owners' revocation of the agent."""
    treasury = build_treasury(cash=200_000, holdings=HALF_INVESTED)
    tokens = TokenRegistry.parse(f"{VIEWER}:viewer,{OPERATOR}:operator,{APPROVER}:approver")
    kept = [r for r in api_app.ROUTES if r not in without]
    services = services_for(treasury)
    if safe_custody:
        services = _with_revocation(services, treasury)
    with patch.object(api_app, "ROUTES", kept):
        app = create_app(services, tokens, extra_routes=dashboard_routes())
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="dashboard-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the dashboard test server did not start")
        time.sleep(0.05)

    def fund(usd: Decimal) -> None:
        # A day later, so the daily trade limit counts a fresh day.
        treasury.clock.advance(timedelta(days=1))
        treasury.book.cash += usd

    def move_market() -> None:
        data = treasury.market.data
        assert data.btc_price is not None
        treasury.market.set(btc_price=data.btc_price + D("1234.5"))

    running = DashboardServer(
        url=f"http://127.0.0.1:{port}",
        viewer=VIEWER,
        operator=OPERATOR,
        approver=APPROVER,
        move_market=move_market,
        fund=fund,
    )
    try:
        # One executed rebalance first, so positions, transactions and audit have content.
        # Deploying the idle half trades more than $50K, so it waits for an approver.
        with running.client(OPERATOR) as api:
            seeded = api.post("/portfolio/rebalance", json={"force": True})
        if seeded.status_code == 403:
            with running.client(APPROVER) as api:
                seeded = api.post(
                    f"/decisions/{seeded.json()['decision_id']}/approve", json={"approved": True}
                )
        if seeded.status_code != 202:
            raise RuntimeError(f"seeding the fake treasury failed: {seeded.text}")
        yield running
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@contextmanager
def paper_dashboard_server(data_dir: Path | None = None) -> Iterator[DashboardServer]:
    """`treasury paper` in a subprocess; its simulated market moves on its own."""
    from tests.e2e import harness

    with ExitStack() as stack:
        if data_dir is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dash-")))
        paper = stack.enter_context(
            harness.paper_server(data_dir, TREASURY_CYCLE_INTERVAL_S="3600")
        )

        def move_market() -> None:
            # Three simulated days trade the dev pool's volume and push prices block by block:
            # on a loaded two-core machine that can take longer than a page request.
            with paper.client(harness.OPERATOR, timeout_s=180) as api:
                response = api.post("/paper/advance", json={"days": 3})
            assert response.status_code == 200, response.text

        def fund(usd: Decimal) -> None:
            with paper.client(harness.APPROVER) as api:
                response = api.post("/paper/fund", json={"usd": int(usd)})
            assert response.status_code == 200, response.text
            move_market()  # a fresh day for the trade limit

        running = DashboardServer(
            url=paper.url,
            viewer=harness.VIEWER,
            operator=harness.OPERATOR,
            approver=harness.APPROVER,
            move_market=move_market,
            fund=fund,
        )
        _trade_once(running)
        yield running


def _trade_once(running: DashboardServer) -> None:
    """New capital deployed by one executed plan, so transactions and positions have content.

    Waits until that plan's steps are all settled: the seed's steps are confirmed already, so
    "some step confirmed" would return while the new plan is still being sent."""
    with running.client() as api:
        confirmed_before = sum(s["status"] == "confirmed" for s in api.get("/transactions").json())
    running.fund(D(100_000))
    with running.client(running.operator) as api:
        response = api.post("/portfolio/rebalance", json={"force": True})
    if response.status_code == 403:
        decision_id = response.json()["decision_id"]
        with running.client(running.approver) as api:
            answer = api.post(f"/decisions/{decision_id}/approve", json={"approved": True})
        assert answer.status_code == 202, answer.text
    else:
        assert response.status_code == 202, response.text
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        with running.client() as api:
            steps = api.get("/transactions").json()
        confirmed = sum(s["status"] == "confirmed" for s in steps)
        unsettled = [s for s in steps if s["status"] in {"planned", "signed", "broadcast"}]
        if confirmed > confirmed_before and not unsettled:
            return
        time.sleep(0.25)
    raise RuntimeError(f"the paper treasury did not finish trading: {steps}")
