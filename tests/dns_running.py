"""A DNS server under test: a real DnsServer on its own event loop in a background thread."""

from __future__ import annotations

import asyncio
import threading

from boxcert.dns.server import DnsServer


class Running:
    """A DnsServer on its own event loop in a background thread."""

    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> int:
        self.thread.start()
        _, port = asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)
        return port

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
