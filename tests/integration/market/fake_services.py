"""Loopback fakes of CoinGecko, Glassnode, Coinglass, Alternative.me and Deribit on one real
socket.

One standard-library threaded HTTP server on 127.0.0.1 (a free port) answers the five
services' paths in their documented shapes (the payloads in tests/fakes/market_payloads, with
timestamps rewritten to now). Each service has knobs: `delay_s`, `status` (with optional
`retry_after`), `hang` (never answer until the server stops), `malformed` (a truncated body),
`drop_field`, a required `api_key` (401 when the header is wrong), and a request counter.
"""

from __future__ import annotations

import copy
import json
import logging
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.market import payload

COINGECKO = "coingecko"
GLASSNODE = "glassnode"
COINGLASS = "coinglass"
FEAR_GREED = "alternative.me"
DERIBIT = "deribit"
DERIBIT_DVOL = "/api/v2/public/get_volatility_index_data"
DERIBIT_BOOK = "/api/v2/public/get_book_summary_by_currency"

PATHS = {
    "/api/v3/simple/price": COINGECKO,
    "/v1/metrics/market/mvrv_z_score": GLASSNODE,
    "/api/futures/funding-rate/exchange-list": COINGLASS,
    "/fng/": FEAR_GREED,
    DERIBIT_DVOL: DERIBIT,
    DERIBIT_BOOK: DERIBIT,
}
KEY_HEADERS = {
    COINGECKO: "x-cg-demo-api-key",
    GLASSNODE: "x-api-key",
    COINGLASS: "cg-api-key",
}


@dataclass
class Knobs:
    """How one fake service behaves; change the fields between requests."""

    delay_s: float = 0.0
    status: int = 200
    retry_after: str | None = None
    hang: bool = False
    malformed: bool = False
    drop_field: bool = False
    api_key: str | None = None
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self) -> None:
        with self.lock:
            self.requests += 1


def _midnight(days_ago: int = 0) -> int:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return int((today - timedelta(days=days_ago)).timestamp())


def fresh_body(service: str) -> Any:
    """The service's payload with timestamps rewritten to now (and ETH added to Coinglass)."""
    now = int(time.time())
    if service == COINGECKO:
        body = payload("coingecko_simple_price")
        for coin in body.values():
            coin["last_updated_at"] = now - 20
        return body
    if service == GLASSNODE:
        body = payload("glassnode_mvrv_z_score")
        for i, point in enumerate(reversed(body)):
            point["t"] = _midnight(days_ago=i + 1)
        return body
    if service == COINGLASS:
        body = payload("coinglass_funding_rate")
        btc = body["data"][0]
        for contract in (*btc["stablecoin_margin_list"], *btc["token_margin_list"]):
            contract["next_funding_time"] = (now + 3600) * 1000
        eth = copy.deepcopy(btc)
        eth["symbol"] = "ETH"
        for contract in eth["stablecoin_margin_list"]:
            contract["funding_rate"] = Decimal("0.0051")
        body["data"].append(eth)
        return body
    body = payload("alternative_me_fng")
    body["data"][0]["timestamp"] = str(_midnight())
    return body


def deribit_body(path: str, query: dict[str, list[str]]) -> Any:
    """Deribit's documented DVOL example (candles moved to end a minute ago) or the recorded
    option records of the asked currency, in Deribit's envelope."""
    currency = (query.get("currency") or ["BTC"])[0]
    if path == DERIBIT_DVOL:
        body = payload("deribit_volatility_index_doc_example")
        candles = body["result"]["data"]
        shift = (int(time.time()) - 60) * 1000 - int(candles[-1][0])
        for candle in candles:
            candle[0] = int(candle[0]) + shift
        return body
    recorded = payload("deribit_book_summary_options_recorded")
    return {
        "jsonrpc": recorded["jsonrpc"],
        "id": recorded["id"],
        "result": recorded["result_by_currency"].get(currency, []),
    }


def _drop(service: str, body: Any) -> Any:
    if service == COINGECKO:
        del body["bitcoin"]["usd"]
    elif service == GLASSNODE:
        for point in body:
            del point["v"]
    elif service == COINGLASS:
        del body["code"]
    elif service == DERIBIT:
        del body["result"]
    else:
        del body["data"][0]["value"]
    return body


def _encode(body: Any) -> bytes:
    return json.dumps(
        body, default=lambda d: float(d) if isinstance(d, Decimal) else str(d)
    ).encode()


class _Server(ThreadingHTTPServer):
    # The default listen backlog (5) overflows when every source is asked at once (Deribit
    # alone opens four connections): the kernel then drops a connect and the client retries
    # it a second later, which reads as a timeout.
    request_queue_size = 64

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The default prints a traceback to stderr, where a test reading a command's stderr
        # would see it: a client that gave up on a request (Deribit's read stops at the first
        # bad answer) is the usual cause. Log it instead.
        error = sys.exc_info()[1]  # socketserver calls this inside its except block
        logging.getLogger(__name__).debug(
            "fake market server: request from %s failed: %r", client_address, error
        )


class FakeMarketServices:
    """The five fake services behind one loopback server; use as a context manager."""

    def __init__(self) -> None:
        self.knobs = {
            name: Knobs() for name in (COINGECKO, GLASSNODE, COINGLASS, FEAR_GREED, DERIBIT)
        }
        self._released = threading.Event()
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def base_urls(self) -> dict[str, str]:
        """The base URL of each service, as the settings name them."""
        return {
            COINGECKO: f"{self.base}/api/v3",
            GLASSNODE: self.base,
            COINGLASS: self.base,
            FEAR_GREED: self.base,
            DERIBIT: f"{self.base}/api/v2",
        }

    def requests(self) -> dict[str, int]:
        """Requests each service has received."""
        return {name: k.requests for name, k in self.knobs.items()}

    def reset(self) -> None:
        """Every service healthy and fast again, counters at zero."""
        for name in self.knobs:
            self.knobs[name] = Knobs(api_key=self.knobs[name].api_key)

    def __enter__(self) -> FakeMarketServices:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._released.set()  # wake hung handlers so the server can stop
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        services = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return  # keep test output quiet

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                path = parts.path
                service = PATHS.get(path)
                if service is None:
                    self._send(404, b'{"error": "not found"}')
                    return
                knobs = services.knobs[service]
                knobs.count()
                if knobs.hang:
                    services._released.wait(timeout=60)
                    return
                if knobs.delay_s:
                    time.sleep(knobs.delay_s)
                header = KEY_HEADERS.get(service)
                wrong_key = header is not None and self.headers.get(header) != knobs.api_key
                if knobs.api_key is not None and wrong_key:
                    self._send(401, b'{"error": "invalid api key"}')
                    return
                if knobs.status != 200:
                    headers = {"Retry-After": knobs.retry_after} if knobs.retry_after else {}
                    self._send(knobs.status, b'{"error": "scripted failure"}', headers)
                    return
                if knobs.malformed:
                    self._send(200, b'{"data": [{"value": "4')
                    return
                if service == DERIBIT:
                    body = deribit_body(path, parse_qs(parts.query))
                else:
                    body = fresh_body(service)
                if knobs.drop_field:
                    body = _drop(service, body)
                self._send(200, _encode(body))

            def _send(
                self, status: int, body: bytes, headers: dict[str, str] | None = None
            ) -> None:
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(body)))
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    return  # the client gave up (its timeout): nothing to answer

        return Handler
