"""A group of worker processes serving one port with SO_REUSEPORT, for the services that run
``--workers N`` (the issuer, the DNS server).

The parent starts worker 0 on the requested port (0: any free one), then the others on the
port worker 0 got, and waits until each says it serves; then it only supervises: when told to
stop (a signal) it stops every worker, SIGTERM first; a worker that dies stops the rest and is
reported as :class:`WorkerError`, so that the service manager restarts the whole group. What a
worker runs, and what the workers share, is the role's (``issuer/workers.py``,
``dns/workers.py``).

Workers are forked from the parent, which has imported and prepared everything they need
(as gunicorn's ``--preload`` does): a worker is serving in a fraction of a second instead of
importing the whole service again, and N workers start in little more than one's time. A fork
copies only the thread that forks, so it is safe only while the parent runs no other thread;
when it does, the workers are spawned (a fresh interpreter) instead. A forked worker first puts
back the signal handling the parent had changed for supervising.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import queue
import signal
import threading
from collections.abc import Callable
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from typing import Any


class WorkerError(Exception):
    """A worker could not start, or died; the message is one line to show."""


class WorkerGroup:
    """N processes of one server on one port, started one after the other.

    ``target(*args(index, port, events))`` runs in worker ``index``: it binds ``port``
    with SO_REUSEPORT (0: any free port, for worker 0 only) and puts ``("ready", index, port)``
    on ``events`` once it serves, or ``("error", index, one line)`` when it cannot start.
    """

    def __init__(
        self,
        target: Callable[..., None],
        args: Callable[[int, int, Queue[Any]], tuple[Any, ...]],
        port: int,
        count: int,
        *,
        name: str,
        start_timeout: float,
        stop_timeout: float,
    ) -> None:
        self._target = target
        self._args = args
        self._port = port
        self._count = count
        self._name = name
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self._ctx = _context()
        self._events: Queue[Any] = self._ctx.Queue()
        self.processes: list[BaseProcess] = []
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
            proc.join(self._stop_timeout)
            if proc.exitcode is None:
                proc.kill()
                proc.join()

    def _spawn(self, index: int, port: int) -> None:
        proc = self._ctx.Process(  # type: ignore[attr-defined]
            target=_in_worker,
            args=(self._target, *self._args(index, port, self._events)),
            name=f"{self._name}-{index}",
            daemon=False,
        )
        proc.start()
        self.processes.append(proc)

    def _wait_ready(self, count: int) -> int:
        port, waited = self._port, 0.0
        while count:
            try:
                kind, _index, detail = self._events.get(timeout=0.2)
            except queue.Empty:
                waited += 0.2
                dead = [p for p in self.processes if p.exitcode is not None]
                if dead:
                    raise WorkerError(f"a worker exited with status {dead[0].exitcode}") from None
                if waited > self._start_timeout:
                    raise WorkerError("a worker did not start in time") from None
                continue
            if kind == "error":
                raise WorkerError(str(detail))
            port, count = int(detail), count - 1
        return port


def _context() -> BaseContext:
    """Fork while the parent is single-threaded (see the module docstring), else spawn."""
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _in_worker(target: Callable[..., None], *args: Any) -> None:
    # A forked worker inherits the supervising parent's handlers and wake-up pipe: a SIGTERM
    # must stop the worker (until its server installs its own), not write to the parent's pipe.
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL if sig == signal.SIGTERM else signal.default_int_handler)
    target(*args)
