"""Advisory file locks between the box's processes (the loop, the CLI, the front).

``flock`` is released by the kernel when its holder dies, so a ``kill -9`` never leaves a stale
lock. A caller waits at most ``timeout`` seconds and then gets :class:`BusyError` instead of
hanging behind a check that may take minutes.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from boxcert.box.errors import BoxError, BoxFileError, BusyError

POLL_SECONDS = 0.05


@contextmanager
def file_lock(
    path: Path,
    timeout: float,
    *,
    busy: Callable[[], BoxError] = BusyError,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) for the ``with`` block.

    Raises ``busy()`` when another process holds it for longer than ``timeout`` seconds, and
    BoxFileError when the lock file cannot be opened (a directory in its place, no permission).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except IsADirectoryError as err:
        raise BoxFileError(path, "is a directory; remove it (it is only a lock file)") from err
    except OSError as err:
        raise BoxFileError(path, f"cannot be opened as a lock: {err.strerror or err}") from err
    try:
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as err:
                if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise BoxFileError(path, f"cannot be locked: {err.strerror}") from err
            if time.monotonic() >= deadline:
                raise busy()
            sleep(POLL_SECONDS)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
