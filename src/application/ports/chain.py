"""Chain ports: signing, simulated execution, yield protocols, swap venues and protocol data.

Amounts on chain are `int` base units (wei for ETH); USD values and APYs are `Decimal`
(APY as a fraction: 0.045 is 4.5 %). Addresses are 0x-prefixed hex strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from application.errors import ApplicationError, PermanentError, TransientError
from domain.execution import StepKind as StepKind  # re-exported: adapters build steps of a kind
from domain.plans import Transaction

NATIVE_TOKEN = "0xEeeeeEeeeEeEeeEeEeEeeEEEeeeeEeeeeeeeEEeE"  # noqa: S105 (an address)
"""The placeholder address for the chain's native coin (ETH) in balance checks and swaps."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BalanceCheck:
    """An expected balance change of one holder in one token across a step.

    The change (after minus before, in base units) must lie in [min_delta, max_delta];
    `max_delta=None` means no upper bound. USDC down by exactly 100 is
    `min_delta=-100_000_000, max_delta=-100_000_000`; a swap paying at least the minimum is
    `min_delta=minimum`.
    """

    token: str
    holder: str
    min_delta: int
    max_delta: int | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.max_delta is not None and self.max_delta < self.min_delta:
            raise ValueError("max_delta must be >= min_delta")

    def holds(self, delta: int) -> bool:
        """Whether `delta` satisfies this check."""
        return delta >= self.min_delta and (self.max_delta is None or delta <= self.max_delta)


@dataclass(frozen=True, slots=True, kw_only=True)
class TransactionRequest:
    """An unsigned transaction a protocol adapter built, with what it is expected to do.

    `group` ties steps that stand or fall together (an approval and the deposit it enables);
    `value_usd` is the economic size of the group's main step, for the gas-share rule.
    """

    chain_id: int
    to: str
    data: str
    value: int = 0
    kind: StepKind
    description: str
    checks: tuple[BalanceCheck, ...] = ()
    group: str = ""
    value_usd: Decimal | None = None

    def __post_init__(self) -> None:
        if self.value < 0:
            raise ValueError("value must be >= 0")
        if not self.data.startswith("0x"):
            raise ValueError("data must be 0x-prefixed hex")


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckOutcome:
    """How one balance check came out in a simulation; `delta` is None when unverifiable."""

    check: BalanceCheck
    delta: int | None
    passed: bool


class SimulationMethod(StrEnum):
    """How a bundle was simulated."""

    SIMULATE_V1 = "eth_simulateV1"
    SNAPSHOT = "evm_snapshot"
    CALL = "eth_call"


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulationResult:
    """One step's simulation: gas, revert reason (decoded) and balance checks."""

    request: TransactionRequest
    success: bool
    gas_estimate: int
    revert_reason: str | None = None
    checks: tuple[CheckOutcome, ...] = ()
    method: SimulationMethod = SimulationMethod.CALL

    @property
    def passed(self) -> bool:
        """Did not revert and every balance check held."""
        return self.success and all(outcome.passed for outcome in self.checks)

    @property
    def failure(self) -> str | None:
        """Why the step failed, or None."""
        if not self.success:
            return self.revert_reason or "reverted"
        failed = [o for o in self.checks if not o.passed]
        if failed:
            o = failed[0]
            return (
                f"balance check failed: {o.check.description or o.check.token} changed by "
                f"{o.delta}, expected [{o.check.min_delta}, {o.check.max_delta}]"
            )
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class BundleSimulation:
    """A whole plan simulated with state carried from step to step."""

    steps: tuple[SimulationResult, ...]
    method: SimulationMethod

    @property
    def passed(self) -> bool:
        """Every step passed."""
        return all(step.passed for step in self.steps)

    @property
    def first_failure(self) -> tuple[int, str] | None:
        """Index and reason of the first failing step, if any."""
        for index, step in enumerate(self.steps):
            reason = step.failure
            if reason is not None:
                return index, reason
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class DroppedStep:
    """A step left out of a plan, with the reason recorded."""

    request: TransactionRequest
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanSimulation:
    """A plan after simulation and the gas-share rule: what to send and what was dropped."""

    simulation: BundleSimulation
    kept: tuple[TransactionRequest, ...]
    dropped: tuple[DroppedStep, ...] = ()
    fees: FeeQuote | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FeeQuote:
    """EIP-1559 fees for the next block, in wei per gas."""

    base_fee: int
    max_priority_fee: int
    max_fee: int


