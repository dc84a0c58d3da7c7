"""Chain integration fixtures: the dev chain (in-process and anvil) with an executor over it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from eth_account import Account

from adapters.chain.aave import AaveV3
from adapters.chain.addresses import Token
from adapters.chain.curve import Curve3Pool
from adapters.chain.devchain.fake_apis import FakeApiServer
from adapters.chain.executor import Web3Executor
from adapters.chain.journal import InMemoryStepJournal
from adapters.chain.keystore import KeystoreSigner
from application.ports.chain import SimulationMethod
from tests.integration.devchain.fixtures import (
    DevChain,
    anvil_deployment,
    anvil_devchain,
    anvil_fake_apis,
    anvil_rpc_url,
    devchain,
    devchain_deployment,
    fake_apis,
)

__all__ = [
    "anvil_deployment",
    "anvil_devchain",
    "anvil_fake_apis",
    "anvil_rpc_url",
    "devchain",
    "devchain_deployment",
    "fake_apis",
]

IN_PROCESS = "in-process"
ANVIL = "anvil"


@dataclass
class Rig:
    """A dev chain with the treasury's signer, journal, executor and protocol adapters."""

    chain: DevChain
    signer: KeystoreSigner
    journal: InMemoryStepJournal
    executor: Web3Executor
    aave: AaveV3
    curve: Curve3Pool
    make_executor: Callable[..., Web3Executor]
    label: str = IN_PROCESS

    @property
    def bundle_method(self) -> SimulationMethod:
        """How this chain simulates bundles: evm_snapshot in-process, eth_simulateV1 on anvil."""
        if self.label == ANVIL:
            return SimulationMethod.SIMULATE_V1
        return SimulationMethod.SNAPSHOT

    def tokens(self) -> dict[str, Token]:
        book = self.chain.book
        return {
            s: Token(symbol=s, address=a, decimals=book.decimals[s]) for s, a in book.tokens.items()
        }


def build_rig(chain: DevChain, label: str = IN_PROCESS, **executor_options: Any) -> Rig:
    """Executor and adapters over a dev chain, signing as the funded treasury account."""
    signer = KeystoreSigner(Account.from_key(chain.treasury_key))
    journal = InMemoryStepJournal()
    book = chain.book

    def make_executor(**overrides: Any) -> Web3Executor:
        options: dict[str, Any] = {
            "chain_id": book.chain_id,
            "poll_interval_seconds": 0.05,
            "receipt_timeout_seconds": 20.0,
        }
        options.update(executor_options)
        options.update(overrides)
        return Web3Executor(
            chain.w3,
            overrides.pop("signer", signer),
            overrides.pop("journal", journal),
            **{k: v for k, v in options.items() if k not in {"signer", "journal"}},
        )

    tokens = {
        s: Token(symbol=s, address=a, decimals=book.decimals[s]) for s, a in book.tokens.items()
    }
    aave = AaveV3(chain.w3, chain_id=book.chain_id, pool=book.aave_pool, tokens=tokens)
    curve = Curve3Pool.with_tokens(
        chain.w3, tokens, chain_id=book.chain_id, pool=book.curve_pool, lp_token=book.curve_lp
    )
    return Rig(
        chain=chain,
        signer=signer,
        journal=journal,
        executor=make_executor(),
        aave=aave,
        curve=curve,
        make_executor=make_executor,
        label=label,
    )


@pytest.fixture(params=[IN_PROCESS, pytest.param(ANVIL, marks=pytest.mark.anvil)])
def rig(request: pytest.FixtureRequest) -> Rig:
    """The rig on each dev chain: the in-process EVM (bundles simulated with evm_snapshot) and
    anvil over HTTP JSON-RPC (bundles simulated with eth_simulateV1); tests run on both."""
    chain = request.getfixturevalue("anvil_devchain" if request.param == ANVIL else "devchain")
    return build_rig(chain, label=request.param)


@pytest.fixture
def apis(rig: Rig, request: pytest.FixtureRequest) -> FakeApiServer:
    """The fake 1inch and Pendle APIs serving calldata for the rig's chain."""
    server = request.getfixturevalue("anvil_fake_apis" if rig.label == ANVIL else "fake_apis")
    assert isinstance(server, FakeApiServer)
    return server


@pytest.fixture
def anvil_rig(anvil_devchain: DevChain) -> Rig:
    """The anvil rig over HTTP JSON-RPC (bundles simulated with eth_simulateV1)."""
    return build_rig(anvil_devchain, label=ANVIL)


SLIPPAGE = Decimal("0.005")


def assert_refused(caplog: pytest.LogCaptureFixture, step_id: str, reason: str) -> None:
    """The executor logged exactly one refusal for `step_id`, giving `reason`; nothing sent."""
    refusals = [
        r
        for r in caplog.records
        if r.getMessage() == "step refused; nothing sent" and getattr(r, "step_id", None) == step_id
    ]
    assert len(refusals) == 1, [r.getMessage() for r in caplog.records]
    assert reason in str(getattr(refusals[0], "reason", "")), getattr(refusals[0], "reason", "")
