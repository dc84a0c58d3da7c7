"""Gas estimation for the in-process EVM in two executions instead of about thirteen.

py-evm estimates gas by a binary search between the transaction's intrinsic gas and the block's
gas limit, executing the transaction once per step: about thirteen executions for each
`eth_estimateGas`. The executor estimates every step of every plan it simulates, and the dev
chain's set-up estimated every deployment, so this search was most of a paper start's time.

`verified_gas_estimate` keeps py-evm's contract (the answer is a gas limit with which the
transaction was seen to succeed; a transaction that fails even with the block's whole gas
limit raises its error) with fewer executions:

1. execute once with the block's gas limit; a failure there is raised, as py-evm does;
2. take the gas that run used, add 1/63 for the gas a call must leave behind (EIP-150) and a
   small margin, and execute once more with that limit;
3. if that succeeds, it is the estimate (verified, at most a few per cent above the true
   minimum); if not (calls nested several deep need more), try again as for calls two, then
   four levels deep (`NESTING_TRIED`), and only then fall back to py-evm's search.

Only the in-process EVM uses this (`install`); a JSON-RPC node estimates as it always does.
"""

from __future__ import annotations

from typing import Any, cast

from eth.abc import ComputationAPI, SignedTransactionAPI, StateAPI
from eth.estimators.gas import binary_gas_search_intrinsic_tolerance
from eth.vm.spoof import SpoofTransaction

MARGIN_GAS = 5_000
"""Added to the scaled gas used: covers the few opcodes whose cost depends on gas left."""

NESTING_TRIED = (1, 2, 4)
"""Call depths tried in turn: each level of nested calls must leave 1/64 of its gas behind
(EIP-150), so a call `depth` levels deep needs about the gas used times (64/63)**depth. A
Safe batch (Roles Modifier, Safe, MultiSend by delegatecall, protocol, token) needs about
two: trying one, then two, then four costs one or two more executions, where py-evm's binary
search costs about thirteen."""


def _execute(state: StateAPI, transaction: SignedTransactionAPI) -> ComputationAPI:
    """Run `transaction` on `state` and undo it; return its computation."""
    snapshot = state.snapshot()
    try:
        return state.apply_transaction(transaction)
    finally:
        state.revert(snapshot)


def verified_gas_estimate(state: StateAPI, transaction: SignedTransactionAPI) -> int:
    """A gas limit with which `transaction` succeeds on `state`, found in two executions.

    Raises:
        VMError: the transaction fails even with the block's whole gas limit.
    """
    ceiling = cast(
        SignedTransactionAPI, SpoofTransaction(transaction, gas=state.gas_limit, gas_price=0)
    )
    computation = _execute(state, ceiling)
    if computation.is_error:
        raise computation.error
    # The computation counts the gas of its message, which starts after the intrinsic gas.
    used = transaction.intrinsic_gas + computation.get_gas_used()
    for depth in NESTING_TRIED:
        candidate = min(
            state.gas_limit,
            max(transaction.intrinsic_gas, int(used * 64**depth // 63**depth) + MARGIN_GAS),
        )
        trial = cast(SignedTransactionAPI, SpoofTransaction(transaction, gas=candidate))
        if not _execute(state, trial).is_error:
            return candidate
    return int(binary_gas_search_intrinsic_tolerance(state, transaction))


def install(chain: Any) -> None:
    """Make `chain` (a py-evm chain) and every chain of its class estimate gas this way.

    Set on the instance (py-evm copies its default there when the chain is built) and on the
    class: eth-tester builds a new chain object of the same class when it reverts to a snapshot
    at the genesis block.
    """
    type(chain).gas_estimator = staticmethod(verified_gas_estimate)
    chain.gas_estimator = verified_gas_estimate
