"""A fake Anthropic Messages API on 127.0.0.1: a real HTTP server in a thread, scripted per test.

It answers `POST /v1/messages` in the documented shapes (see payloads/ and its README): a
scripted reply per request, in order; and `GET /v1/models/{id}` with the documented `ModelInfo`
for a model the installed SDK lists, 404 `not_found_error` for any other. Like the real API it
checks the key first (accepting `x-api-key` or `Authorization: Bearer`) and answers 401
`authentication_error` for a wrong one. Every request's headers and JSON body are kept.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from adapters.advisors.claude import known_models

PAYLOADS = Path(__file__).parent / "payloads"


def payload(name: str) -> dict[str, Any]:
    """A sample payload from payloads/ (the shapes in /work/shared/reference)."""
    data: dict[str, Any] = json.loads((PAYLOADS / f"{name}.json").read_text())
    return data


@dataclass
class Reply:
    """One scripted answer: status, JSON body, extra headers, and a delay before answering."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


def tool_reply(tool_input: dict[str, Any], *, text_first: str | None = None) -> Reply:
    """A 200 whose content is a `submit_allocation_decision` tool call (optionally after text)."""
    body = payload("anthropic_tool_use_response")
    block = body["content"][0]
    block["input"] = tool_input
    if text_first is not None:
        body["content"] = [{"type": "text", "text": text_first}, block]
    return Reply(200, body)


def text_reply(text: str) -> Reply:
    """A 200 with only a text block (the model did not call the tool)."""
    body = payload("anthropic_tool_use_response")
    body["content"] = [{"type": "text", "text": text}]
    body["stop_reason"] = "end_turn"
    return Reply(200, body)


def overloaded() -> Reply:
    """529 overloaded_error, asking to retry after 20 ms."""
    return Reply(529, payload("anthropic_error_overloaded"), {"retry-after-ms": "20"})


@dataclass
class Seen:
    """A request the server received."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class FakeMessagesApi:
    """The server; `script` replies in order; `requests` records what arrived."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.script: deque[Reply] = deque()
        self.requests: list[Seen] = []
        self.abandoned = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """Where the SDK should send requests."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add(self, *replies: Reply) -> None:
        self.script.extend(replies)

    def _answer(self, path: str, headers: dict[str, str], raw: bytes) -> Reply:
        body = json.loads(raw or b"{}")
        self.requests.append(Seen(path=path, headers=headers, body=body))
        bearer = headers.get("authorization", "")
        given = headers.get("x-api-key") or bearer.removeprefix("Bearer ").strip()
        if given != self.api_key:
            return Reply(401, payload("anthropic_error_authentication"))
        if path.startswith("/v1/models/"):
            return self._model(path.removeprefix("/v1/models/").split("?", 1)[0])
        if path != "/v1/messages":
            return Reply(404, {"type": "error", "error": {"type": "not_found_error"}})
        if not self.script:
            return Reply(
                500, {"type": "error", "error": {"type": "api_error", "message": "unscripted"}}
            )
        return self.script.popleft()

    @staticmethod
    def _model(model_id: str) -> Reply:
        if model_id not in known_models():
            error = {"type": "not_found_error", "message": f"model: {model_id}"}
            return Reply(404, {"type": "error", "error": error, "request_id": "req_fake"})
        info = payload("anthropic_model_info")
        info["id"] = model_id
        return Reply(200, info)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.do_POST()

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = api._answer(self.path, headers, raw)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                data = json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.send_header("request-id", "req_fake")
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    api.abandoned += 1  # the client gave up waiting (the timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler
