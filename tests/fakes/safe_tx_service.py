"""A loopback fake Safe Transaction Service, answering in the recorded shapes of
`safe_tx_service_payloads/` (see its README) and checking what the real one checks.

- `POST /api/v{1,2}/safes/{address}/multisig-transactions/`: a checksummed address (else 422
  `{code, message, arguments}`), `contractTransactionHash` equal to the safeTxHash computed from
  the fields, a `sender` who is an owner, a signature (if any) made by the sender; else 422 with
  `{"nonFieldErrors": [...]}`. 201, empty body.
- `POST /api/v1/multisig-transactions/{hash}/confirmations/`: 404 for an unknown hash; the
  signature must recover to an owner (else 400 `{"signature": [...]}`); 201 `{"signature"}`.
- `GET /api/v{1,2}/multisig-transactions/{hash}/`: the recorded pending transaction's shape
  with this transaction's fields and confirmations; `GET .../confirmations/`: the page shape.
  404 `{"detail": "Not found."}`.

Test controls: `down` (every answer 503), `inject` (a confirmation stored unchecked: a service
that lies), `owners`, `chain_id` (set once the Safe exists).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from eth_utils.address import is_checksum_address
from litestar import Litestar, Request, Response, get, post
from litestar.params import FromPath

from adapters.chain.safe.transactions import Operation, SafeTx, safe_tx_hash, signer_of

PAYLOADS = Path(__file__).parent / "safe_tx_service_payloads"


def recorded(name: str) -> Any:
    """A recorded payload, decoded."""
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json(body: Any, status: int) -> Response[bytes]:
    return Response(
        content=json.dumps(body).encode(), status_code=status, media_type="application/json"
    )


@dataclass(slots=True)
class FakeTransactionService:
    """The fake's state: transactions by safeTxHash (lower-case) and their confirmations."""

    chain_id: int = 0
    owners: tuple[str, ...] = ()
    threshold: int = 1
    down: bool = False
    transactions: dict[str, dict[str, Any]] = field(default_factory=dict)
    confirmations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: int = 0
    base_url: str = ""

    def inject(self, tx_hash: str, owner: str, signature: bytes) -> None:
        """Store a confirmation without any check (what a broken or hostile service lists)."""
        self.confirmations.setdefault(tx_hash.lower(), []).append(
            self._confirmation(owner, signature)
        )

    @staticmethod
    def _confirmation(owner: str, signature: bytes) -> dict[str, Any]:
        [item] = copy.deepcopy(recorded("multisig_transaction_confirmations.json")["results"][1:])
        item.update(owner=owner, submissionDate=_now(), signature="0x" + signature.hex())
        return dict(item)

    def detail(self, tx_hash: str) -> dict[str, Any] | None:
        """The transaction in the recorded detail shape, or None."""
        tx = self.transactions.get(tx_hash.lower())
        if tx is None:
            return None
        body = dict(recorded("multisig_transaction_pending.json"))
        body.update(tx)
        body.update(
            dataDecoded=None,
            confirmationsRequired=self.threshold,
            confirmations=list(self.confirmations.get(tx_hash.lower(), [])),
        )
        return body

    def propose(self, address: str, data: dict[str, Any]) -> tuple[int, Any]:
        """Check and store a proposal as the real service does; (status, body)."""
        if not is_checksum_address(address):
            return 422, {
                "code": 1,
                "message": "Checksum address validation failed",
                "arguments": [address],
            }
        try:
            tx = SafeTx(
                to=str(data["to"]),
                value=int(data["value"]),
                data=bytes.fromhex(str(data["data"] or "0x")[2:]),
                operation=Operation(int(data["operation"])),
                nonce=int(data["nonce"]),
            )
            computed = "0x" + safe_tx_hash(self.chain_id, address, tx).hex()
            sender = str(data["sender"])
            signature = bytes.fromhex(str(data.get("signature") or "0x")[2:])
        except (KeyError, ValueError, TypeError) as exc:
            return 400, {"nonFieldErrors": [f"Invalid data: {exc}"]}
        if computed != str(data["contractTransactionHash"]).lower():
            return 422, {
                "nonFieldErrors": [
                    f"Contract-transaction-hash={computed} does not match provided "
                    f"contract-tx-hash={data['contractTransactionHash']}"
                ]
            }
        if sender not in self.owners:
            return 422, {
                "nonFieldErrors": [
                    f"Sender={sender} is not an owner or delegate. Current owners="
                    f"{list(self.owners)}. Delegates=set()"
                ]
            }
        if signature and signer_of(bytes.fromhex(computed[2:]), signature) != sender:
            return 422, {"nonFieldErrors": [f"Signature does not match sender={sender}."]}
        self.transactions.setdefault(
            computed,
            {
                "safe": address,
                "to": data["to"],
                "value": str(data["value"]),
                "data": data["data"],
                "operation": int(data["operation"]),
                "nonce": int(data["nonce"]),
                "safeTxHash": computed,
                "submissionDate": _now(),
                "modified": _now(),
                "origin": data.get("origin"),
            },
        )
        if signature:
            self._keep(computed, sender, signature)
        return 201, None

    def confirm(self, tx_hash: str, signature_hex: str) -> tuple[int, Any]:
        """Check and store a confirmation as the real service does; (status, body)."""
        if tx_hash.lower() not in self.transactions:
            return 404, {"detail": "Not found."}
        try:
            owner = signer_of(bytes.fromhex(tx_hash[2:]), bytes.fromhex(signature_hex[2:]))
        except (ValueError, IndexError):
            return 400, {"signature": ["Invalid signature"]}
        if owner not in self.owners:
            return 400, {
                "signature": [f"Signer={owner} is not an owner. Current owners={list(self.owners)}"]
            }
        self._keep(tx_hash.lower(), owner, bytes.fromhex(signature_hex[2:]))
        return 201, {"signature": signature_hex}

    def _keep(self, tx_hash: str, owner: str, signature: bytes) -> None:
        kept = self.confirmations.setdefault(tx_hash, [])
        if all(c["owner"] != owner for c in kept):
            kept.append(self._confirmation(owner, signature))


