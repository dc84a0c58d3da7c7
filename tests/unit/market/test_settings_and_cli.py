"""Market settings (defaults, secrets kept out of sight) and `treasury market` in simulated mode."""

from __future__ import annotations

import json
import logging
from decimal import Decimal

import httpx
import pytest
from typer.testing import CliRunner

from adapters.market.aggregate import build_live_market
from adapters.market.coingecko import PRO_BASE_URL, CoinGeckoPlan
from application.errors import MarketDataUnavailable
from entrypoints.cli.main import app
from entrypoints.settings.market import MarketSettings
from tests.fakes.market import MovableClock

SECRETS = {
    "TREASURY_COINGECKO_API_KEY": "CG-secret-coingecko-111",
    "TREASURY_GLASSNODE_API_KEY": "gn-secret-glassnode-222",
    "TREASURY_COINGLASS_API_KEY": "cg-secret-coinglass-333",
}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in [
        *SECRETS,
        "TREASURY_COINGECKO_PLAN",
        "TREASURY_COINGECKO_BASE_URL",
        "TREASURY_MARKET_DATA",
        "TREASURY_MODE",
        "TREASURY_MARKET_HISTORY_CSV",
        "TREASURY_MARKET_SCENARIO",
        "TREASURY_DERIBIT_BASE_URL",
        "TREASURY_BLACK_SWAN_IV_SPIKE_24H",
    ]:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults_are_the_real_public_services(clean_env: pytest.MonkeyPatch) -> None:
    config = MarketSettings().live_config()
    assert config.coingecko_base_url == "https://api.coingecko.com/api/v3"
    assert config.glassnode_base_url == "https://api.glassnode.com"
    assert config.coinglass_base_url == "https://open-api-v4.coinglass.com"
    assert config.fear_greed_base_url == "https://api.alternative.me"
    assert config.deribit_base_url == "https://www.deribit.com/api/v2"
    assert config.cache_ttl_s == 300
    assert config.source_timeout_s == 4
    assert config.max_stale_s == 3600
    assert config.glassnode_api_key is None


def test_the_pro_plan_defaults_to_the_pro_host(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TREASURY_COINGECKO_PLAN", "pro")
    config = MarketSettings().live_config()
    assert config.coingecko_plan is CoinGeckoPlan.PRO
    assert config.coingecko_base_url == PRO_BASE_URL


async def test_keys_never_appear_in_reprs_dumps_or_logs(
    clean_env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for name, value in SECRETS.items():
        clean_env.setenv(name, value)
    settings = MarketSettings()
    config = settings.live_config()
    assert config.glassnode_api_key == SECRETS["TREASURY_GLASSNODE_API_KEY"]

    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": "bad key"})

    caplog.set_level(logging.DEBUG)
    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as client:
        market = build_live_market(client, config, clock=MovableClock())
        with pytest.raises(MarketDataUnavailable) as caught:
            await market.fetch()
        escaped = f"{caught.value!s} {caught.value!r} {caught.value.__cause__!r}"
        health = await market.health()
    visible = " ".join(
        [
            repr(settings),
            str(settings),
            settings.model_dump_json(),
            repr(config),
            repr(market),
            escaped,
            repr(health),
            caplog.text,
            " ".join(str(r.__dict__) for r in caplog.records),
        ]
    )
    for secret in SECRETS.values():
        assert secret not in visible


def test_market_command_prints_the_simulated_market_as_json(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("TREASURY_MARKET_SCENARIO", "crash")
    result = CliRunner().invoke(app, ["market", "--json", "--day", "30"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    for name in (
        "btc_price",
        "eth_price",
        "mvrv_z_score",
        "funding_rate",
        "fear_greed_index",
        "market_phase",
        "timestamp",
    ):
        assert name in body
    assert body["btc_change_24h"] < -0.2  # day 30 of `crash` is the black-swan day
    assert body["freshness"]["btc_price"]["source"] == "simulated:crash"
    assert body["sources"][0]["status"] == "ok"


def test_market_command_prints_a_table_with_the_phase(clean_env: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(app, ["market"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "phase: accumulation" in result.stdout
    assert "mvrv_z_score" in result.stdout
    assert "simulated:full-cycle" in result.stdout


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("abc", "not a number", id="text"),
        pytest.param("NaN", "not a plausible", id="nan"),
    ],
)
def test_set_mvrv_refuses_values_that_are_not_plausible(
    clean_env: pytest.MonkeyPatch, value: str, message: str
) -> None:
    result = CliRunner().invoke(app, ["market", "set-mvrv", value])
    assert result.exit_code == 2
    assert message in result.output


def test_the_iv_spike_warning_is_off_by_default_and_reaches_the_safety_limits_when_set(
    clean_env: pytest.MonkeyPatch,
) -> None:
    from entrypoints.container import AppSettings, strategy_for
    from entrypoints.settings.strategy import StrategySettings

    assert StrategySettings().black_swan_iv_spike_24h is None
    assert strategy_for(AppSettings.load()).limits.black_swan_iv_spike_24h is None
    clean_env.setenv("TREASURY_BLACK_SWAN_IV_SPIKE_24H", "0.5")
    assert strategy_for(AppSettings.load()).limits.black_swan_iv_spike_24h == Decimal("0.5")
