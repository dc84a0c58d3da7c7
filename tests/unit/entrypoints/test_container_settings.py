"""Settings the container reads: live-mode requirements, paper tokens, the paper clock."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from entrypoints.container import AppSettings, paper_tokens
from entrypoints.settings.service import Mode
from entrypoints.wiring.paper import PaperClock, PaperClockFileInvalid
from tests.fakes.treasury import FixedClock


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("TREASURY_") or key.startswith("ANTHROPIC_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("TREASURY_DATA_DIR", str(tmp_path))


def test_live_mode_names_everything_it_is_missing(tmp_path: Path) -> None:
    settings = AppSettings.load(mode=Mode.LIVE)
    problems = settings.live_problems()
    joined = " | ".join(problems)
    assert "TREASURY_API_TOKENS" in joined
    assert "TREASURY_RPC_URL_ETHEREUM" in joined
    assert "keystore" in joined
    assert "TREASURY_KEYSTORE_PASSPHRASE" in joined
    assert "ANTHROPIC_API_KEY" in joined


def _everything_live_needs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    keystore = tmp_path / "keystore.json"
    keystore.write_text("{}")
    monkeypatch.setenv("TREASURY_API_TOKENS", "a-long-enough-token-01:approver")
    monkeypatch.setenv("TREASURY_RPC_URL_ETHEREUM", "http://127.0.0.1:8545")
    monkeypatch.setenv("TREASURY_KEYSTORE_PATH", str(keystore))
    monkeypatch.setenv("TREASURY_KEYSTORE_PASSPHRASE", "correct horse battery staple")
    monkeypatch.setenv("TREASURY_ADVISOR", "rules")
    monkeypatch.setenv("TREASURY_PENDLE_MARKET", "0x34280882267ffa6383b363e278b027be083bbe3b")


def test_live_mode_with_everything_has_no_problems(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _everything_live_needs(monkeypatch, tmp_path)
    assert AppSettings.load(mode=Mode.LIVE).live_problems() == []


def test_live_mode_without_a_pendle_market_names_the_setting_before_opening_anything(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    keystore = tmp_path / "keystore.json"
    keystore.write_text("{}")
    monkeypatch.setenv("TREASURY_API_TOKENS", "a-long-enough-token-01:approver")
    monkeypatch.setenv("TREASURY_RPC_URL_ETHEREUM", "http://127.0.0.1:8545")
    monkeypatch.setenv("TREASURY_KEYSTORE_PATH", str(keystore))
    monkeypatch.setenv("TREASURY_KEYSTORE_PASSPHRASE", "correct horse battery staple")
    monkeypatch.setenv("TREASURY_ADVISOR", "rules")
    (problem,) = AppSettings.load(mode=Mode.LIVE).live_problems()
    assert problem.startswith("TREASURY_PENDLE_MARKET")


def test_live_mode_refuses_safe_custody_until_it_is_wired(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _everything_live_needs(monkeypatch, tmp_path)
    monkeypatch.setenv("TREASURY_CUSTODY", "safe")
    (problem,) = AppSettings.load(mode=Mode.LIVE).live_problems()
    assert "TREASURY_CUSTODY" in problem
    assert "paper mode only" in problem


def test_paper_mode_needs_nothing() -> None:
    assert AppSettings.load().live_problems() == []


def test_secrets_cover_tokens_keys_and_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TREASURY_API_TOKENS", "token-value-0000000001:viewer")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key")
    monkeypatch.setenv("TREASURY_RPC_URL_BASE", "http://127.0.0.1:8545/secret-path")
    monkeypatch.setenv("TREASURY_GLASSNODE_API_KEY", "glassnode-key")
    monkeypatch.setenv("TREASURY_SAFE_TX_SERVICE_API_KEY", "safe-tx-service-key")
    secrets = AppSettings.load().secrets()
    for value in (
        "token-value-0000000001",
        "sk-ant-test-key",
        "http://127.0.0.1:8545/secret-path",
        "glassnode-key",
        "safe-tx-service-key",
    ):
        assert value in secrets


def test_paper_generates_one_private_token_and_reuses_it(tmp_path: Path) -> None:
    settings, token = paper_tokens(AppSettings.load())
    assert token is not None
    assert len(token) >= 24
    path = tmp_path / "api_token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert settings.service.api_tokens.get_secret_value() == f"{token}:approver"
    _, again = paper_tokens(AppSettings.load())
    assert again == token


def test_configured_tokens_are_left_alone(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TREASURY_API_TOKENS", "my-own-token-000000001:approver")
    settings, token = paper_tokens(AppSettings.load())
    assert token is None
    assert not (tmp_path / "api_token").exists()
    assert settings.service.api_tokens.get_secret_value() == "my-own-token-000000001:approver"


def test_the_paper_clock_runs_ahead_and_survives_a_restart(tmp_path: Path) -> None:
    wall = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    path = tmp_path / "paper_clock.json"
    clock = PaperClock(path, wall)
    assert clock.now() == wall.now()
    assert clock.epoch == wall.now()
    clock.advance(timedelta(hours=30))
    assert clock.now() == wall.now() + timedelta(hours=30)

    wall.advance(timedelta(minutes=5))
    restarted = PaperClock(path, wall)
    assert restarted.epoch == datetime(2026, 1, 1, tzinfo=UTC)
    assert restarted.now() == wall.now() + timedelta(hours=30)
    with pytest.raises(ValueError, match="cannot go back"):
        restarted.advance(timedelta(hours=-1))


def test_a_damaged_paper_clock_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "paper_clock.json"
    path.write_text("{not json")
    with pytest.raises(PaperClockFileInvalid, match="move it away"):
        PaperClock(path, FixedClock(datetime(2026, 1, 1, tzinfo=UTC)))


def test_the_reentry_cooldown_and_exit_stablecoins_come_from_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from datetime import timedelta

    from domain.safety import SafetyLimits
    from entrypoints.container import strategy_for

    assert strategy_for(AppSettings.load()).limits == SafetyLimits()
    monkeypatch.setenv("TREASURY_REENTRY_COOLDOWN_HOURS", "24")
    monkeypatch.setenv("TREASURY_EXIT_STABLECOINS", "usdt, dai")
    limits = strategy_for(AppSettings.load()).limits
    assert limits.reentry_cooldown == timedelta(hours=24)
    assert limits.exit_stablecoins == ("USDT", "DAI")


def test_an_exit_stablecoin_that_is_not_a_stablecoin_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TREASURY_EXIT_STABLECOINS", "USDC,WBTC")
    with pytest.raises(ValueError, match="TREASURY_EXIT_STABLECOINS"):
        AppSettings.load()
