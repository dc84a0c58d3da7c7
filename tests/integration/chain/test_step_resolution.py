"""Steps a crash left signed but unconfirmed: never sent by another step, resolved on their own.

On anvil (a real JSON-RPC node) with the executor's fault points standing in for a crash or a
competing sender: what the node answers ("nonce too low", "already known") is a signal to look
at the chain at once, not a transient node failure.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from eth_account import Account

from adapters.chain.journal import InMemoryStepJournal
from application.ports.chain import (
    BroadcastAttempt,
    NonceConflict,
    StepFate,
    TransactionRequest,
    UnresolvedStep,
)
from application.ports.faults import FaultPoint
from tests.integration.chain.conftest import Rig

pytestmark = pytest.mark.anvil
USDC = 10**6


def _rpc(url: str, method: str, *params: Any) -> Any:
    body = httpx.post(
        url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    ).json()
    assert "error" not in body, body
    return body["result"]


class CrashAfterRecording(InMemoryStepJournal):
    """A journal whose process dies right after the attempt is persisted, before broadcast."""

    def __init__(self) -> None:
        super().__init__()
        self.crash = True

    async def record_attempt(self, attempt: BroadcastAttempt) -> None:
        await super().record_attempt(attempt)
        if self.crash:
            self.crash = False
            raise KeyboardInterrupt  # the process stops here


class RememberingJournal(InMemoryStepJournal):
    """The in-memory journal, keeping the last attempt for a fault point to use."""

    last: BroadcastAttempt | None = None

    async def record_attempt(self, attempt: BroadcastAttempt) -> None:
        await super().record_attempt(attempt)
        self.last = attempt


class CompetingSender:
    """At `after_sign`, something else reaches the node first with the step's nonce: the very
    bytes just signed (`same=True`, as a second copy of the process would) or a different
    transaction of the same key (`same=False`)."""

    def __init__(self, url: str, key: str, journal: RememberingJournal, *, same: bool) -> None:
        self._url, self._key, self._journal, self._same = url, key, journal, same
        self.sent: str | None = None

    def reach(self, point: FaultPoint) -> None:
        attempt = self._journal.last
        if point is not FaultPoint.AFTER_SIGN or attempt is None or self.sent is not None:
            return
        raw = attempt.raw_transaction
        if not self._same:
            account = Account.from_key(self._key)
            raw = (
                "0x"
                + account.sign_transaction(
                    {
                        "chainId": attempt.chain_id,
                        "nonce": attempt.nonce,
                        "to": account.address,
                        "value": 0,
                        "gas": 21_000,
                        "maxFeePerGas": attempt.max_fee_per_gas,
                        "maxPriorityFeePerGas": attempt.max_priority_fee_per_gas,
                    }
                ).raw_transaction.hex()
            )
        self.sent = _rpc(self._url, "eth_sendRawTransaction", raw)


async def _approve(rig: Rig, usd: int = 100) -> TransactionRequest:
    (approve, _supply) = await rig.aave.build_deposit(
        rig.chain.treasury_address, "USDC", usd * USDC
    )
    return approve


def _url(rig: Rig) -> str:
    return str(rig.chain.w3.provider.endpoint_uri)  # type: ignore[attr-defined]


async def _mined_nonce(rig: Rig) -> int:
    return int(await rig.chain.w3.eth.get_transaction_count(rig.chain.treasury_address, "latest"))


async def test_the_next_send_never_broadcasts_another_steps_signed_but_unsent_transaction(
    anvil_rig: Rig,
) -> None:
    rig, journal = anvil_rig, CrashAfterRecording()
    with pytest.raises(KeyboardInterrupt):
        await rig.make_executor(journal=journal).send(await _approve(rig), "old-plan:0")
    (stale,) = await journal.attempts("old-plan:0")

    restarted = rig.make_executor(journal=journal, receipt_timeout_seconds=2.0)
    nonce = await _mined_nonce(rig)
    with pytest.raises(UnresolvedStep) as refused:
        await restarted.send(await _approve(rig, 50), "new-plan:0")
    assert (refused.value.step_id, refused.value.nonce) == ("old-plan:0", stale.nonce)
    assert _rpc(_url(rig), "eth_getTransactionByHash", stale.tx_hash) is None
    assert await journal.attempts("new-plan:0") == ()  # nothing signed either
    assert await _mined_nonce(rig) == nonce


async def test_a_signed_but_unsent_step_is_cancelled_by_a_same_nonce_no_op_and_never_runs(
    anvil_rig: Rig,
) -> None:
    rig, journal = anvil_rig, CrashAfterRecording()
    with pytest.raises(KeyboardInterrupt):
        await rig.make_executor(journal=journal).send(await _approve(rig), "old-plan:0")
    (stale,) = await journal.attempts("old-plan:0")
    restarted = rig.make_executor(journal=journal)
    assert await restarted.unresolved_steps() == ("old-plan:0",)

    resolution = await restarted.resolve("old-plan:0")

    assert resolution.fate is StepFate.CANCELLED
    assert resolution.nonce == stale.nonce
    cancel = _rpc(_url(rig), "eth_getTransactionByHash", resolution.cancel_hash)
    assert int(cancel["nonce"], 16) == stale.nonce
    assert int(cancel["value"], 16) == 0
    assert cancel["to"].lower() == cancel["from"].lower() == rig.chain.treasury_address.lower()
    assert _rpc(_url(rig), "eth_getTransactionByHash", stale.tx_hash) is None
    assert await _mined_nonce(rig) == stale.nonce + 1
    assert await restarted.unresolved_steps() == ()
    again = await rig.make_executor(journal=journal).resolve("old-plan:0")
    assert again.fate is StepFate.CANCELLED  # settled once: no second no-op
    assert await _mined_nonce(rig) == stale.nonce + 1
    receipt = await restarted.send(await _approve(rig, 50), "new-plan:0")
    assert receipt.nonce == stale.nonce + 1


async def test_a_step_mined_before_the_crash_is_resolved_to_its_own_receipt(
    anvil_rig: Rig,
) -> None:
    rig = anvil_rig
    sent = await rig.executor.send(await _approve(rig), "step-a")
    forgetful = InMemoryStepJournal()  # the receipt was never recorded, only the attempt
    for attempt in await rig.journal.attempts("step-a"):
        await forgetful.record_attempt(attempt)
    restarted = rig.make_executor(journal=forgetful)
    assert await restarted.unresolved_steps() == ("step-a",)
    resolution = await restarted.resolve("step-a")
    assert resolution.fate is StepFate.MINED
    assert resolution.receipt == sent
    assert await restarted.unresolved_steps() == ()
    never = await restarted.resolve("never-signed")
    assert never.fate is StepFate.NEVER_SIGNED


async def test_a_broadcast_answered_nonce_too_low_is_a_nonce_conflict_not_rpc_unavailable(
    anvil_rig: Rig,
) -> None:
    rig, journal = anvil_rig, RememberingJournal()
    rival = CompetingSender(_url(rig), rig.chain.treasury_key, journal, same=False)
    executor = rig.make_executor(journal=journal, faults=rival)
    nonce = await _mined_nonce(rig)
    with pytest.raises(NonceConflict) as conflict:
        await executor.send(await _approve(rig), "raced")
    assert conflict.value.nonce == nonce
    assert rival.sent is not None
    assert await _mined_nonce(rig) == nonce + 1  # the rival's, not ours


async def test_a_transaction_the_node_already_mined_when_we_broadcast_it_is_followed_to_its_receipt(
    anvil_rig: Rig,
) -> None:
    rig, journal = anvil_rig, RememberingJournal()
    twin = CompetingSender(_url(rig), rig.chain.treasury_key, journal, same=True)
    executor = rig.make_executor(journal=journal, faults=twin)
    nonce = await _mined_nonce(rig)
    receipt = await executor.send(await _approve(rig), "twin")
    assert receipt.success
    assert receipt.tx_hash == twin.sent
    assert receipt.nonce == nonce
    assert await _mined_nonce(rig) == nonce + 1
    assert await journal.outcome("twin") == receipt
