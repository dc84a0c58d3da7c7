"""DeFiLlama and 1inch HTTP adapters over the reference payloads (respx, no network)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import respx

from adapters.chain.aave import supply_apy
from adapters.chain.defillama import DefiLlama
from adapters.chain.pendle import pt_price
from adapters.chain.tokens import minimum_after_slippage
from application.ports.chain import ProtocolUnavailable

PAYLOADS = Path("/work/shared/reference/payloads")


def _payload(name: str) -> str:
    return (PAYLOADS / name).read_text()


@respx.mock
async def test_defillama_tvl_and_pool_apys_are_decimal_fractions() -> None:
    respx.get("https://api.llama.fi/tvl/aave-v3").respond(text=_payload("defillama_tvl.json"))
    respx.get("https://yields.llama.fi/pools").respond(text=_payload("defillama_yields_pools.json"))
    async with httpx.AsyncClient() as client:
        llama = DefiLlama(client)
        assert await llama.protocol_tvl("aave-v3") == Decimal("19873412345.62")
        (pool,) = await llama.pools("aave-v3", "Ethereum")
    assert pool.apy == Decimal("0.0412")
    assert pool.tvl_usd == Decimal(812345678)


@respx.mock
@pytest.mark.parametrize(
    ("status", "permanent"),
    [
        pytest.param(429, False, id="rate-limited"),
        pytest.param(503, False, id="server-error"),
        pytest.param(404, True, id="unknown-protocol"),
    ],
)
async def test_defillama_failures_are_typed_and_name_the_source(
    status: int, permanent: bool
) -> None:
    respx.get("https://api.llama.fi/tvl/nope").respond(status_code=status, json={"message": "x"})
    async with httpx.AsyncClient() as client:
        with pytest.raises(ProtocolUnavailable) as failure:
            await DefiLlama(client).protocol_tvl("nope")
    assert failure.value.source == "defillama"
    assert failure.value.permanent is permanent


def test_aave_supply_apy_compounds_the_ray_liquidity_rate_per_second() -> None:
    apy = supply_apy(45 * 10**24)  # 4.5 % APR
    assert Decimal("0.04602") < apy < Decimal("0.04603")


def test_a_pt_is_priced_at_its_discount_to_maturity_and_at_par_after() -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 1, 1, tzinfo=UTC)
    year = pt_price(Decimal("0.08"), now + timedelta(days=365), now)
    assert abs(year - Decimal(1) / Decimal("1.08")) < Decimal("1e-9")
    assert pt_price(Decimal("0.08"), now - timedelta(days=1), now) == 1


def test_minimum_output_rounds_down_and_refuses_absurd_slippage() -> None:
    assert minimum_after_slippage(1_000_001, Decimal("0.005")) == 995_000
    with pytest.raises(ValueError):
        minimum_after_slippage(1, Decimal("0.9"))


def test_reference_oneinch_error_payload_has_a_description() -> None:
    assert json.loads(_payload("oneinch_error_400.json"))["description"] == "insufficient liquidity"
