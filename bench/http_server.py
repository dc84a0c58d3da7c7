"""A paper service for the HTTP benchmark: the real app plus one bare endpoint to compare with.

Run by `bench/service_bench.py` as `python -m bench.http_server PORT`; no scheduler runs, so
the figures measure request handling alone.
"""

from __future__ import annotations

import asyncio
import sys

import uvicorn
from litestar import get

from entrypoints.api.app import create_app
from entrypoints.container import AppSettings, bootstrap


@get("/bench/bare", sync_to_thread=False)
def bare() -> dict[str, str]:
    """The smallest useful JSON answer, for the ratio."""
    return {"status": "ok"}


async def serve(port: int) -> None:
    """Open the paper runtime and serve until terminated."""
    runtime = await bootstrap(AppSettings.load())
    try:
        app = create_app(runtime.services, runtime.tokens, extra_routes=[bare])
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
        await uvicorn.Server(config).serve()
    finally:
        await runtime.aclose()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
