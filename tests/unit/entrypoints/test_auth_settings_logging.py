"""API tokens, mode presets and log redaction."""

from __future__ import annotations

import json
import logging

import pytest

from entrypoints.api.auth import Role, TokenConfigError, TokenRegistry, fingerprint
from entrypoints.logging_setup import MASK, configure_logging, register_secrets
from entrypoints.settings.service import (
    AdvisorChoice,
    ChainChoice,
    MarketDataChoice,
    Mode,
    ServiceSettings,
)

VIEWER = "view-token-0123456789"
APPROVER = "approve-token-0123456789"


def test_tokens_authenticate_to_their_roles() -> None:
    registry = TokenRegistry.parse(f"{VIEWER}:viewer, {APPROVER}:approver")
    assert len(registry) == 2
    viewer = registry.authenticate(VIEWER)
    assert viewer is not None
    assert viewer.role is Role.VIEWER
    approver = registry.authenticate(APPROVER)
    assert approver is not None
    assert approver.role is Role.APPROVER
    assert approver.name == f"approver:{fingerprint(APPROVER)}"
    assert registry.authenticate("wrong-token-0123456789") is None


def test_token_registry_never_shows_tokens() -> None:
    registry = TokenRegistry.parse(f"{VIEWER}:viewer")
    assert VIEWER not in repr(registry)
    assert VIEWER not in str(registry.authenticate(VIEWER))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param("justatokenwithoutrole", "not token:role", id="no-role"),
        pytest.param(f"{VIEWER}:admin", "unknown role 'admin'", id="unknown-role"),
        pytest.param("short:viewer", "at least 16 characters", id="short-token"),
    ],
)
def test_malformed_token_config_is_rejected_without_echoing_tokens(spec: str, message: str) -> None:
    with pytest.raises(TokenConfigError, match=message) as caught:
        TokenRegistry.parse(spec)
    assert VIEWER not in str(caught.value)


def test_roles_are_ordered() -> None:
    assert Role.VIEWER < Role.OPERATOR < Role.APPROVER


def test_paper_mode_presets_simulated_adapters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TREASURY_MODE", raising=False)
    settings = ServiceSettings()
    assert settings.mode is Mode.PAPER
    assert settings.market_data is MarketDataChoice.SIMULATED
    assert settings.advisor is AdvisorChoice.RULES
    assert settings.chain is ChainChoice.DEVCHAIN
    assert settings.cycle_interval_s == 10
    assert settings.public_url == "http://127.0.0.1:8600"


def test_live_mode_presets_real_adapters_and_each_port_can_be_overridden(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TREASURY_MODE", "live")
    monkeypatch.setenv("TREASURY_ADVISOR", "rules")
    settings = ServiceSettings()
    assert settings.market_data is MarketDataChoice.LIVE
    assert settings.advisor is AdvisorChoice.RULES
    assert settings.chain is ChainChoice.RPC
    assert settings.cycle_interval_s == 3600


def test_log_pipeline_masks_secret_keys_and_known_values(
    capsys: pytest.CaptureFixture[str],
) -> None:
    secret = "sk-test-very-secret-value"
    register_secrets([secret])
    configure_logging("DEBUG", json=True)
    log = logging.getLogger("treasury.test")
    log.info("calling upstream with %s", secret, extra={"api_key": secret, "note": f"key={secret}"})
    out = capsys.readouterr().err
    assert secret not in out
    record = json.loads(out.strip().splitlines()[-1])
    assert record["api_key"] == MASK
    assert record["note"] == f"key={MASK}"
    assert MASK in record["event"]
