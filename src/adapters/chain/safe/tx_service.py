"""The `TransactionService` port over a Safe Transaction Service's HTTP API
(github.com/safe-global/safe-transaction-service; `TREASURY_SAFE_TX_SERVICE_URL`, e.g.
`https://api.safe.global/tx-service/eth`; Safe's hosted service wants an API key, sent as a
Bearer token and never shown in a message or repr).

- Reading: `GET /api/v2/multisig-transactions/{safe_tx_hash}/` (404: the service does not know
  the transaction yet). The answer must be about the transaction asked for (its `safeTxHash`,
  `safe` and `nonce` are compared with the proposal's); its `confirmations` are returned
  unchecked (the use case checks every signature against the Safe's owners).
- Proposing: `POST /api/v2/safes/{safe}/multisig-transactions/` with the Safe transaction,
  `contractTransactionHash`, and an owner as `sender` with that owner's signature: the service
  refuses a sender that is neither owner nor delegate (the treasury's agent is neither).

Every answer is validated against models of the recorded fields
(`tests/fakes/safe_tx_service_payloads/`); bodies over `max_body_bytes` are refused unread.
Timeouts, connection failures, 429 and 5xx are retried with exponential back-off and jitter
(tenacity) within `attempts`; other statuses and malformed answers fail at once.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)
from web3 import Web3

from application.ports.owners import (
    OwnerProposal,
    ServiceConfirmation,
    TransactionServiceUnavailable,
)

ZERO_ADDRESS = "0x" + "00" * 20
MAX_BODY_BYTES = 1_048_576
MAX_CONFIRMATIONS = 100
_DETAIL_LIMIT = 300

Address = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$")]
Hash = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{64}$")]
Signature = Annotated[str, Field(pattern=r"^0x([0-9a-fA-F]{2})*$", max_length=2 + 2 * 65 * 20)]
Data = Annotated[str, Field(pattern=r"^0x([0-9a-fA-F]{2})*$")]


class Confirmation(BaseModel):
    """One entry of a transaction's `confirmations` (recorded fields)."""

    model_config = ConfigDict(extra="ignore")
    owner: Address
    submissionDate: str  # noqa: N815
    transactionHash: Hash | None = None  # noqa: N815
    signature: Signature
    signatureType: str = Field(max_length=40)  # noqa: N815


class MultisigTransaction(BaseModel):
    """`GET /api/v2/multisig-transactions/{safe_tx_hash}/` (recorded fields; v2 sends the
    numbers as strings, v1 as integers: both are read)."""

    model_config = ConfigDict(extra="ignore")
    safe: Address
    to: Address
    value: int
    data: Data | None = None
    operation: int
    nonce: int
    safeTxHash: Hash  # noqa: N815
    isExecuted: bool  # noqa: N815
    confirmationsRequired: int | None = None  # noqa: N815
    confirmations: list[Confirmation] = Field(max_length=MAX_CONFIRMATIONS)


class ConfirmationPage(BaseModel):
    """`GET /api/v1/multisig-transactions/{safe_tx_hash}/confirmations/` (paginated)."""

    model_config = ConfigDict(extra="ignore")
    count: int
    next: str | None = None
    previous: str | None = None
    results: list[Confirmation] = Field(max_length=MAX_CONFIRMATIONS)


_Answer = TypeVar("_Answer", bound=BaseModel)


def _summary(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_input=False, include_url=False)[:3]:
        where = ".".join(str(p) for p in item["loc"]) or "body"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def _parse(model: type[_Answer], body: object, what: str) -> _Answer:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise TransactionServiceUnavailable(
            f"malformed {what} answer ({_summary(exc)})", permanent=True
        ) from None


def parse_transaction(body: object) -> MultisigTransaction:
    """A multisig transaction answer, validated.

    Raises:
        TransactionServiceUnavailable: missing or malformed fields (permanent).
    """
    return _parse(MultisigTransaction, body, "transaction")


def parse_confirmations(body: object) -> ConfirmationPage:
    """A confirmations page, validated.

    Raises:
        TransactionServiceUnavailable: missing or malformed fields (permanent).
    """
    return _parse(ConfirmationPage, body, "confirmations")


def _confirmation(item: Confirmation) -> ServiceConfirmation:
    return ServiceConfirmation(
        owner=item.owner,
        signature=bytes.fromhex(item.signature[2:]),
        signature_type=item.signatureType,
    )


def confirmations_of(
    proposal: OwnerProposal, answer: MultisigTransaction
) -> tuple[ServiceConfirmation, ...]:
    """The confirmations of an answer that is about `proposal`'s transaction.

    Raises:
        TransactionServiceUnavailable: the answer is about another transaction, Safe or nonce.
    """
    wrong = []
    if answer.safeTxHash.lower() != proposal.safe_tx_hash.lower():
        wrong.append(f"safeTxHash {answer.safeTxHash}")
    if answer.safe.lower() != proposal.safe.lower():
        wrong.append(f"Safe {answer.safe}")
    if answer.nonce != proposal.nonce:
        wrong.append(f"nonce {answer.nonce}")
    if wrong:
        raise TransactionServiceUnavailable(
            f"asked for {proposal.safe_tx_hash}, the answer names {', '.join(wrong)}; ignored "
            "(check TREASURY_SAFE_TX_SERVICE_URL points at the service of this Safe's chain)",
            permanent=True,
        )
    return tuple(_confirmation(item) for item in answer.confirmations)


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, TransactionServiceUnavailable) and not exc.permanent