@dataclass(frozen=True, slots=True, kw_only=True)
class UnsignedTransaction:
    """Every field of an EIP-1559 transaction, ready to sign."""

    chain_id: int
    nonce: int
    to: str
    data: str
    value: int
    gas: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedTransaction:
    """A signed transaction: its raw bytes (public once broadcast) and hash."""

    raw: bytes
    tx_hash: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SendReceipt:
    """What the chain says about a mined transaction."""

    tx_hash: str
    nonce: int
    success: bool
    gas_estimated: int
    gas_used: int
    effective_gas_price: int
    block_number: int
    replaced_hashes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class BroadcastAttempt:
    """One signed transaction for a step, persisted before it is broadcast.

    Replacements of a stuck transaction are further attempts with the same nonce.
    `chain_instance` is the genesis block hash of the chain it was signed for (the journal
    stamps it when it records the attempt): a dev chain started again with the same chain id
    is another chain, on which the old nonces and transactions mean nothing. It is empty for
    attempts recorded before chain instances were kept.
    """

    step_id: str
    chain_id: int
    sender: str
    nonce: int
    tx_hash: str
    raw_transaction: str
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    gas_limit: int
    gas_estimated: int
    attempt: int
    recorded_at: datetime
    chain_instance: str = ""


class StepFate(StrEnum):
    """How a signed-but-unconfirmed step was settled for good (see `resolve`)."""

    MINED = "mined"
    """One of its own attempts is on chain (the receipt says whether it succeeded)."""
    NEVER_SIGNED = "never_signed"
    """Nothing was ever signed for it: nothing was sent."""
    CANCELLED = "cancelled"
    """Its nonce was still free: a same-nonce no-op took it, so the step can never run."""
    NONCE_TAKEN = "nonce_taken"
    """Another transaction, not one of its attempts, used its nonce: the step never ran."""
    PENDING = "pending"
    """Still unsettled: the cancellation was not mined in time, or could not be priced under
    the gas cap. Nothing new may be sent until it settles."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StepResolution:
    """What `resolve` found or did for one step."""

    step_id: str
    fate: StepFate
    receipt: SendReceipt | None = None
    """The step's own mined receipt (MINED only)."""
    nonce: int | None = None
    cancel_hash: str | None = None
    """The no-op that took the nonce (CANCELLED), or that was sent and is not mined (PENDING)."""
    detail: str = ""

    @property
    def settled(self) -> bool:
        """Whether the step needs no more work."""
        return self.fate is not StepFate.PENDING


class StepJournal(Protocol):
    """Where the engine persists intent, nonce and hash, so a restart never resends a step.

    `record_attempt` must be durable before the transaction is broadcast. A journal serves the
    chain instance it was opened for (the connected chain, told apart from an earlier chain
    with the same id by its genesis block hash): `record_attempt` stamps that instance, and
    `unfinished` and `highest_nonce` see only its attempts, so the next nonce and any
    rebroadcast never come from a chain that no longer exists. Attempts signed for another
    instance of the same chain id are `vanished` until settled.
    """

    async def attempts(self, step_id: str) -> tuple[BroadcastAttempt, ...]:
        """Every attempt recorded for a step, oldest first."""
        ...

    async def record_attempt(self, attempt: BroadcastAttempt) -> None:
        """Persist a signed attempt (before broadcast)."""
        ...

    async def record_outcome(self, step_id: str, receipt: SendReceipt) -> None:
        """Persist the mined outcome of a step."""
        ...

    async def outcome(self, step_id: str) -> SendReceipt | None:
        """The recorded outcome of a step, if it has one."""
        ...

    async def unfinished(self, chain_id: int, sender: str) -> tuple[BroadcastAttempt, ...]:
        """The latest attempt of every step of `sender` on `chain_id` (this instance) with no
        outcome."""
        ...

    async def highest_nonce(self, chain_id: int, sender: str) -> int | None:
        """The highest nonce recorded for `sender` on `chain_id` (this instance), if any."""
        ...

    async def vanished(self, chain_id: int) -> tuple[BroadcastAttempt, ...]:
        """The latest attempt of every unsettled step with no outcome that was signed for
        another instance of `chain_id` (a chain that no longer exists), oldest first."""
        ...

    async def settle_vanished(self, step_id: str, at: datetime) -> None:
        """Mark a vanished step settled: it is never reported as vanished again."""
        ...


