"""Headers every API answer carries: no MIME sniffing, and no caching unless a route says so.

Positions, decisions, the audit log and transactions must not linger in a browser or proxy
cache, so `Cache-Control: no-store` is the default; a route that sets its own keeps it.
"""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


class DefaultResponseHeaders(ASGIMiddleware):
    """Add `DEFAULT_HEADERS` to every HTTP answer that does not set them itself."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Wrap `send` to add the headers to the response start."""

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                for name, value in DEFAULT_HEADERS.items():
                    if headers.get(name) is None:
                        headers[name] = value
            await send(message)

        await next_app(scope, receive, send_with_headers)