def create_app(state: FakeTransactionService) -> Litestar:
    """The fake service's routes over `state`."""

    def answer(status: int, body: Any) -> Response[bytes]:
        if body is None:
            return Response(content=b"", status_code=status)
        return _json(body, status)

    @get(
        [
            "/api/v1/multisig-transactions/{tx_hash:str}/",
            "/api/v2/multisig-transactions/{tx_hash:str}/",
        ]
    )
    async def transaction(tx_hash: FromPath[str]) -> Response[bytes]:
        body = state.detail(tx_hash)
        return answer(200, body) if body is not None else answer(404, {"detail": "Not found."})

    @get("/api/v1/multisig-transactions/{tx_hash:str}/confirmations/")
    async def confirmations(tx_hash: FromPath[str]) -> Response[bytes]:
        items = state.confirmations.get(tx_hash.lower(), [])
        page = dict(recorded("multisig_transaction_confirmations.json"))
        page.update(count=len(items), results=items)
        return answer(200, page)

    @post("/api/v1/multisig-transactions/{tx_hash:str}/confirmations/")
    async def confirm(tx_hash: FromPath[str], request: Request[Any, Any, Any]) -> Response[bytes]:
        data = await request.json()
        return answer(*state.confirm(tx_hash, str(data.get("signature", ""))))

    @post(
        [
            "/api/v1/safes/{address:str}/multisig-transactions/",
            "/api/v2/safes/{address:str}/multisig-transactions/",
        ]
    )
    async def propose(address: FromPath[str], request: Request[Any, Any, Any]) -> Response[bytes]:
        return answer(*state.propose(address, await request.json()))

    async def when_down(request: Request[Any, Any, Any]) -> Response[bytes] | None:
        state.requests += 1
        if state.down:
            return _json({"detail": "Service Unavailable"}, 503)
        return None

    return Litestar(
        route_handlers=[transaction, confirmations, confirm, propose],
        before_request=when_down,
        openapi_config=None,
        debug=False,
        logging_config=None,
    )


@contextlib.asynccontextmanager
async def serve_fake_tx_service(
    state: FakeTransactionService | None = None,
) -> AsyncIterator[FakeTransactionService]:
    """Serve the fake on 127.0.0.1 (a free port) on the running loop; `base_url` is set."""
    state = state or FakeTransactionService()
    config = uvicorn.Config(
        create_app(state),
        host="127.0.0.1",
        port=0,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                raise RuntimeError("the fake Safe Transaction Service did not start")
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        state.base_url = f"http://127.0.0.1:{port}"
        yield state
    finally:
        server.should_exit = True
        await task