class Signer(Protocol):
    """Holds one account's key and signs with it; never reveals the key."""

    @property
    def address(self) -> str:
        """The checksummed account address."""
        ...

    def sign(self, transaction: UnsignedTransaction) -> SignedTransaction:
        """Sign an EIP-1559 transaction."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchSimulation:
    """A whole batch simulated as it would be sent: success, gas, and why it failed."""

    success: bool
    gas_estimate: int
    revert_reason: str | None = None


class PlanBatchSender(Protocol):
    """Sends a plan's calls as ONE transaction, all or nothing (a Safe's scoped batch).

    The calls act for the account that holds the treasury (the Safe); the transaction is
    signed by the service's key. The batch id names the batch in the step journal: asked
    again for the same id, the sender never signs anew, so a batch executes at most once.
    """

    async def simulate(self, requests: tuple[TransactionRequest, ...]) -> BatchSimulation:
        """Simulate the whole batch; nothing is sent.

        Raises:
            RpcUnavailable: the node did not answer.
        """
        ...

    async def send(self, requests: tuple[TransactionRequest, ...], batch_id: str) -> SendReceipt:
        """Simulate, sign, journal, broadcast and wait for the batch.

        Raises:
            SimulationFailed: the batch failed its simulation; nothing was sent.
            RpcUnavailable: the node did not answer.
        """
        ...

    @property
    def accounts(self) -> dict[str, str]:
        """Who acts, for the audit trail: the account the calls act for, the signing key's
        address and the contract it calls through (for a Safe: `safe`, `agent`, `module`)."""
        ...


class TransactionExecutor(Protocol):
    """Simulates, then sends and follows transactions on one chain."""

    @property
    def chain_id(self) -> int:
        """The chain this executor sends to."""
        ...

    async def fees(self) -> FeeQuote:
        """EIP-1559 fees for the next block.

        Raises:
            GasPriceAboveCap: the base fee is above the configured cap.
            RpcUnavailable: the node did not answer.
        """
        ...

    async def simulate_bundle(self, requests: tuple[TransactionRequest, ...]) -> BundleSimulation:
        """Simulate steps in order with state carried between them, checking balances.

        Raises:
            RpcUnavailable: the node did not answer.
        """
        ...

    async def simulate_plan(
        self, requests: tuple[TransactionRequest, ...], eth_usd: Decimal
    ) -> PlanSimulation:
        """Simulate a plan and drop groups whose gas costs more than the allowed share.

        Raises:
            SimulationFailed: a kept step fails.
            GasPriceAboveCap, RpcUnavailable.
        """
        ...

    async def send(self, request: TransactionRequest, step_id: str) -> SendReceipt:
        """Simulate, sign, record, broadcast and wait for one step.

        A step with recorded attempts is reconciled with the chain, never sent twice.

        Raises:
            SimulationFailed: the simulation failed; nothing was sent.
            GasPriceAboveCap: the base fee is above the cap; nothing was sent.
            InsufficientBalance: the account cannot pay; nothing was sent.
            TransactionReverted: mined but reverted.
            StuckTransaction: not mined in time and no longer replaceable.
            RpcUnavailable: the node did not answer.
        """
        ...

    async def reconcile(self, step_id: str) -> SendReceipt | None:
        """After a restart: the step's mined outcome if any attempt was mined, else None.

        Raises:
            RpcUnavailable: the node did not answer.
        """
        ...

    async def resolve(self, step_id: str) -> StepResolution:
        """Settle a step for good: its receipt if mined, else cancel it with a same-nonce
        no-op while its nonce is free. Sends nothing of the step itself.

        Raises:
            RpcUnavailable: the node did not answer.
        """
        ...

    async def unresolved_steps(self) -> tuple[str, ...]:
        """Ids of this signer's steps with a signed attempt and no settled outcome (plan steps
        and steps outside any plan, such as paper funding moves)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ProtocolPosition:
    """A position as its protocol values it."""

    protocol: str
    chain_id: int
    asset: str
    token: str
    balance: int
    decimals: int
    value_usd: Decimal
    apy: Decimal | None
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class SwapQuote:
    """A venue's quote: base units in and out."""

    venue: str
    chain_id: int
    src_token: str
    dst_token: str
    amount_in: int
    amount_out: int
    gas: int | None = None


