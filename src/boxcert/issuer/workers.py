"""``boxcert issuer serve --workers N``: N issuer processes answering on one port.

One Python process answers on one core. The parent:

1. prepares, once, everything that must exist before anyone serves — the data directory, the
   database schema, the local CA's files, the installation's secrets — so N processes never
   race to create them;
2. checks the address by binding it without SO_REUSEPORT (a port in use is then one line, and
   a second group cannot quietly share the port with a first), then starts the workers
   (forked from the prepared parent, see :mod:`boxcert.workergroup`); each binds the port
   with SO_REUSEPORT and the kernel spreads the connections across them (by the client's
   address and port: one connection stays on one worker);
3. supervises: SIGINT or SIGTERM stops every worker (SIGTERM: uvicorn finishes the requests
   in flight); a worker that dies stops the rest, and the parent exits non-zero so that the
   service manager restarts the whole group.

What N workers share and what they do not:

- **Background jobs** (lifecycle job, portal session purge, change-feed pruning) run in worker
  0 only, so N workers do not do them N times. Several issuers of a cluster each have their
  worker 0; those runs were already safe together (database locks, see :mod:`.lifecycle`).
- **Audit log**: each worker records the events it announces, from its own writer thread; no
  event is seen by two workers, so none is written twice.
- **Caches** (:mod:`.hotcache`, the CRL): per worker, each bound by the change feed like any
  issuer's (a change made through worker A reaches worker B within one second).
- **Metrics**: the parent makes a private directory for prometheus-client's multiprocess mode
  (``PROMETHEUS_MULTIPROC_DIR``); ``/metrics`` on any worker adds up every worker's figures.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

from boxcert import httpserver, logsetup
from boxcert.httpserver import HttpServerError, Timeouts
from boxcert.issuer.errors import IssuerError
from boxcert.workergroup import WorkerGroup

log = logging.getLogger(__name__)

START_TIMEOUT = 120.0  # a hang guard: importing and opening the database is the slow part
STOP_TIMEOUT = 15.0  # more than uvicorn's graceful shutdown
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs to build its issuer (picklable: workers may be spawned)."""

    options: Any  # boxcert.issuer.server.IssuerOptions
    host: str
    tls_cert: Path | None
    tls_key: Path | None
    timeouts: Timeouts
    access_log: bool
    log_level: str | None
    log_format: str


def default_workers() -> int:
    """One worker per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _worker(spec: WorkerSpec, index: int, port: int, events: Queue[Any]) -> None:
    from prometheus_client import values

    from boxcert.issuer.server import build_service, serve

    # prometheus-client picks its value store when imported; a forked worker imported it
    # before the parent set the multiprocess directory, so it picks again now that it is set.
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    logsetup.configure(spec.log_level, spec.log_format)
    logsetup.default_level("info")
    try:
        service = build_service(spec.options)
        tls = None
        if spec.tls_cert is not None and spec.tls_key is not None:
            tls = httpserver.tls_context(spec.tls_cert, spec.tls_key)
        sock = httpserver.bind(spec.host, port, reuse_port=True)
    except (HttpServerError, IssuerError, OSError, ValueError) as err:
        events.put(("error", index, str(err)))
        raise SystemExit(1) from err
    bound = int(sock.getsockname()[1])
    try:
        httpserver.run(
            serve(
                service,
                spec.host,
                bound,
                tls=tls,
                timeouts=spec.timeouts,
                on_ready=lambda _url: events.put(("ready", index, bound)),
                sock=sock,
                run_jobs=index == 0,
                access_log=spec.access_log,
            )
        )
    except HttpServerError as err:
        events.put(("error", index, str(err)))
        raise SystemExit(1) from err


def worker_group(spec: WorkerSpec, port: int, count: int) -> WorkerGroup:
    return WorkerGroup(
        _worker,
        lambda index, bound, events: (spec, index, bound, events),
        port,
        count,
        name="issuer-worker",
        start_timeout=START_TIMEOUT,
        stop_timeout=STOP_TIMEOUT,
    )


@contextlib.contextmanager
def metrics_directory() -> Iterator[Path]:
    """A private directory for the workers' metrics files, set in the environment the
    workers inherit; removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="boxcert-issuer-metrics-"))
    previous = os.environ.get(METRICS_DIR_ENV)
    os.environ[METRICS_DIR_ENV] = str(path)
    try:
        yield path
    finally:
        if previous is None:
            os.environ.pop(METRICS_DIR_ENV, None)
        else:
            os.environ[METRICS_DIR_ENV] = previous
        shutil.rmtree(path, ignore_errors=True)


def serve_in_workers(
    spec: WorkerSpec, port: int, count: int, on_ready: Callable[[int], None]
) -> None:
    """Run ``count`` workers until SIGINT/SIGTERM; ``on_ready`` gets the port once all serve.
    Raises :class:`WorkerError` or :class:`HttpServerError` with one line to show."""
    if port != 0:
        httpserver.bind(spec.host, port).close()  # in use: one line, before anything starts
    stopping: list[int] = []
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    previous_fd = signal.set_wakeup_fd(wake_write)
    previous = {
        sig: signal.signal(sig, lambda signum, _frame: stopping.append(signum))
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        with metrics_directory():
            group = worker_group(spec, port, count)
            on_ready(group.start())
            group.supervise(lambda: bool(stopping), wake_read)
    finally:
        signal.set_wakeup_fd(previous_fd)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.close(wake_read)
        os.close(wake_write)
