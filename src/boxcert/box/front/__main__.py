"""A standalone front over a directory (``LocalBackend``), for the demo and the benchmarks
until ``boxcert box run`` starts the front with the real agent::

    python -m boxcert.box.front --home DIR [--https-port N] [--http-port N|--no-http]
        [--listen ADDR] [--upstream URL] [--url https://<box name>]

Prints ``front ready https=<port> http=<port>`` once both listeners serve; stops on SIGINT or
SIGTERM. Mistakes are one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from boxcert.box.front.localbackend import LocalBackend
from boxcert.box.front.server import (
    FrontAddresses,
    FrontError,
    FrontOptions,
    new_event_loop,
    run_front,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m boxcert.box.front")
    parser.add_argument(
        "--home",
        type=Path,
        required=True,
        help="the box's files: key.pem, cert.pem, credentials.json",
    )
    parser.add_argument("--https-port", type=int, default=443)
    parser.add_argument("--http-port", type=int, default=80)
    parser.add_argument("--no-http", action="store_true", help="no plain-HTTP listener")
    parser.add_argument("--listen", default="", help="address to listen on (default: all)")
    parser.add_argument("--upstream", default=None, help="proxy other paths to this URL")
    parser.add_argument("--url", default="", help="the box's https:// URL by name")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    backend = LocalBackend(args.home, url=args.url)
    options = FrontOptions(
        state_dir=args.home / "front",
        https_port=args.https_port,
        http_port=None if args.no_http else args.http_port,
        listen=args.listen,
        upstream=args.upstream,
    )

    def ready(addresses: FrontAddresses) -> None:
        print(f"front ready https={addresses.https_port} http={addresses.http_port}", flush=True)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_front(backend, options, stop=stop, on_ready=ready)

    loop = new_event_loop()
    try:
        loop.run_until_complete(serve())
    except FrontError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
