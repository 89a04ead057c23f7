"""DNS over TCP (RFC 7766): length-prefixed messages, several per connection, idle timeout."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Protocol

# The reply to one message (None: send nothing and read the next).
Handler = Callable[[bytes], Awaitable["bytes | None"]]


class Activity(Protocol):
    """Told when a message starts arriving and when its reply is written (see tcpslots)."""

    def busy(self) -> None: ...

    def idle(self) -> None: ...


async def serve_connection(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    handle: Handler,
    idle: float,
    activity: Activity | None = None,
) -> None:
    """Answer the connection's messages in order until the client leaves or stays ``idle``."""
    try:
        while True:
            prefix = await asyncio.wait_for(reader.readexactly(2), idle)
            if activity is not None:
                activity.busy()
            size = int.from_bytes(prefix, "big")
            wire = await asyncio.wait_for(reader.readexactly(size), idle)
            reply = await handle(wire)
            if reply is not None:
                writer.write(len(reply).to_bytes(2, "big") + reply)
                await asyncio.wait_for(writer.drain(), idle)
            if activity is not None:
                activity.idle()
    except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
        pass  # idle, closed by the client, or reset
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