class YieldProtocol(Protocol):
    """A protocol the treasury deposits into."""

    name: str

    async def position(self, owner: str, asset: str) -> ProtocolPosition:
        """The owner's position in `asset` (a symbol), valued the protocol's way.

        Raises:
            RpcUnavailable: the node did not answer.
        """
        ...

    async def apy(self, asset: str) -> Decimal:
        """Current supply APY of `asset` as a fraction."""
        ...

    async def build_deposit(
        self, owner: str, asset: str, amount: int, slippage: Decimal
    ) -> tuple[TransactionRequest, ...]:
        """Approval (only if needed, exact amount) and deposit transactions.

        Raises:
            InsufficientBalance: the owner does not hold `amount`.
        """
        ...

    async def build_withdraw(
        self, owner: str, asset: str, amount: int, slippage: Decimal
    ) -> tuple[TransactionRequest, ...]:
        """Withdrawal transactions returning `amount` of `asset` (base units).

        Raises:
            InsufficientBalance: the position is smaller than `amount`.
        """
        ...


class SwapVenue(Protocol):
    """A place to swap tokens."""

    name: str

    async def quote(self, src_token: str, dst_token: str, amount: int) -> SwapQuote:
        """How much `dst_token` `amount` of `src_token` buys now."""
        ...

    async def build_swap(
        self, owner: str, src_token: str, dst_token: str, amount: int, slippage: Decimal
    ) -> tuple[TransactionRequest, ...]:
        """Approval (only if needed, exact amount) and a swap with minimum output from slippage.

        Raises:
            InsufficientBalance: the owner does not hold `amount`.
            ProtocolUnavailable: the venue's API failed.
        """
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolYield:
    """A pool's TVL and APY from a data aggregator."""

    project: str
    chain: str
    symbol: str
    tvl_usd: Decimal
    apy: Decimal | None
    pool_id: str


class ProtocolDataSource(Protocol):
    """Protocol TVL and pool APYs (the safety policy's minimum-TVL check reads it)."""

    async def protocol_tvl(self, protocol: str) -> Decimal:
        """A protocol's TVL in USD.

        Raises:
            ProtocolUnavailable: the source failed or answered in an unknown shape.
        """
        ...

    async def pools(self, project: str, chain: str | None = None) -> tuple[PoolYield, ...]:
        """A project's pools (optionally on one chain) with TVL and APY."""
        ...


# --- errors -----------------------------------------------------------------------------


class SimulationFailed(PermanentError):
    """A simulation reverted or a balance check failed; nothing was sent."""

    def __init__(self, reason: str, step: str = "") -> None:
        self.reason = reason
        self.step = step
        super().__init__(f"simulation failed{f' for {step}' if step else ''}: {reason}")


