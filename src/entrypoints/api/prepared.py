"""Prepared responses for the read models: each state version is serialised to JSON once.

`GET /portfolio/status`, `/market/data` and `/market/signal` answer from memory (see
`application/read_model.py`). Their body is built from the pydantic models once per published
state and kept as bytes; a request only adds how old the state is now. Every body starts
with `age_seconds` (seconds since the state was read), `stale` (the refreshes since have
failed) and `stale_reason` (the failure's kind), followed by the view's own fields.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from litestar import MediaType, Response
from litestar.openapi import ResponseSpec
from pydantic import BaseModel

from application.read_model import Latest, ReadModel
from domain.market import MarketData
from domain.portfolio import PortfolioState
from domain.signals import AllocationSignal
from entrypoints.api.dto import AllocationSignalOut, MarketDataOut, PortfolioStateOut

T = TypeVar("T")


class FreshnessOut(BaseModel):
    """How old a served state is; the first fields of every prepared answer."""

    age_seconds: float
    stale: bool
    stale_reason: str | None


class PortfolioStatusAnswer(FreshnessOut, PortfolioStateOut):
    """`GET /portfolio/status`, as the OpenAPI schema describes it."""


class MarketDataAnswer(FreshnessOut, MarketDataOut):
    """`GET /market/data`, as the OpenAPI schema describes it."""


class SignalAnswer(FreshnessOut, AllocationSignalOut):
    """`GET /market/signal`, as the OpenAPI schema describes it."""


def documented(answer: type[BaseModel]) -> dict[int, ResponseSpec]:
    """The OpenAPI description of a prepared answer (the handler returns bytes)."""
    return {200: ResponseSpec(data_container=answer, description="The latest state, from memory")}


def _prepare(model: BaseModel, latest: Latest[Any]) -> bytes:
    """Everything after `{"age_seconds":N` of the body: freshness, then the model's fields."""
    freshness = f',"stale":{json.dumps(latest.stale)},"stale_reason":{json.dumps(latest.error)},'
    return freshness.encode() + model.model_dump_json().encode()[1:]  # the model has fields


def portfolio_body(latest: Latest[PortfolioState]) -> bytes:
    """The portfolio status fields of one state."""
    return _prepare(PortfolioStateOut.from_domain(latest.value), latest)


def market_body(latest: Latest[MarketData]) -> bytes:
    """The market data fields of one state."""
    return _prepare(MarketDataOut.from_domain(latest.value), latest)


def signal_body(latest: Latest[AllocationSignal]) -> bytes:
    """The signal preview fields of one state."""
    return _prepare(AllocationSignalOut.from_domain(latest.value), latest)


async def prepared_response(
    view: ReadModel[T], prepare: Callable[[Latest[T]], bytes]
) -> Response[bytes]:
    """The view's latest state as JSON, its fields serialised once per version.

    Raises:
        Whatever the view's first load raises when it has nothing to serve yet.
    """
    latest = await view.current()
    age = round(view.age_seconds(latest), 3)
    body = b'{"age_seconds":' + repr(age).encode() + latest.derived(prepare)
    return Response(content=body, media_type=MediaType.JSON)
