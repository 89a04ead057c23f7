"""Several server processes on one port (``boxcert dns serve --workers N``).

One Python process answers on one core. With N workers, each process binds the same UDP and
TCP port with SO_REUSEPORT and the kernel spreads the traffic across them (by the client's
address and port: one client socket always lands on the same worker). Each worker is a whole
server: its own response caches, its own TXT snapshot (so the database sees up to N reads a
second), its own TCP slots (the bounds apply per worker).

The parent starts the first worker on the requested port (0: any free one), then the others on
the port the first one got, waits until all are listening, and then only supervises: SIGINT or
SIGTERM stops every worker; a worker that dies stops the rest, and the parent exits non-zero so
that the service manager restarts the whole group.

Counts (:mod:`.counters`): the parent makes a private directory holding one table file with a
row per worker (:func:`count_table`); worker ``i`` maps it and counts in row ``i``, and worker
0, which serves ``--metrics-listen`` when asked, adds up every row when scraped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

from boxcert.dns.answer import ZoneConfig
from boxcert.dns.counters import CountTable
from boxcert.httpserver import HttpServerError
from boxcert.workergroup import WorkerGroup

log = logging.getLogger(__name__)

START_TIMEOUT = 60.0  # a hang guard: opening the database is the slow part
STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class WorkerSpec:
    """What every worker needs to build its server (picklable: workers may be spawned)."""

    zone: ZoneConfig
    db_url: str
    host: str
    log_level: int
    metrics_listen: tuple[str, int] | None = None  # served by worker 0 (or the only process)
    counts_file: Path | None = None  # the group's count table; None: one process, its own


# A worker's server: (spec, index, port, on_ready(host, port), stop) -> runs until stop is set.
RunServer = Callable[[WorkerSpec, int, int, Callable[[str, int], None], asyncio.Event], Any]


@contextlib.contextmanager
def count_table(spec: WorkerSpec, workers: int) -> Iterator[WorkerSpec]:
    """``spec`` with a count table of ``workers`` rows in a private directory (0700, the file
    0600), removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="boxcert-dns-counts-"))
    try:
        path = directory / "counts"
        CountTable.create(path, workers)
        yield replace(spec, counts_file=path)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _worker(spec: WorkerSpec, index: int, port: int, run: RunServer, events: Queue[Any]) -> None:
    logging.basicConfig(
        level=spec.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    def ready(_host: str, bound: int) -> None:
        events.put(("ready", os.getpid(), bound))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run(spec, index, port, ready, stop)

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass  # Ctrl-C before the loop took the signal over
    except Exception as err:  # reported to the parent, which shows it
        known = isinstance(err, OSError | HttpServerError)
        what = str(err) if known else f"{type(err).__name__}: {err}"
        events.put(("error", os.getpid(), what))
        raise SystemExit(1) from err


def worker_group(spec: WorkerSpec, port: int, count: int, run: RunServer) -> WorkerGroup:
    return WorkerGroup(
        _worker,
        lambda index, bound, events: (spec, index, bound, run, events),
        port,
        count,
        name="dns-worker",
        start_timeout=START_TIMEOUT,
        stop_timeout=STOP_TIMEOUT,
    )
