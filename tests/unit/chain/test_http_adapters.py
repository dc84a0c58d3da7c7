"""DeFiLlama and 1inch HTTP adapters over the reference payloads (respx, no network)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import respx
from web3 import AsyncWeb3

from adapters.chain.aave import supply_apy
from adapters.chain.curve_api import CurveApi
from adapters.chain.defillama import DefiLlama
from adapters.chain.devchain.recorded import recorded_text
from adapters.chain.oneinch import OneInch, slippage_percent
from adapters.chain.pendle import pt_price
from adapters.chain.tokens import minimum_after_slippage
from application.ports.chain import ProtocolUnavailable

PAYLOADS = Path(__file__).parents[2] / "fakes" / "protocol_payloads"


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
    body = json.loads(recorded_text("oneinch_error_400.json"))
    assert body["description"] == "insufficient liquidity"


@pytest.mark.parametrize(
    ("fraction", "percent"),
    [
        pytest.param(Decimal("0.1"), "10", id="10 %"),
        pytest.param(Decimal("0.5"), "50", id="50 %"),
        pytest.param(Decimal("0.01"), "1", id="1 %"),
        pytest.param(Decimal("0.005"), "0.5", id="half a percent"),
        pytest.param(Decimal("0.0001"), "0.01", id="1 bp"),
        pytest.param(Decimal("0.100"), "10", id="trailing zeros"),
    ],
)
def test_1inch_slippage_is_plain_percent_never_exponent_notation(
    fraction: Decimal, percent: str
) -> None:
    assert slippage_percent(fraction) == percent


@respx.mock
@pytest.mark.parametrize(
    ("base_url", "version", "expected"),
    [
        pytest.param(
            "https://api.1inch.dev", "v6.0", "https://api.1inch.dev/swap/v6.0/1/quote", id="v6.0"
        ),
        pytest.param(
            "https://api.1inch.com", "v6.1", "https://api.1inch.com/swap/v6.1/1/quote", id="v6.1"
        ),
    ],
)
async def test_1inch_api_version_and_host_are_configurable(
    base_url: str, version: str, expected: str
) -> None:
    route = respx.get(expected).respond(text=recorded_text("oneinch_quote.json"))
    async with httpx.AsyncClient() as client:
        venue = OneInch(
            client, AsyncWeb3(), chain_id=1, api_key="k", base_url=base_url, api_version=version
        )
        quote = await venue.quote("0x" + "11" * 20, "0x" + "22" * 20, 10**18)
    assert route.called
    assert quote.amount_out == 3513482917


CURVE_API = "https://api.curve.finance/v1"
THREE_POOL = "0xbebc44782c7db0a1a60cb6fe97d0b483032ff1c7"


@respx.mock
async def test_curve_base_apy_is_the_curve_apis_weekly_apy_for_that_exact_pool() -> None:
    route = respx.get(f"{CURVE_API}/getVolumes/ethereum").respond(
        text=recorded_text("curve_get_volumes.json")
    )
    async with httpx.AsyncClient() as client:
        api = CurveApi(client)
        assert await api.base_apy(THREE_POOL) == Decimal("0.0087")  # 0.87 %, as a fraction
        assert await api.base_apy(THREE_POOL.upper().replace("0X", "0x")) == Decimal("0.0087")
        with pytest.raises(ProtocolUnavailable, match="not listed"):
            await api.base_apy(THREE_POOL[:20] + "0" * 22)  # same prefix, another pool
    assert route.call_count == 1  # the list is cached


@respx.mock
async def test_curve_base_apy_falls_back_to_the_daily_figure_when_the_weekly_is_missing() -> None:
    body = json.loads(recorded_text("curve_get_volumes.json"))
    body["data"]["pools"][0]["latestWeeklyApyPcent"] = None
    respx.get(f"{CURVE_API}/getVolumes/ethereum").respond(json=body)
    async with httpx.AsyncClient() as client:
        assert await CurveApi(client).base_apy(THREE_POOL) == Decimal("0.0092")


@respx.mock
async def test_curve_api_failure_is_typed_and_names_the_source() -> None:
    respx.get(f"{CURVE_API}/getVolumes/ethereum").respond(json={"success": False})
    async with httpx.AsyncClient() as client:
        with pytest.raises(ProtocolUnavailable) as failure:
            await CurveApi(client).base_apy(THREE_POOL)
    assert failure.value.source == "curve-api"
