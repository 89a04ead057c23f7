"""An ASGI application served for real by uvicorn on a loopback port, in a thread of the test.

For our own in-process services when the test needs to reach inside them (an injected clock, a
session store): the requests still cross a real socket, with real HTTP parsing and TLS.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

HANG_GUARD = 30.0


@contextmanager
def serve_app(app: ASGIApp, *, tls: tuple[Path, Path] | None = None) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 (HTTPS with ``tls`` = (cert, key)); yield its base URL."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="off",
        access_log=False,
        ssl_certfile=str(tls[0]) if tls else None,
        ssl_keyfile=str(tls[1]) if tls else None,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + HANG_GUARD
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(HANG_GUARD)
