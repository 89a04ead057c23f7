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
import multiprocessing
import multiprocessing.connection
import os
import queue
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from multiprocessing.context import SpawnProcess
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

from boxcert.dns.answer import ZoneConfig
from boxcert.dns.counters import CountTable
from boxcert.httpserver import HttpServerError

log = logging.getLogger(__name__)

START_TIMEOUT = 60.0  # a hang guard: opening the database is the slow part
STOP_TIMEOUT = 10.0


class WorkerError(Exception):
    """A worker could not start, or died; the message is one line to show."""


@dataclass(frozen=True)
class WorkerSpec:
    """What every worker needs to build its server (picklable: workers are spawned)."""

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


class WorkerGroup:
    """N worker processes serving one port; see the module docstring."""

    def __init__(self, spec: WorkerSpec, port: int, count: int, run: RunServer) -> None:
        self._spec = spec
        self._port = port
        self._count = count
        self._run = run
        self._ctx = multiprocessing.get_context("spawn")
        self._events: Queue[Any] = self._ctx.Queue()
        self.processes: list[SpawnProcess] = []
        self.port = port

    def start(self) -> int:
        """Start every worker; the port they all serve. Raises :class:`WorkerError`."""
        try:
            self._spawn(0, self._port)
            self.port = self._wait_ready(1)
            for index in range(1, self._count):
                self._spawn(index, self.port)
            self._wait_ready(self._count - 1)
        except BaseException:
            self.stop()
            raise
        return self.port

    def supervise(self, stopping: Callable[[], bool], wake_fd: int) -> None:
        """Return when ``stopping()`` (after a signal wrote to ``wake_fd``) or when a worker
        died; then stop them all. Raises :class:`WorkerError` for a dead worker."""
        sentinels = [p.sentinel for p in self.processes]
        died = None
        while not stopping():
            ready = multiprocessing.connection.wait([*sentinels, wake_fd])
            if wake_fd in ready:
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_fd, 64)
            dead = [p for p in self.processes if p.exitcode is not None]
            if dead:
                died = dead[0]
                break
        self.stop()
        if died is not None:
            raise WorkerError(f"worker {died.pid} exited with status {died.exitcode}")

    def stop(self) -> None:
        for proc in self.processes:
            if proc.exitcode is None and proc.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)
        for proc in self.processes:
            proc.join(STOP_TIMEOUT)
            if proc.exitcode is None:
                proc.kill()
                proc.join()

    def _spawn(self, index: int, port: int) -> None:
        proc = self._ctx.Process(
            target=_worker, args=(self._spec, index, port, self._run, self._events), daemon=False
        )
        proc.start()
        self.processes.append(proc)

    def _wait_ready(self, count: int) -> int:
        port, waited = self._port, 0.0
        while count:
            try:
                kind, _pid, detail = self._events.get(timeout=0.2)
            except queue.Empty:
                waited += 0.2
                dead = [p for p in self.processes if p.exitcode is not None]
                if dead:
                    raise WorkerError(f"a worker exited with status {dead[0].exitcode}") from None
                if waited > START_TIMEOUT:
                    raise WorkerError("a worker did not start in time") from None
                continue
            if kind == "error":
                raise WorkerError(str(detail))
            port, count = int(detail), count - 1
        return port
