"""The Safe Transaction Service client against the recorded answers of the real service
(`tests/fakes/safe_tx_service_payloads/`), served by an httpx mock transport: parsing, the
checks that an answer is about the transaction asked for, hostile answers, retries, and the
proposal's body in the shape the real service reads."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from adapters.chain.safe.transactions import Operation, SafeTx, safe_tx_hash, signer_of
from adapters.chain.safe.tx_service import (
    SafeTransactionServiceClient,
    parse_confirmations,
    parse_transaction,
)
from application.ports.owners import OwnerProposal, SafeTransaction, TransactionServiceUnavailable
from tests.fakes.safe_tx_service import recorded

PENDING = recorded("multisig_transaction_pending.json")
BASE = "https://safe-transaction-mainnet.safe.global"


def proposal_of(body: dict[str, Any]) -> OwnerProposal:
    """The proposal the recorded transaction stands for."""
    return OwnerProposal(
        safe=body["safe"],
        safe_tx_hash=body["safeTxHash"],
        nonce=int(body["nonce"]),
        threshold=4,
        owners=(),
        transaction=SafeTransaction(
            to=body["to"], value=int(body["value"]), data=body["data"], operation=0
        ),
    )


def client_answering(
    handler: Callable[[httpx.Request], httpx.Response], **kwargs: Any
) -> SafeTransactionServiceClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return SafeTransactionServiceClient(http, base_url=BASE, backoff_s=0.0, **kwargs)


def test_the_recorded_mainnet_transaction_hashes_and_recovers_as_our_eip712_code_says() -> None:
    tx = SafeTx(
        to=PENDING["to"],
        value=int(PENDING["value"]),
        data=bytes.fromhex(PENDING["data"][2:]),
        operation=Operation(PENDING["operation"]),
        nonce=PENDING["nonce"],
    )
    assert "0x" + safe_tx_hash(1, PENDING["safe"], tx).hex() == PENDING["safeTxHash"]
    eoa = PENDING["confirmations"][1]
    assert eoa["signatureType"] == "EOA"
    signature = bytes.fromhex(eoa["signature"][2:])
    assert signer_of(bytes.fromhex(PENDING["safeTxHash"][2:]), signature) == eoa["owner"]


@pytest.mark.parametrize(
    "name",
    ["multisig_transaction_pending.json", "multisig_transaction_executed.json"],
)
def test_every_recorded_transaction_parses(name: str) -> None:
    body = recorded(name)
    parsed = parse_transaction(body)
    assert parsed.safeTxHash == body["safeTxHash"]
    assert [c.owner for c in parsed.confirmations] == [c["owner"] for c in body["confirmations"]]


def test_the_recorded_pages_parse() -> None:
    page = parse_confirmations(recorded("multisig_transaction_confirmations.json"))
    assert page.count == len(page.results) == 2
    for item in recorded("safe_multisig_transactions.json")["results"]:
        assert parse_transaction(item).nonce == item["nonce"]


async def test_confirmations_of_a_known_transaction_are_read_and_a_404_is_none() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if PENDING["safeTxHash"] in request.url.path:
            return httpx.Response(200, json=PENDING)
        return httpx.Response(404, json=recorded("not_found_404.json"))

    client = client_answering(handler)
    found = await client.confirmations(proposal_of(PENDING))
    assert [(c.owner, c.signature_type) for c in found] == [
        (c["owner"], c["signatureType"]) for c in PENDING["confirmations"]
    ]
    assert found[1].signature.hex() == PENDING["confirmations"][1]["signature"][2:]
    unknown = proposal_of({**PENDING, "safeTxHash": "0x" + "ab" * 32})
    assert await client.confirmations(unknown) == ()
    assert seen == [
        f"/api/v2/multisig-transactions/{PENDING['safeTxHash']}/",
        f"/api/v2/multisig-transactions/0x{'ab' * 32}/",
    ]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({**PENDING, "safeTxHash": "0x" + "cd" * 32}, "the answer names safeTxHash 0xcdcd"),
        ({**PENDING, "safe": "0x" + "11" * 20}, "the answer names Safe 0x1111"),
        ({**PENDING, "nonce": 9}, "the answer names nonce 9"),
        ({**PENDING, "confirmations": [{"owner": "nobody"}]}, "malformed transaction answer"),
        ({**PENDING, "confirmations": [PENDING["confirmations"][1]] * 101}, "at most 100"),
        ({"detail": "ok"}, "malformed transaction answer"),
    ],
)
async def test_an_answer_about_something_else_or_malformed_is_refused(
    answer: dict[str, Any], message: str
) -> None:
    client = client_answering(lambda _: httpx.Response(200, json=answer))
    with pytest.raises(TransactionServiceUnavailable, match=message) as refused:
        await client.confirmations(proposal_of(PENDING))
    assert refused.value.permanent


async def test_a_body_that_is_not_json_or_too_large_is_refused_unread() -> None:
    not_json = client_answering(lambda _: httpx.Response(200, content=b"<html>oops"))
    with pytest.raises(TransactionServiceUnavailable, match="not JSON"):
        await not_json.confirmations(proposal_of(PENDING))

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b" " * 65_536

    def huge(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=chunks())

    with pytest.raises(TransactionServiceUnavailable, match="larger than 1048576 bytes"):
        await client_answering(huge).confirmations(proposal_of(PENDING))
    declared = client_answering(
        lambda _: httpx.Response(200, headers={"content-length": "99999999"}, content=b"{}")
    )
    with pytest.raises(TransactionServiceUnavailable, match="larger than"):
        await declared.confirmations(proposal_of(PENDING))


async def test_5xx_and_429_are_retried_and_a_service_that_stays_down_says_so() -> None:
    answers = [503, 429, 200]
    calls: list[int] = []

    def flaky(_: httpx.Request) -> httpx.Response:
        calls.append(1)
        status = answers[len(calls) - 1]
        return httpx.Response(status, json=PENDING if status == 200 else {"detail": "busy"})

    assert len(await client_answering(flaky).confirmations(proposal_of(PENDING))) == 2
    assert len(calls) == 3

    def down(_: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    with pytest.raises(TransactionServiceUnavailable, match="unreachable at https://") as exc:
        await client_answering(down).confirmations(proposal_of(PENDING))
    assert not exc.value.permanent


async def test_a_proposal_is_posted_in_the_recorded_request_shape_and_a_refusal_is_named() -> None:
    posted: list[tuple[str, dict[str, Any]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        posted.append((request.url.path, json.loads(request.content)))
        if len(posted) == 1:
            return httpx.Response(201)
        return httpx.Response(
            422, json={"nonFieldErrors": ["Sender=0x1 is not an owner or delegate."]}
        )

    client = client_answering(handler)
    eoa = PENDING["confirmations"][1]
    signature = bytes.fromhex(eoa["signature"][2:])
    await client.propose(proposal_of(PENDING), sender=eoa["owner"], signature=signature)
    path, body = posted[0]
    assert path == f"/api/v2/safes/{PENDING['safe']}/multisig-transactions/"
    expected = recorded("propose_request.json")
    assert set(body) == set(expected)
    for key in ("to", "data", "operation", "contractTransactionHash", "sender", "signature"):
        assert body[key] == expected[key], key
    assert int(body["nonce"]) == expected["nonce"]
    with pytest.raises(TransactionServiceUnavailable, match=r"HTTP 422.*not an owner or delegate"):
        await client.propose(proposal_of(PENDING), sender=eoa["owner"], signature=signature)
    assert len(posted) == 2  # a refusal is not retried


async def test_the_api_key_goes_only_in_the_authorization_header() -> None:
    key = "sk-safe-0123456789"
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(401, json={"detail": "Invalid API key."})

    client = client_answering(handler, api_key=key)
    with pytest.raises(TransactionServiceUnavailable) as refused:
        await client.confirmations(proposal_of(PENDING))
    assert seen[0].headers["authorization"] == f"Bearer {key}"
    assert key not in str(seen[0].url)
    assert key not in str(refused.value)
    assert key not in repr(client)
    assert "HTTP 401" in str(refused.value)
