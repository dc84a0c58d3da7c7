"""The four live sources over recorded payloads, and every failure shape, through an in-memory
httpx transport (no sockets: the loopback server tests live under tests/integration/market)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from adapters.market.coingecko import CoinGeckoPlan, CoinGeckoPrices
from adapters.market.coinglass import CoinglassFunding
from adapters.market.errors import (
    MalformedPayload,
    SourceAuthFailed,
    SourceHttpError,
    SourceRateLimited,
    SourceTimedOut,
    SourceUnreachable,
)
from adapters.market.fear_greed import FearGreedIndex
from adapters.market.glassnode import GlassnodeMvrv
from application.errors import MarketDataUnavailable
from tests.fakes.market import MovableClock, payload, payload_text

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
KEY = "sk-market-secret-0123456789"
Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class Recorder:
    """Answers requests from a script of responses and remembers the requests."""

    script: list[Callable[[httpx.Request], httpx.Response]]
    requests: list[httpx.Request]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.script[min(len(self.requests), len(self.script)) - 1]
        return step(request)


def ok(body: str) -> Callable[[httpx.Request], httpx.Response]:
    return lambda _: httpx.Response(200, text=body, headers={"content-type": "application/json"})


def status(code: int, body: str = "{}", headers: dict[str, str] | None = None) -> Handler:
    return lambda _: httpx.Response(code, text=body, headers=headers or {})


def timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=request)


def refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


@dataclass(frozen=True)
class SourceCase:
    name: str
    payload: str
    build: Callable[[httpx.AsyncClient, MovableClock], Any]
    drop_field: Callable[[Any], Any]
    wrong_type: Callable[[Any], Any]


def _drop_btc_usd(p: Any) -> Any:
    del p["bitcoin"]["usd"]
    return p


def _btc_usd_text(p: Any) -> Any:
    p["bitcoin"]["usd"] = "lots"
    return p


def _drop_v(p: Any) -> Any:
    for point in p:
        del point["v"]
    return p


def _t_text(p: Any) -> Any:
    p[-1]["t"] = "yesterday"
    return p


def _drop_code(p: Any) -> Any:
    del p["code"]
    return p


def _rate_text(p: Any) -> Any:
    # One odd row is skipped (see the coinglass tests); a list that is not a list is malformed.
    p["data"][0]["stablecoin_margin_list"] = "high"
    return p


def _drop_value(p: Any) -> Any:
    del p["data"][0]["value"]
    return p


def _value_text(p: Any) -> Any:
    p["data"][0]["value"] = "greedy"
    return p


CASES = [
    SourceCase(
        "coingecko",
        "coingecko_simple_price",
        lambda c, clock: CoinGeckoPrices(client=c, clock=clock, api_key=KEY),
        _drop_btc_usd,
        _btc_usd_text,
    ),
    SourceCase(
        "glassnode",
        "glassnode_mvrv_z_score",
        lambda c, clock: GlassnodeMvrv(client=c, clock=clock, api_key=KEY),
        _drop_v,
        _t_text,
    ),
    SourceCase(
        "coinglass",
        "coinglass_funding_rate",
        lambda c, clock: CoinglassFunding(client=c, clock=clock, api_key=KEY),
        _drop_code,
        _rate_text,
    ),
    SourceCase(
        "alternative.me",
        "alternative_me_fng",
        lambda c, clock: FearGreedIndex(client=c),
        _drop_value,
        _value_text,
    ),
]
IDS = [c.name for c in CASES]


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(NOW)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder(script=[], requests=[])


async def read_with(
    case: SourceCase, clock: MovableClock, recorder: Recorder, *script: Handler
) -> Any:
    recorder.script = list(script)
    async with httpx.AsyncClient(transport=httpx.MockTransport(recorder)) as client:
        return await case.build(client, clock).read()


# --- recorded payloads -------------------------------------------------------------------


async def test_coingecko_gives_btc_and_eth_prices_with_24h_changes_as_fractions(
    clock: MovableClock, recorder: Recorder
) -> None:
    reading = await read_with(CASES[0], clock, recorder, ok(payload_text("coingecko_simple_price")))
    assert reading.value.btc_usd == Decimal("67187.3358936566")
    assert reading.value.eth_usd == Decimal("3514.82")
    assert reading.value.btc_change_24h == Decimal("0.0363727894677354")
    assert reading.value.eth_change_24h == Decimal("-0.012043518")
    assert reading.observed_at == NOW  # the sample carries no last_updated_at
    request = recorder.requests[0]
    assert request.url.path == "/api/v3/simple/price"
    assert request.url.params["ids"] == "bitcoin,ethereum"
    assert request.url.params["include_24hr_change"] == "true"
    assert request.headers["x-cg-demo-api-key"] == KEY


async def test_coingecko_pro_plan_sends_the_pro_key_header_and_uses_last_updated_at(
    clock: MovableClock, recorder: Recorder
) -> None:
    body = payload("coingecko_simple_price")
    body["bitcoin"]["last_updated_at"] = 1772452800
    body["ethereum"]["last_updated_at"] = 1772452790
    recorder.script = [ok(json.dumps(body, default=str))]
    async with httpx.AsyncClient(transport=httpx.MockTransport(recorder)) as client:
        prices = CoinGeckoPrices(client=client, clock=clock, api_key=KEY, plan=CoinGeckoPlan.PRO)
        reading = await prices.read()
    assert recorder.requests[0].headers["x-cg-pro-api-key"] == KEY
    assert "x-cg-demo-api-key" not in recorder.requests[0].headers
    assert reading.observed_at == datetime.fromtimestamp(1772452790, UTC)


async def test_coingecko_null_24h_change_is_unknown_not_zero(
    clock: MovableClock, recorder: Recorder
) -> None:
    body = payload("coingecko_simple_price")
    body["ethereum"]["usd_24h_change"] = None
    reading = await read_with(CASES[0], clock, recorder, ok(json.dumps(body, default=str)))
    assert reading.value.eth_change_24h is None


async def test_glassnode_gives_the_newest_point_at_its_own_time(
    clock: MovableClock, recorder: Recorder
) -> None:
    reading = await read_with(CASES[1], clock, recorder, ok(payload_text("glassnode_mvrv_z_score")))
    assert reading.value == Decimal("2.7791")
    assert reading.observed_at == datetime.fromtimestamp(1717545600, UTC)
    request = recorder.requests[0]
    assert request.url.path == "/v1/metrics/market/mvrv_z_score"
    assert request.url.params["a"] == "BTC"
    assert request.url.params["i"] == "24h"
    assert request.headers["x-api-key"] == KEY
    assert KEY not in str(request.url)


async def test_glassnode_skips_null_gaps(clock: MovableClock, recorder: Recorder) -> None:
    body = '[{"t": 1717372800, "v": 2.6153}, {"t": 1717459200, "v": null}]'
    reading = await read_with(CASES[1], clock, recorder, ok(body))
    assert reading.value == Decimal("2.6153")


async def test_coinglass_averages_percent_rates_into_a_fraction_per_8_hours(
    clock: MovableClock, recorder: Recorder
) -> None:
    reading = await read_with(CASES[2], clock, recorder, ok(payload_text("coinglass_funding_rate")))
    # BTC only in the sample: mean of 0.007343 %, 0.00736901950628 % and -0.001829 %.
    expected = (Decimal("0.007343") + Decimal("0.00736901950628") + Decimal("-0.001829")) / 3 / 100
    assert reading.value.average == expected
    assert reading.value.per_coin == {"BTC": expected}
    assert reading.value.contracts == 3
    assert reading.observed_at == NOW
    assert recorder.requests[0].headers["cg-api-key"] == KEY


async def test_coinglass_normalises_intervals_and_weighs_btc_and_eth_equally(
    clock: MovableClock, recorder: Recorder
) -> None:
    body = {
        "code": "0",
        "msg": "success",
        "data": [
            {
                "symbol": "BTC",
                "stablecoin_margin_list": [
                    {"exchange": "A", "funding_rate_interval": 8, "funding_rate": 0.01},
                    {"exchange": "B", "funding_rate_interval": 4, "funding_rate": 0.005},
                    {"exchange": "C", "funding_rate_interval": 1, "funding_rate": 0.00125},
                ],
                "token_margin_list": [],
            },
            {
                "symbol": "ETH",
                "stablecoin_margin_list": [
                    {"exchange": "A", "funding_rate_interval": 8, "funding_rate": -0.02},
                    {"exchange": "B", "funding_rate_interval": 8, "funding_rate": None},
                ],
            },
            {
                "symbol": "SOL",
                "stablecoin_margin_list": [
                    {"exchange": "A", "funding_rate_interval": 8, "funding_rate": 5},
                ],
            },
        ],
    }
    reading = await read_with(CASES[2], clock, recorder, ok(json.dumps(body)))
    assert reading.value.per_coin == {"BTC": Decimal("0.0001"), "ETH": Decimal("-0.0002")}
    assert reading.value.average == Decimal("-0.00005")


def _doc_example_with(odd: dict[str, Any] | None = None, code: Any = "0") -> str:
    body = json.loads(payload_text("coinglass_funding_rate"))
    body["code"] = code
    if odd is not None:
        body["data"][0]["stablecoin_margin_list"].append(odd)
    return json.dumps(body)


DOC_EXAMPLE_BTC = (Decimal("0.007343") + Decimal("0.00736901950628") + Decimal("-0.001829")) / 300


@pytest.mark.parametrize(
    "odd",
    [
        pytest.param(
            {"exchange": None, "funding_rate_interval": 0, "funding_rate": 0.01},
            id="null exchange, interval 0",
        ),
        pytest.param(
            {"exchange": "Odd", "funding_rate_interval": 0, "funding_rate": 0.01}, id="interval 0"
        ),
        pytest.param(
            {"exchange": None, "funding_rate_interval": 8, "funding_rate": 0.01},
            id="null exchange",
        ),
        pytest.param({"funding_rate": "n/a"}, id="rate not a number"),
    ],
)
async def test_coinglass_skips_one_odd_row_and_reads_the_rest(
    clock: MovableClock, recorder: Recorder, odd: dict[str, Any]
) -> None:
    reading = await read_with(CASES[2], clock, recorder, ok(_doc_example_with(odd)))
    assert reading.value.per_coin == {"BTC": DOC_EXAMPLE_BTC}
    assert reading.value.contracts == 3


@pytest.mark.parametrize("code", [pytest.param(0, id="numeric"), pytest.param("0", id="string")])
async def test_coinglass_accepts_a_numeric_or_string_success_code(
    clock: MovableClock, recorder: Recorder, code: Any
) -> None:
    reading = await read_with(CASES[2], clock, recorder, ok(_doc_example_with(code=code)))
    assert reading.value.average == DOC_EXAMPLE_BTC


async def test_coinglass_numeric_error_code_is_still_an_error(
    clock: MovableClock, recorder: Recorder
) -> None:
    body = json.dumps({"code": 429, "msg": "Too Many Requests", "data": None})
    with pytest.raises(SourceRateLimited, match="coinglass"):
        await read_with(CASES[2], clock, recorder, ok(body), ok(body), ok(body))


async def test_fear_greed_parses_string_values(clock: MovableClock, recorder: Recorder) -> None:
    reading = await read_with(CASES[3], clock, recorder, ok(payload_text("alternative_me_fng")))
    assert reading.value == 40
    assert reading.observed_at == datetime.fromtimestamp(1551157200, UTC)
    assert recorder.requests[0].url.params["limit"] == "1"


async def test_fear_greed_reports_the_services_own_error(
    clock: MovableClock, recorder: Recorder
) -> None:
    body = '{"name": "Fear and Greed Index", "data": [], "metadata": {"error": "Out of range"}}'
    with pytest.raises(MalformedPayload, match=r"alternative.me: .*Out of range"):
        await read_with(CASES[3], clock, recorder, ok(body))


@pytest.mark.parametrize(
    ("code", "error"),
    [
        pytest.param("401", SourceAuthFailed, id="401-in-envelope"),
        pytest.param("429", SourceRateLimited, id="429-in-envelope"),
        pytest.param("500", SourceHttpError, id="500-in-envelope"),
    ],
)
async def test_coinglass_error_code_inside_a_200_is_an_error(
    clock: MovableClock, recorder: Recorder, code: str, error: type[Exception]
) -> None:
    body = json.dumps({"code": code, "msg": "nope", "data": None})
    with pytest.raises(error, match="coinglass"):
        await read_with(CASES[2], clock, recorder, ok(body), ok(body), ok(body))


# --- failure shapes, for every source ---------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_401_fails_at_once_as_bad_credentials_naming_the_source(
    case: SourceCase, clock: MovableClock, recorder: Recorder
) -> None:
    with pytest.raises(SourceAuthFailed) as caught:
        await read_with(case, clock, recorder, status(401, '{"error": "invalid api key"}'))
    assert caught.value.source == case.name
    assert caught.value.permanent
    assert "401" in str(caught.value)
    assert len(recorder.requests) == 1


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_429_with_a_short_retry_after_is_retried_after_waiting(
    case: SourceCase, clock: MovableClock, recorder: Recorder
) -> None:
    body = payload_text("coingecko_429")
    reading = await read_with(
        case,
        clock,
        recorder,
        status(429, body, {"Retry-After": "0.3"}),
        ok(payload_text(case.payload)),
    )
    assert reading.value is not None
    assert len(recorder.requests) == 2


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_429_asking_for_longer_than_the_budget_gives_up_at_once(
    case: SourceCase, clock: MovableClock, recorder: Recorder
) -> None:
    body = payload_text("coingecko_429")
    with pytest.raises(SourceRateLimited) as caught:
        await read_with(case, clock, recorder, status(429, body, {"Retry-After": "120"}))
    assert caught.value.retry_after == Decimal(120)
    assert caught.value.source == case.name
    assert not caught.value.permanent
    assert len(recorder.requests) == 1


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_500_is_retried_and_a_later_success_is_used(
    case: SourceCase, clock: MovableClock, recorder: Recorder
) -> None:
    reading = await read_with(case, clock, recorder, status(500), ok(payload_text(case.payload)))
    assert reading.value is not None
    assert len(recorder.requests) == 2


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_500_every_time_fails_after_three_attempts(
    case: SourceCase, clock: MovableClock, recorder: Recorder
) -> None:
    with pytest.raises(SourceHttpError) as caught:
        await read_with(case, clock, recorder, status(500))
    assert caught.value.status == 500
    assert str(caught.value).startswith(f"{case.name}: HTTP 500")
    assert len(recorder.requests) == 3


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_timeouts_are_retried_then_reported_as_a_timeout(
    case: SourceCase, clock: MovableClock, recorder: Recorder
) -> None:
    with pytest.raises(SourceTimedOut, match=f"^{case.name}: no answer"):
        await read_with(case, clock, recorder, timeout)
    assert len(recorder.requests) == 3


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_connection_failures_are_reported_as_unreachable(
    case: SourceCase, clock: MovableClock, recorder: Recorder
) -> None:
    with pytest.raises(SourceUnreachable, match=case.name):
        await read_with(case, clock, recorder, refused)


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_malformed_json_fails_at_once_as_a_malformed_payload(
    case: SourceCase, clock: MovableClock, recorder: Recorder
) -> None:
    with pytest.raises(MalformedPayload, match=f"^{case.name}: malformed payload: .*not JSON"):
        await read_with(case, clock, recorder, ok('{"bitcoin": {"usd": 6718'))
    assert len(recorder.requests) == 1


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_a_missing_field_is_a_malformed_payload_naming_it(
    case: SourceCase, clock: MovableClock, recorder: Recorder
) -> None:
    body = json.dumps(case.drop_field(payload(case.payload)), default=str)
    with pytest.raises(MalformedPayload) as caught:
        await read_with(case, clock, recorder, ok(body))
    assert caught.value.source == case.name
    assert "required" in str(caught.value) or "no " in str(caught.value)


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_a_wrong_type_is_a_malformed_payload(
    case: SourceCase, clock: MovableClock, recorder: Recorder
) -> None:
    body = json.dumps(case.wrong_type(payload(case.payload)), default=str)
    with pytest.raises(MalformedPayload, match=f"^{case.name}: malformed payload"):
        await read_with(case, clock, recorder, ok(body))


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_no_failure_message_carries_the_api_key(
    case: SourceCase, clock: MovableClock, recorder: Recorder
) -> None:
    for handler in (status(401), status(404), timeout, ok("not json")):
        recorder.requests.clear()
        with pytest.raises(MarketDataUnavailable) as caught:
            await read_with(case, clock, recorder, handler)
        assert KEY not in str(caught.value)
        assert KEY not in repr(caught.value)


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_adapter_repr_hides_the_api_key(case: SourceCase, clock: MovableClock) -> None:
    async with httpx.AsyncClient() as client:
        adapter = case.build(client, clock)
        assert KEY not in repr(adapter)
        assert KEY not in repr(vars(adapter))
