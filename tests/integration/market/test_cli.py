"""`treasury market` and `treasury market set-mvrv` against the loopback fake services and a
real SQLite database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from entrypoints.cli.main import app
from tests.integration.market.conftest import KEYS
from tests.integration.market.fake_services import (
    COINGECKO,
    COINGLASS,
    DERIBIT,
    FEAR_GREED,
    GLASSNODE,
    FakeMarketServices,
)

SPEC_FIELDS = (
    "btc_price",
    "eth_price",
    "mvrv_z_score",
    "funding_rate",
    "fear_greed_index",
    "market_phase",
    "timestamp",
)


@pytest.fixture
def env(
    services: FakeMarketServices, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    for name in ("TREASURY_DATABASE_URL", "TREASURY_MODE", "TREASURY_GLASSNODE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    urls = services.base_urls()
    return {
        "TREASURY_DATA_DIR": str(tmp_path),
        "TREASURY_MARKET_DATA": "live",
        "TREASURY_COINGECKO_BASE_URL": urls[COINGECKO],
        "TREASURY_COINGECKO_API_KEY": KEYS[COINGECKO],
        "TREASURY_GLASSNODE_BASE_URL": urls[GLASSNODE],
        "TREASURY_COINGLASS_BASE_URL": urls[COINGLASS],
        "TREASURY_COINGLASS_API_KEY": KEYS[COINGLASS],
        "TREASURY_FEAR_GREED_BASE_URL": urls[FEAR_GREED],
        "TREASURY_DERIBIT_BASE_URL": urls[DERIBIT],
        "TREASURY_MARKET_SOURCE_TIMEOUT_S": "4",
        "COLUMNS": "200",
    }


def invoke(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_market_json_reads_the_live_sources_and_falls_back_to_the_manual_mvrv(
    env: dict[str, str], services: FakeMarketServices
) -> None:
    assert invoke(env, "db", "upgrade")[0] == 0
    code, out, _ = invoke(env, "market", "set-mvrv", "-0.7", "--by", "ops@example")
    assert code == 0, out
    assert "manual MVRV Z-Score set to -0.7" in out

    code, out, err = invoke(env, "market", "--json")
    assert code == 0, err
    body = json.loads(out)
    for name in SPEC_FIELDS:
        assert name in body
    assert body["btc_price"] == pytest.approx(67187.3358936566)
    assert body["mvrv_z_score"] == pytest.approx(-0.7)
    assert body["market_phase"] == "accumulation"
    assert body["freshness"]["mvrv_z_score"]["manual"] is True
    assert body["freshness"]["btc_price"]["source"] == "coingecko"
    assert body["freshness"]["btc_price"]["stale"] is False
    sources = {s["source"]: s for s in body["sources"]}
    assert sources["coingecko"]["status"] == "ok"
    assert sources["glassnode"]["status"] == "degraded"
    assert services.knobs[GLASSNODE].requests == 0
    for key in KEYS.values():
        assert key not in out


def test_market_table_shows_a_failing_source_without_leaking_its_key(
    env: dict[str, str], services: FakeMarketServices
) -> None:
    services.knobs[COINGLASS].api_key = "a-different-key"
    code, out, err = invoke(env, "market")
    assert code == 0, err
    assert "phase:" in out
    assert "coinglass: HTTP 401" in out
    assert "missing" in out
    assert "manual MVRV not available" in err  # the temporary database was never migrated
    for key in KEYS.values():
        assert key not in out + err


def test_market_fails_with_a_clear_line_when_no_source_answers(
    env: dict[str, str], services: FakeMarketServices
) -> None:
    for knobs in services.knobs.values():
        knobs.status = 404
    code, _, err = invoke(env, "market", "--json")
    assert code != 0
    assert err.startswith("error: market: no source could be read")


def test_market_json_carries_deribits_fields_with_their_freshness(
    env: dict[str, str], services: FakeMarketServices
) -> None:
    code, out, err = invoke(env, "market", "--json")
    assert code == 0, err
    body = json.loads(out)
    assert body["btc_implied_volatility"] == pytest.approx(0.212992597)
    assert body["put_call_ratio"] == pytest.approx(4.6773)
    assert body["btc_iv_change_24h"] is None
    assert body["freshness"]["put_call_ratio"]["source"] == "deribit"
    assert body["freshness"]["put_call_ratio"]["stale"] is False
    assert {s["source"]: s["status"] for s in body["sources"]}["deribit"] == "ok"
    assert services.knobs[DERIBIT].requests == 4


def test_market_json_with_deribit_down_answers_everything_else_and_says_so(
    env: dict[str, str], services: FakeMarketServices
) -> None:
    services.knobs[DERIBIT].status = 503
    code, out, err = invoke(env, "market", "--json")
    assert code == 0, err
    body = json.loads(out)
    assert body["btc_price"] == pytest.approx(67187.3358936566)
    assert body["fear_greed_index"] == 40
    for name in ("btc_implied_volatility", "eth_implied_volatility", "put_call_ratio"):
        assert body[name] is None
        assert name not in body["freshness"]
    deribit = {s["source"]: s for s in body["sources"]}["deribit"]
    assert deribit["status"] == "down"
    assert deribit["last_error"].startswith("deribit: HTTP 503")


def test_market_table_lists_the_options_fields(
    env: dict[str, str], services: FakeMarketServices
) -> None:
    code, out, err = invoke(env, "market")
    assert code == 0, err
    assert "put_call_ratio" in out
    assert "0.212992597 DVOL" in out


def test_set_mvrv_goes_through_the_same_use_case_as_the_api(env: dict[str, str]) -> None:
    """The API's range (-5..20), and an audit row naming who set it, from the command too."""
    assert invoke(env, "db", "upgrade")[0] == 0

    code, _, err = invoke(env, "market", "set-mvrv", "30", "--by", "ops@example")
    assert code == 2, err  # invalid input: outside what the API accepts
    assert "between -5 and 20" in err

    code, out, err = invoke(env, "market", "set-mvrv", "2.5", "--by", "ops@example")
    assert code == 0, err
    code, out, err = invoke(env, "audit", "tail")
    assert code == 0, err
    rows = [line.split("\t") for line in out.splitlines()]
    manual = [
        (actor, payload)
        for _, _, actor, action, _, payload in rows
        if action == "market.manual_mvrv"
    ]
    assert manual == [("ops@example", '{"value":"2.5"}')]
    code, out, err = invoke(env, "audit", "verify")
    assert code == 0, err
