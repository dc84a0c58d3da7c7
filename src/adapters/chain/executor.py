"""The TransactionExecutor over web3.py's AsyncWeb3: simulate, sign, record, send, follow.

Every send runs the same path: resume a recorded step (never send it twice), simulate, fetch
EIP-1559 fees (refusing above the gas cap), pick the nonce from the chain and the journal,
sign, persist the attempt, broadcast, then wait for the receipt and confirmations, replacing a
transaction that is not mined in time with a higher fee that never exceeds the cap.

This module sequences the parts: bundles are simulated by the `BundleSimulator` chosen once for
the node (`simulation.py`), fees are computed in `fees.py`, attempts are signed, journaled and
broadcast by `attempts.py`, followed and replaced by `following.py`, steps a crash left
unsettled are resolved by `resolution.py`, and `rpc.py` talks to the node.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from web3 import AsyncWeb3

from adapters.chain import fees as fee_rules
from adapters.chain.attempts import AttemptLog, AttemptTerms
from adapters.chain.fees import GWEI
from adapters.chain.following import StepFollower
from adapters.chain.resolution import StepResolver
from adapters.chain.rpc import NodeClient
from adapters.chain.simulation import (
    BundleSimulator,
    CallSimulator,
    SimulateV1Simulator,
    SimulationMode,
    SnapshotSimulator,
    detect_method,
)
from application.ports.chain import (
    BroadcastAttempt,
    BundleSimulation,
    DroppedStep,
    FeeQuote,
    GasPriceAboveCap,
    InsufficientBalance,
    PlanSimulation,
    RpcUnavailable,
    SendReceipt,
    Signer,
    SimulationFailed,
    SimulationMethod,
    SimulationResult,
    StepJournal,
    StepResolution,
    TransactionRequest,
    UnresolvedStep,
)
from application.ports.faults import NO_FAULTS, FaultPoint, FaultPoints
from domain.planner import PlannerConfig, exceeds_gas_share
from domain.safety import SafetyLimits

logger = logging.getLogger(__name__)

# The strategy's defaults (the service always passes its configured values): one home each.
DEFAULT_GAS_CAP_WEI = int(SafetyLimits().gas_price_cap_gwei * GWEI)
DEFAULT_MAX_GAS_SHARE = PlannerConfig().max_gas_share

REFUSALS: tuple[type[BaseException], ...] = (
    SimulationFailed,
    GasPriceAboveCap,
    InsufficientBalance,
    RpcUnavailable,
    UnresolvedStep,
)
"""Errors that stop a step before it is signed: nothing is recorded and nothing is sent."""


class Web3Executor:
    """Simulates and sends transactions for one signer on one chain."""

    def __init__(
        self,
        w3: AsyncWeb3[Any],
        signer: Signer,
        journal: StepJournal,
        *,
        chain_id: int,
        endpoint: str = "node",
        gas_cap_wei: int = DEFAULT_GAS_CAP_WEI,
        priority_fee_percentile: float = 50.0,
        fee_history_blocks: int = 10,
        confirmations: int = 1,
        receipt_timeout_seconds: float = 180.0,
        poll_interval_seconds: float = 1.0,
        replace_after_blocks: int = 3,
        fee_bump: Decimal = Decimal("0.125"),
        gas_limit_margin: Decimal = Decimal("0.25"),
        max_gas_share: Decimal = DEFAULT_MAX_GAS_SHARE,
        simulation: SimulationMode = SimulationMode.AUTO,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        faults: FaultPoints = NO_FAULTS,
        write_lock: asyncio.Lock | None = None,
    ) -> None:
        if confirmations < 1:
            raise ValueError("confirmations must be >= 1")
        if fee_bump < Decimal("0.1"):
            raise ValueError("nodes refuse replacements bumped by less than 10 %")
        self._node = NodeClient(w3, endpoint)
        # Held from evm_snapshot to evm_revert: anything another writer mines in between would
        # be undone by the revert (the paper world shares this lock; see devchain/world.py).
        self._write_lock = write_lock if write_lock is not None else asyncio.Lock()
        self._signer = signer
        self._journal = journal
        self._chain_id = chain_id
        self._cap = gas_cap_wei
        self._percentile = priority_fee_percentile
        self._history_blocks = fee_history_blocks
        self._margin = gas_limit_margin
        self._max_gas_share = max_gas_share
        self._faults = faults
        self._lock = asyncio.Lock()
        self._attempts = AttemptLog(self._node, signer, journal, chain_id=chain_id, now=now)
        self._resolver = StepResolver(
            self._node,
            self._attempts,
            journal,
            chain_id=chain_id,
            sender=signer.address,
            quote_fees=self._quote_fees,
            gas_cap_wei=gas_cap_wei,
            fee_bump=fee_bump,
            timeout_seconds=receipt_timeout_seconds,
            poll_interval_seconds=poll_interval_seconds,
        )
        self._follower = StepFollower(
            self._node,
            self._attempts,
            journal,
            quote_fees=self._quote_fees,
            simulate=self.simulate_bundle,
            gas_cap_wei=gas_cap_wei,
            fee_bump=fee_bump,
            confirmations=confirmations,
            timeout_seconds=receipt_timeout_seconds,
            poll_interval_seconds=poll_interval_seconds,
            replace_after_blocks=replace_after_blocks,
        )
        # A forced mode builds its simulator now; AUTO builds it once the node is probed.
        self._simulator: BundleSimulator | None = None
        if simulation is not SimulationMode.AUTO:
            self._simulator = self._build_simulator(SimulationMethod(simulation.value))

    def __repr__(self) -> str:
        return (
            f"Web3Executor(chain_id={self._chain_id}, endpoint={self._node.endpoint}, "
            f"sender={self._signer.address})"
        )

    @property
    def chain_id(self) -> int:
        """The chain this executor sends to."""
        return self._chain_id

    @property
    def sender(self) -> str:
        """The signing account."""
        return self._signer.address

    # --- fees ---------------------------------------------------------------------------

    async def _quote_fees(self) -> FeeQuote:
        return await self._node.fee_quote(self._history_blocks, self._percentile)

    async def fees(self) -> FeeQuote:
        """EIP-1559 fees for the next block, the tip from a fee-history percentile, capped.

        Raises:
            GasPriceAboveCap: the next base fee is above the cap.
            RpcUnavailable: the node did not answer.
        """
        quote = await self._quote_fees()
        try:
            return fee_rules.capped_fees(quote, self._cap)
        except GasPriceAboveCap:
            logger.warning(
                "base fee above the gas cap; refusing to send",
                extra={"base_fee_wei": quote.base_fee, "cap_wei": self._cap},
            )
            raise

    # --- simulation ---------------------------------------------------------------------

    def _build_simulator(self, method: SimulationMethod) -> BundleSimulator:
        if method is SimulationMethod.SIMULATE_V1:
            return SimulateV1Simulator(self._node, self._signer, self._faults)
        if method is SimulationMethod.CALL:
            return CallSimulator(self._node, self._signer, self._faults)
        return SnapshotSimulator(
            self._node,
            self._signer,
            chain_id=self._chain_id,
            quote_fees=self._quote_fees,
            gas_limit_margin=self._margin,
            faults=self._faults,
            write_lock=self._write_lock,
        )

    async def _chosen_simulator(self) -> BundleSimulator:
        if self._simulator is None:
            method = await detect_method(self._node)
            logger.info(
                "bundle simulation method",
                extra={"endpoint": self._node.endpoint, "method": str(method)},
            )
            self._simulator = self._build_simulator(method)
        return self._simulator

    async def simulation_method(self) -> SimulationMethod:
        """The bundle simulation this node supports (detected once, then remembered)."""
        return (await self._chosen_simulator()).method

    async def simulate_bundle(self, requests: tuple[TransactionRequest, ...]) -> BundleSimulation:
        """Simulate steps in order with state carried between them, checking balances.

        Raises:
            RpcUnavailable: the node did not answer.
            InsufficientBalance: (in-process EVM only) the sender cannot pay for the call.
        """
        simulator = await self._chosen_simulator()
        if not requests:
            return BundleSimulation(steps=(), method=simulator.method)
        result = BundleSimulation(steps=await simulator.simulate(requests), method=simulator.method)
        failure = result.first_failure
        logger.info(
            "bundle simulated",
            extra={
                "method": str(simulator.method),
                "steps": len(requests),
                "passed": result.passed,
                "failure": failure[1] if failure else None,
                "gas": [s.gas_estimate for s in result.steps],
            },
        )
        return result

    async def simulate_plan(
        self, requests: tuple[TransactionRequest, ...], eth_usd: Decimal
    ) -> PlanSimulation:
        """Simulate a plan, drop groups whose gas exceeds the allowed share of their value.

        Raises:
            SimulationFailed: a step of the (remaining) plan fails; nothing is sent.
            GasPriceAboveCap: the base fee is above the cap.
            RpcUnavailable: the node did not answer.
        """
        simulation = await self.simulate_bundle(requests)
        failure = simulation.first_failure
        if failure is not None:
            index, reason = failure
            raise SimulationFailed(reason, requests[index].description)
        fees = await self.fees()
        dropped = self._too_costly(simulation.steps, fees, eth_usd)
        dropped_ids = {id(d.request) for d in dropped}
        kept = tuple(r for r in requests if id(r) not in dropped_ids)
        if dropped and kept:
            simulation = await self.simulate_bundle(kept)
            failure = simulation.first_failure
            if failure is not None:
                raise SimulationFailed(failure[1], kept[failure[0]].description)
        return PlanSimulation(simulation=simulation, kept=kept, dropped=tuple(dropped), fees=fees)

    def _too_costly(
        self, steps: Sequence[SimulationResult], fees: FeeQuote, eth_usd: Decimal
    ) -> list[DroppedStep]:
        """The steps of every group whose gas breaks the domain's gas-share rule."""
        price = fees.base_fee + fees.max_priority_fee
        groups: dict[str, list[SimulationResult]] = {}
        for position, step in enumerate(steps):
            groups.setdefault(step.request.group or f"#{position}", []).append(step)
        dropped: list[DroppedStep] = []
        for group in groups.values():
            values = [s.request.value_usd for s in group if s.request.value_usd is not None]
            if not values:
                continue
            value_usd = max(values)
            gas = sum(s.gas_estimate for s in group)
            cost_usd = fee_rules.gas_cost_usd(gas, price, eth_usd)
            if exceeds_gas_share(cost_usd, value_usd, self._max_gas_share):
                reason = (
                    f"gas ${cost_usd:.2f} ({gas} gas at {price / GWEI:.2f} gwei) exceeds "
                    f"{self._max_gas_share:%} of the step's ${value_usd:.2f}"
                )
                dropped.extend(DroppedStep(request=s.request, reason=reason) for s in group)
                logger.info(
                    "step dropped: gas too large a share of its value",
                    extra={"step": group[-1].request.description, "reason": reason},
                )
        return dropped

    # --- sending ------------------------------------------------------------------------

    async def send(self, request: TransactionRequest, step_id: str) -> SendReceipt:
        """Simulate, sign, record, broadcast and follow one step; a recorded step is resumed.

        Raises:
            SimulationFailed: the simulation failed; nothing was sent.
            GasPriceAboveCap: the base fee is above the cap; nothing was sent.
            InsufficientBalance: the account cannot pay value and gas; nothing was sent.
            TransactionReverted: mined but reverted.
            StuckTransaction: not mined in time and not replaceable under the cap.
            NonceConflict: the step's nonce was used by another transaction.
            RpcUnavailable: the node did not answer.
        """
        if request.chain_id != self._chain_id:
            raise ValueError(f"request for chain {request.chain_id} sent to chain {self._chain_id}")
        async with self._lock:
            attempts = await self._journal.attempts(step_id)
            if attempts:
                logger.info(
                    "step already recorded; reconciling instead of sending",
                    extra={"step_id": step_id, "nonce": attempts[-1].nonce},
                )
                return await self._follower.resume(step_id, request, attempts)
            try:
                await self._resolver.require_no_unsettled_step(step_id)
                attempt = await self._prepare(step_id, request)
            except REFUSALS as exc:
                # Nothing was signed or broadcast for this step: say why, once, here.
                logger.warning(
                    "step refused; nothing sent",
                    extra={
                        "step_id": step_id,
                        "step": request.description,
                        "error": type(exc).__name__,
                        "reason": str(exc),
                    },
                )
                raise
            self._faults.reach(FaultPoint.AFTER_SIGN)
            settled = await self._follower.broadcast(step_id, request, [attempt])
            if settled is not None:
                return settled
            self._faults.reach(FaultPoint.AFTER_BROADCAST)
            return await self._follower.follow(step_id, request, [attempt])

    async def _prepare(self, step_id: str, request: TransactionRequest) -> BroadcastAttempt:
        """Simulate, price, fund-check, pick the nonce, sign and record (not yet broadcast)."""
        simulation = (await self.simulate_bundle((request,))).steps[0]
        if not simulation.passed:
            raise SimulationFailed(simulation.failure or "simulation failed", request.description)
        fees = await self.fees()
        estimate = simulation.gas_estimate
        gas_limit = fee_rules.gas_limit(estimate, self._margin)
        balance = await self._node.balance(self._signer.address)
        needed = request.value + gas_limit * fees.max_fee
        if balance < needed:
            raise InsufficientBalance("ETH", needed, balance)
        nonce = await self._attempts.next_nonce()
        terms = AttemptTerms(nonce=nonce, gas_limit=gas_limit, gas_estimated=estimate, fees=fees)
        return await self._attempts.sign_step(step_id, request, terms)

    async def reconcile(self, step_id: str) -> SendReceipt | None:
        """After a restart: the step's outcome if one of its attempts was mined, else None.

        Sends nothing.

        Raises:
            TransactionReverted: the mined transaction reverted.
            RpcUnavailable: the node did not answer.
        """
        return await self._follower.reconcile(step_id)

    # --- settling what a crash left -----------------------------------------------------

    async def unresolved_steps(self) -> tuple[str, ...]:
        """Ids of steps with a signed attempt and neither an outcome nor a mined cancellation."""
        return await self._resolver.unresolved_steps()

    async def resolve(self, step_id: str) -> StepResolution:
        """Settle a step for good (see `StepFate`): its receipt when one of its attempts is
        mined; else, while its nonce is free, a same-nonce no-op (0 ETH to itself) takes the
        nonce so that the step can never run outside its plan. Never sends the step itself.

        Raises:
            RpcUnavailable: the node did not answer.
        """
        async with self._lock:
            return await self._resolver.resolve(step_id)
