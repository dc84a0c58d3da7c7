"""Checked transactions for the deploy scripts: the dev chain's (`devchain/deploy.py`) and the
Safe's (`safe/deploy.py`).

A step is sent from one account (unlocked on the node, or signed by a middleware on the web3),
its receipt awaited and checked; a step that fails, or whose receipt says it reverted, raises
the script's own `DeploymentStepFailed` subclass, naming the step. A script that simulates
(`simulates_first`) estimates a deployment's gas and `eth_call`s a call before sending it, so a
revert is reported before anything is mined.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from eth_tester.exceptions import TransactionFailed
from hexbytes import HexBytes
from web3 import AsyncWeb3
from web3.exceptions import ContractLogicError, Web3Exception
from web3.types import TxParams, TxReceipt, Wei

from application.errors import PermanentError, TransientError

RECEIPT_TIMEOUT_S = 60
_SEND_ERRORS = (ContractLogicError, TransactionFailed, Web3Exception, ValueError)


class DeploymentStepFailed(PermanentError):
    """A deployment, setup or funding step failed (`scope` names the script)."""

    scope: ClassVar[str]

    def __init__(self, step: str, reason: str) -> None:
        self.step = step
        super().__init__(f"{self.scope}: {step} failed: {reason}")


class DeploymentNodeUnreachable(TransientError):
    """The node a script deploys to did not answer (`heading` opens the message)."""

    heading: ClassVar[str]

    def __init__(self, reason: str) -> None:
        super().__init__(f"{self.heading}: {reason}")


class CheckedSender:
    """Sends checked transactions from one account; a subclass names its errors and whether it
    simulates before sending."""

    failed: ClassVar[type[DeploymentStepFailed]]
    unreachable: ClassVar[type[DeploymentNodeUnreachable]]
    simulates_first: ClassVar[bool]
    deploy_gas: ClassVar[int | None] = None
    """A fixed gas limit for deployments; None lets the node estimate it."""
    call_gas: ClassVar[int | None] = None
    """A fixed gas limit for calls; None lets the node estimate it."""

    def __init__(self, w3: AsyncWeb3[Any], sender: str) -> None:
        self.w3 = w3
        self.sender = w3.to_checksum_address(sender)

    @classmethod
    async def account(cls, w3: AsyncWeb3[Any], given: str | None, step: str) -> str:
        """`given`, or the node's first unlocked account.

        Raises:
            DeploymentNodeUnreachable: the node did not answer (the subclass's `unreachable`).
            DeploymentStepFailed: nothing given and the node has no unlocked account.
        """
        if given is not None:
            return w3.to_checksum_address(given)
        try:
            accounts = await w3.eth.accounts
        except (OSError, Web3Exception) as exc:
            raise cls.unreachable(str(exc)) from exc
        if not accounts:
            raise cls.failed(step, "the node has no unlocked account")
        return str(accounts[0])

    async def mined(self, step: str, send: Callable[[], Awaitable[HexBytes]]) -> TxReceipt:
        """Run `send` (it returns the transaction's hash) and wait for a successful receipt.

        Raises:
            DeploymentStepFailed: sending failed or the transaction reverted.
        """
        try:
            tx_hash = await send()
            receipt = await self.w3.eth.wait_for_transaction_receipt(
                tx_hash, timeout=RECEIPT_TIMEOUT_S
            )
        except _SEND_ERRORS as exc:
            raise self.failed(step, str(exc)) from exc
        if receipt["status"] != 1:
            raise self.failed(step, "transaction reverted")
        return receipt

    async def deploy_code(self, name: str, abi: Any, bytecode: str, *args: Any) -> str:
        """Deploy `bytecode` with its constructor `args`; return the new contract's address.

        Raises:
            DeploymentStepFailed: the deployment failed or reverted.
        """
        constructor = self.w3.eth.contract(abi=abi, bytecode=bytecode).constructor(*args)
        params: TxParams = {"from": self.sender}
        if self.deploy_gas is not None:
            params["gas"] = self.deploy_gas

        async def send() -> HexBytes:
            if self.simulates_first:
                await constructor.estimate_gas(params)
            return HexBytes(await constructor.transact(params))

        step = f"deploy {name}"
        receipt = await self.mined(step, send)
        if not receipt["contractAddress"]:
            raise self.failed(step, "transaction reverted")
        return str(receipt["contractAddress"])

    async def send(self, step: str, call: Any, value: int = 0) -> TxReceipt:
        """Send a contract call (with `value` wei), simulated first if the script simulates;
        return its successful receipt.

        Raises:
            DeploymentStepFailed: the call failed or reverted.
        """
        params: TxParams = {"from": self.sender}
        if value:
            params["value"] = Wei(value)
        if self.call_gas is not None:
            params["gas"] = self.call_gas

        async def send() -> HexBytes:
            if self.simulates_first:
                await call.call(params)
            return HexBytes(await call.transact(params))

        return await self.mined(step, send)