class GasPriceAboveCap(TransientError):
    """The base fee is above the gas cap; nothing was sent."""

    def __init__(self, base_fee: int, cap: int) -> None:
        self.base_fee = base_fee
        self.cap = cap
        super().__init__(
            f"base fee {base_fee / 10**9:.2f} gwei is above the cap of {cap / 10**9:.2f} gwei; "
            "nothing was sent"
        )


class InsufficientBalance(PermanentError):
    """The account does not hold enough of a token; nothing was sent."""

    def __init__(self, token: str, needed: int, available: int) -> None:
        self.token = token
        self.needed = needed
        self.available = available
        super().__init__(
            f"insufficient {token} balance: need {needed} base units, have {available}"
        )


class RpcUnavailable(TransientError):
    """The JSON-RPC node did not answer (down, timed out or malformed)."""

    def __init__(self, endpoint: str, reason: str) -> None:
        self.endpoint = endpoint
        self.reason = reason
        super().__init__(f"JSON-RPC node {endpoint} unavailable: {reason}")


class StuckTransaction(TransientError):
    """A transaction was not mined in time and could not be replaced within the cap."""

    def __init__(self, step_id: str, nonce: int, tx_hash: str, reason: str) -> None:
        self.step_id = step_id
        self.nonce = nonce
        self.tx_hash = tx_hash
        self.reason = reason
        super().__init__(f"step {step_id} (nonce {nonce}, {tx_hash}) is stuck: {reason}")


class TransactionReverted(PermanentError):
    """A transaction was mined but reverted."""

    def __init__(self, step_id: str, tx_hash: str, receipt: SendReceipt) -> None:
        self.step_id = step_id
        self.tx_hash = tx_hash
        self.receipt = receipt
        super().__init__(f"step {step_id}: transaction {tx_hash} reverted on chain")


class NonceConflict(PermanentError):
    """A recorded nonce was used by a transaction this engine did not send."""

    def __init__(self, step_id: str, nonce: int) -> None:
        self.step_id = step_id
        self.nonce = nonce
        super().__init__(
            f"step {step_id}: nonce {nonce} was consumed by another transaction; "
            "check the account for outside activity"
        )


class NonceAlreadyUsed(ApplicationError):
    """The node refused a broadcast because the nonce or the very transaction is already
    known ("nonce too low", "already known"). Not a node failure and not retried: the sender
    looks at the chain at once (`reconcile`)."""

    def __init__(self, endpoint: str, reason: str) -> None:
        self.endpoint = endpoint
        self.reason = reason
        super().__init__(f"JSON-RPC node {endpoint} already has this nonce: {reason}")


class UnresolvedStep(PermanentError):
    """A new step may not be signed while an earlier step's transaction is unsettled: it would
    wait behind it, or the earlier one would run outside its plan. Nothing was sent."""

    def __init__(self, step_id: str, nonce: int) -> None:
        self.step_id = step_id
        self.nonce = nonce
        super().__init__(
            f"step {step_id} (nonce {nonce}) is signed and not settled; resolve it first "
            "(the service does at start-up and before each plan); nothing was sent"
        )


class ProtocolUnavailable(TransientError):
    """A protocol's API or contract could not be read, or answered in an unknown shape."""

    def __init__(self, source: str, reason: str, *, permanent: bool = False) -> None:
        self.source = source
        self.reason = reason
        self.permanent = permanent
        super().__init__(f"{source}: {reason}")


class KeystoreError(PermanentError):
    """The keystore could not be read, created or decrypted (the message never holds secrets)."""


class TransactionBuilder(Protocol):
    """Turns one planned move into the on-chain requests that carry it out."""

    def start_plan(self) -> None:
        """A new plan's moves are about to be built: forget what an earlier plan's build
        counted on (an allowance it meant to use, say), since that plan may never have run."""
        ...

    async def build(self, tx: Transaction) -> tuple[TransactionRequest, ...]:
        """Approval (only if needed, exact) and action requests for `tx`, in order.

        Raises:
            InsufficientBalance: the treasury does not hold what the move spends.
            ProtocolUnavailable: the protocol or its API could not be read.
        """
        ...
