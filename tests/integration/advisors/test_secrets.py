"""The Anthropic API key appears in no log line, error text or stored record."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from application.errors import AdvisorUnavailable
from application.ports.advisor import AdvisorRequest
from domain.safety import SafetyLimits
from domain.signals import generate_signal
from domain.tactical import RatchetState
from tests.integration.advisors.conftest import API_KEY, DeskFactory
from tests.integration.advisors.fake_messages_api import (
    FakeMessagesApi,
    Reply,
    overloaded,
    text_reply,
    tool_reply,
)
from tests.integration.advisors.test_claude_cycle import decision_input
from tests.unit.domain.builders import NOW, balanced_400k, market


async def test_the_api_key_is_in_no_log_error_or_record(
    make_desk: DeskFactory,
    messages_api: FakeMessagesApi,
    engine: AsyncEngine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # the SDK's and httpx's debug lines too
    desk = await make_desk(timeout_s=0.5, max_retries=1)
    broken = decision_input()
    broken["reasoning"] = ""
    slow = tool_reply(decision_input())
    messages_api.add(
        tool_reply(decision_input()),
        overloaded(),
        text_reply(f"the key you sent was {API_KEY}"),
        tool_reply(broken),
        Reply(slow.status, slow.body, delay_s=2.0),
    )
    reasons: list[str] = []
    for _ in range(4):
        result = await desk.run()
        reasons.append(result.decision.fallback_reason or "")
        desk.clock.advance(timedelta(hours=1))
    # An error text that quotes the key back is scrubbed before anyone sees it.
    echo = await make_desk(api_key=API_KEY)
    messages_api.add(
        Reply(
            400, {"type": "error", "error": {"type": "invalid_request_error", "message": API_KEY}}
        )
    )
    signal, _ = generate_signal(market(), RatchetState(), NOW)
    request = AdvisorRequest(
        market=market(), portfolio=balanced_400k(), signal=signal, limits=SafetyLimits()
    )
    with pytest.raises(AdvisorUnavailable) as raised:
        await echo.claude.advise(request)
    errors = [str(raised.value), repr(raised.value), str(raised.value.__cause__ or "")]

    async with desk.uow() as uow:
        decisions = await uow.decisions.recent(50)
        audit = await uow.audit.entries(0, 500)
    stored = repr(decisions) + repr(audit)
    database = Path(str(engine.url.database))
    files = b"".join(
        p.read_bytes() for p in database.parent.glob(database.name + "*") if p.is_file()
    )

    assert any("invalid tool input" in r for r in reasons)
    assert len(messages_api.requests) >= 5
    assert any(r.name.startswith("anthropic") for r in caplog.records)  # SDK lines were seen
    assert any(r.name == "application.advice" for r in caplog.records)
    assert API_KEY not in caplog.text
    assert all(API_KEY not in str(r.__dict__) for r in caplog.records)
    assert API_KEY not in " ".join(reasons)
    assert "***" in errors[0] or "invalid_request_error" in errors[0]
    assert all(API_KEY not in e for e in errors)
    assert API_KEY not in stored
    assert API_KEY.encode() not in files
    assert API_KEY not in repr(desk.claude)
