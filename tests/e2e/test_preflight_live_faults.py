"""`treasury preflight` in live mode, as an operator runs it (the real CLI process), against
loopback fakes with these faults at once: nodes on the wrong chain (for two configured chains),
a refused market key, a refused 1inch key, a matured Pendle market and an unknown Claude model.
Each is one failed line naming the setting to change; the exit code is non-zero; no traceback
and no secret is printed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from adapters.chain.keystore import create_keystore
from tests.e2e.harness import ROOT
from tests.integration.advisors.conftest import API_KEY
from tests.integration.advisors.fake_messages_api import FakeMessagesApi
from tests.integration.devchain.fixtures import running_anvil
from tests.integration.market.conftest import KEYS
from tests.integration.market.fake_services import (
    COINGECKO,
    COINGLASS,
    DERIBIT,
    FEAR_GREED,
    GLASSNODE,
    FakeMarketServices,
)
from tests.integration.preflight.test_preflight_loopback import FakeOneInchApi, FakePendleApi

pytestmark = pytest.mark.slow(seconds=60)

PASSPHRASE = "preflight-passphrase-never-print-me"
REFUSED_KEY = "CG-a-key-the-fake-refuses-never-print-me"
REFUSED_ONEINCH_KEY = "oneinch-key-the-fake-refuses-never-print-me"
API_TOKEN = "preflight-api-token-never-print-me"
DEAD = "http://127.0.0.1:9"  # nothing listens: no request may leave the machine


def treasury(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "entrypoints.cli.main", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def live_env(data_dir: Path, **extra: str) -> dict[str, str]:
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TREASURY_")
        and k not in {"ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"}
        and not k.lower().endswith("_proxy")
    }
    return {
        **keep,
        "NO_PROXY": "127.0.0.1,localhost",
        "TREASURY_MODE": "live",
        "TREASURY_DATA_DIR": str(data_dir),
        "TREASURY_LOG_JSON": "false",
        "TREASURY_API_TOKENS": f"{API_TOKEN}:approver",
        "TREASURY_CURVE_API_URL": DEAD,
        "TREASURY_DEFILLAMA_BASE_URL": DEAD,
        "TREASURY_DEFILLAMA_YIELDS_URL": DEAD,
        **extra,
    }


def test_live_preflight_names_each_of_four_faults_with_its_fix_and_exits_non_zero(
    tmp_path: Path,
) -> None:
    keystore = tmp_path / "keystore.json"
    address = create_keystore(keystore, PASSPHRASE)
    messages = FakeMessagesApi(API_KEY)
    messages.start()
    try:
        with (
            running_anvil(chain_id=5) as node,
            FakeMarketServices() as market,
            FakePendleApi("2020-06-25T00:00:00.000Z") as pendle,
            FakeOneInchApi() as oneinch,
        ):
            # The keystore's address holds gas, so the lines below are the four faults' own.
            httpx.post(
                node,
                json={
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "anvil_setBalance",
                    "params": [address, hex(10**18)],
                },
                timeout=10,
            ).raise_for_status()
            market.knobs[COINGECKO].api_key = KEYS[COINGECKO]
            urls = market.base_urls()
            env = live_env(
                tmp_path / "data",
                TREASURY_RPC_URL_ETHEREUM=node,
                TREASURY_RPC_URL_ARBITRUM=node,
                TREASURY_KEYSTORE_PATH=str(keystore),
                TREASURY_KEYSTORE_PASSPHRASE=PASSPHRASE,
                TREASURY_COINGECKO_BASE_URL=urls[COINGECKO],
                TREASURY_COINGECKO_API_KEY=REFUSED_KEY,
                TREASURY_GLASSNODE_BASE_URL=urls[GLASSNODE],
                TREASURY_GLASSNODE_API_KEY=KEYS[GLASSNODE],
                TREASURY_COINGLASS_BASE_URL=urls[COINGLASS],
                TREASURY_COINGLASS_API_KEY=KEYS[COINGLASS],
                TREASURY_FEAR_GREED_BASE_URL=urls[FEAR_GREED],
                TREASURY_DERIBIT_BASE_URL=urls[DERIBIT],
                TREASURY_PENDLE_BASE_URL=pendle.base_url,
                TREASURY_PENDLE_MARKET=pendle.market,
                TREASURY_ONEINCH_BASE_URL=oneinch.base_url,
                TREASURY_ONEINCH_API_KEY=REFUSED_ONEINCH_KEY,
                TREASURY_ADVISOR="claude",
                ANTHROPIC_API_KEY=API_KEY,
                ANTHROPIC_BASE_URL=messages.base_url,
                TREASURY_CLAUDE_MODEL="claude-no-such-model-9",
            )
            upgraded = treasury(env, "db", "upgrade")
            assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
            done = treasury(env, "preflight")
    finally:
        messages.stop()
    printed = done.stdout + done.stderr
    assert done.returncode != 0, printed
    failed = {
        line.split(":", 1)[0].removeprefix("failed").strip(): line
        for line in done.stdout.splitlines()
        if line.startswith("failed ")
    }
    expected_fixes = {
        "rpc chain id": "-> fix: point TREASURY_RPC_URL_ETHEREUM at a node for chain 1",
        "rpc chain id arbitrum": (
            "-> fix: point TREASURY_RPC_URL_ARBITRUM at a node for chain 42161"
        ),
        "market source coingecko": "set a valid TREASURY_COINGECKO_API_KEY",
        "1inch api": "-> fix: the key was refused: set a valid TREASURY_ONEINCH_API_KEY",
        "pendle market": "-> fix: set TREASURY_PENDLE_MARKET to an active market",
        "claude model": "-> fix: set TREASURY_CLAUDE_MODEL to a current model id",
    }
    for name, fix in expected_fixes.items():
        assert name in failed, f"no failed line for {name}:\n{done.stdout}"
        assert fix in failed[name], failed[name]
    assert "ok      keystore and gas: keystore unlocked" in done.stdout
    assert done.stdout.strip().splitlines()[-1].startswith("preflight: ")
    assert "Traceback" not in printed
    for secret in (
        PASSPHRASE,
        REFUSED_KEY,
        REFUSED_ONEINCH_KEY,
        API_TOKEN,
        API_KEY,
        *KEYS.values(),
    ):
        assert secret not in printed