def _error_detail(body: bytes) -> str:
    """A short description from an error body (DRF: `detail`, or field -> [messages])."""
    try:
        decoded = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return ""
    if isinstance(decoded, dict):
        if isinstance(decoded.get("detail"), str):
            return str(decoded["detail"])[:_DETAIL_LIMIT]
        for key, value in decoded.items():
            if isinstance(value, list) and value and isinstance(value[0], str):
                return f"{key}: {value[0]}"[:_DETAIL_LIMIT]
            if isinstance(value, str):
                return f"{key}: {value}"[:_DETAIL_LIMIT]
    return ""


class SafeTransactionServiceClient:
    """Reads confirmations from, and publishes owner-signed proposals to, one Transaction
    Service (the one of the Safe's chain)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str,
        attempts: int = 3,
        timeout_s: float = 10.0,
        max_body_bytes: int = MAX_BODY_BYTES,
        backoff_s: float = 0.2,
        api_key: str | None = None,
    ) -> None:
        self._client = client
        self._headers = {"accept": "application/json"}
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"
        self.base_url = base_url.rstrip("/")
        self._attempts = attempts
        self._timeout_s = timeout_s
        self._max_body = max_body_bytes
        self._backoff = wait_exponential_jitter(multiplier=backoff_s, max=2.0, jitter=backoff_s)

    def __repr__(self) -> str:
        return f"SafeTransactionServiceClient(base_url={self.base_url!r})"

    async def confirmations(self, proposal: OwnerProposal) -> tuple[ServiceConfirmation, ...]:
        """The service's confirmations of the proposal (none if it does not know it)."""
        status, body = await self._request(
            "GET", f"/api/v2/multisig-transactions/{proposal.safe_tx_hash}/"
        )
        if status == 404:
            return ()
        return confirmations_of(proposal, parse_transaction(self._json(body)))

    async def propose(self, proposal: OwnerProposal, *, sender: str, signature: bytes) -> None:
        """Publish the proposal in `sender`'s name (an owner) with `sender`'s signature."""
        tx = proposal.transaction
        if tx is None:
            raise TransactionServiceUnavailable(
                f"the proposal {proposal.safe_tx_hash} was recorded without its transaction; "
                "it cannot be published",
                permanent=True,
            )
        safe = Web3.to_checksum_address(proposal.safe)
        body = {
            "to": Web3.to_checksum_address(tx.to),
            "value": str(tx.value),
            "data": tx.data if tx.data != "0x" else None,
            "operation": tx.operation,
            "gasToken": ZERO_ADDRESS,
            "safeTxGas": "0",
            "baseGas": "0",
            "gasPrice": "0",
            "refundReceiver": ZERO_ADDRESS,
            "nonce": str(proposal.nonce),
            "contractTransactionHash": proposal.safe_tx_hash,
            "sender": Web3.to_checksum_address(sender),
            "signature": "0x" + signature.hex(),
            "origin": "treasury-manager",
        }
        await self._request("POST", f"/api/v2/safes/{safe}/multisig-transactions/", body)

    def _json(self, body: bytes) -> Any:
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise TransactionServiceUnavailable("the answer is not JSON", permanent=True) from None

    async def _request(
        self, method: str, path: str, payload: dict[str, Any] | None = None
    ) -> tuple[int, bytes]:
        """(status, body) of a 2xx or 404 answer, retried on transient failures.

        Raises:
            TransactionServiceUnavailable: after retries, or at once for other statuses.
        """
        retrying = AsyncRetrying(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(self._attempts),
            wait=self._backoff,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._once(method, path, payload)
        raise AssertionError("unreachable: tenacity returns or re-raises")  # pragma: no cover

    async def _once(
        self, method: str, path: str, payload: dict[str, Any] | None
    ) -> tuple[int, bytes]:
        url = self.base_url + path
        try:
            async with self._client.stream(
                method,
                url,
                json=payload,
                headers=self._headers,
                timeout=self._timeout_s,
            ) as response:
                body = await self._read(response)
        except httpx.TimeoutException:
            raise TransactionServiceUnavailable(f"{method} {path} timed out") from None
        except httpx.TransportError as exc:
            raise TransactionServiceUnavailable(
                f"unreachable at {self.base_url} ({type(exc).__name__})"
            ) from None
        status = response.status_code
        if status == 404 and method == "GET":
            return status, body
        if status == 429 or status >= 500:
            raise TransactionServiceUnavailable(f"HTTP {status} on {method} {path}")
        if not 200 <= status < 300:
            detail = _error_detail(body)
            raise TransactionServiceUnavailable(
                f"HTTP {status} on {method} {path}" + (f": {detail}" if detail else ""),
                permanent=True,
            )
        return status, body

    async def _read(self, response: httpx.Response) -> bytes:
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max_body:
            raise self._too_large()
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > self._max_body:
                raise self._too_large()
        return bytes(body)

    def _too_large(self) -> TransactionServiceUnavailable:
        return TransactionServiceUnavailable(
            f"the answer is larger than {self._max_body} bytes; refused unread", permanent=True
        )
