"""The learning loop end to end: a decision is recorded, its outcome is measured after the
horizon from the stored snapshots and market data, and the next prompt summarises it."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

from application.learning import OutcomeConfig, RecordDecisionOutcomes
from tests.integration.advisors.conftest import DeskFactory
from tests.integration.advisors.fake_messages_api import FakeMessagesApi, tool_reply
from tests.integration.advisors.test_claude_cycle import decision_input

D = Decimal
# At its euphoria targets with its idle cash swept into the base venues (each at 24.5 %).
BALANCED = {
    ("aave", "USDC"): D(98_000),
    ("pendle", "PT-USDC"): D(98_000),
    ("curve", "3CRV"): D(98_000),
    ("wallet", "WBTC"): D(48_000),
    ("wallet", "WETH"): D(48_000),
}


def hold() -> dict[str, object]:
    return decision_input() | {"decision": "hold", "reasoning": "On target; nothing to do."}


async def test_a_measured_outcome_reaches_the_next_prompt(
    make_desk: DeskFactory, messages_api: FakeMessagesApi
) -> None:
    desk = await make_desk(cash=10_000, holdings=BALANCED)
    messages_api.add(tool_reply(hold()), tool_reply(hold()), tool_reply(hold()))
    desk.market.set(timestamp=desk.clock.now())
    first = await desk.run()
    desk.clock.advance(timedelta(days=7))
    # Both up 10 % a week later.
    desk.market.set(btc_price=D(66_000), eth_price=D(3_300), timestamp=desk.clock.now())
    await desk.run()
    desk.clock.advance(timedelta(hours=1))

    report = await RecordDecisionOutcomes(
        clock=desk.clock, uow=desk.uow, config=OutcomeConfig(horizon_days=7)
    ).execute()
    await desk.run()

    assert report.skipped == {}
    assert [o.decision_id for o in report.recorded] == [first.decision.id]
    outcome = report.recorded[0]
    assert outcome.portfolio_return == D("0.024")  # 96,000 of BTC/ETH up 10 % on 400,000
    # The yield positions ($294,000 of $400,000: 60 % base plus 13.5 % swept) earn 5 % a year.
    assert outcome.hold_return == D("0.024") + D("0.735") * D("0.05") * 7 / 365
    user = messages_api.requests[-1].body["messages"][0]["content"]
    data = json.loads(user.split("```json\n", 1)[1].rsplit("\n```", 1)[0])
    assert data["recent_outcomes"]["decisions"][0]["decision_id"] == first.decision.id
    assert data["recent_outcomes"]["summary"].startswith(
        "0 of the last 1 measured decisions beat holding"
    )
