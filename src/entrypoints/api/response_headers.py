"""Headers every answer carries: no MIME sniffing, and no caching unless a route says so.

Positions, decisions, the audit log and transactions must not linger in a browser or proxy
cache, so `Cache-Control: no-store` is the default; a route that sets its own keeps it. The
hook runs on every answer the app sends, errors and unknown routes included.
"""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

DEFAULT_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


async def add_default_headers(message: Message, scope: Scope) -> None:
    """A `before_send` hook: add `DEFAULT_HEADERS` that the answer does not set itself."""
    del scope
    if message["type"] != "http.response.start":
        return
    headers = MutableScopeHeaders.from_message(message)
    for name, value in DEFAULT_HEADERS.items():
        if headers.get(name) is None:
            headers[name] = value
