"""The agent's wait between two checks, which "check now" and a settings change cut short.

:meth:`Alarm.sleep` waits on an event in slices of at most ``poll`` seconds; between slices it
looks whether the caller asked to stop and whether ``config.json`` changed (the ``configure``
command is another process). :meth:`Alarm.request` ("renew now" on a homepage, a pairing) wakes
it at once; requests that arrive while a check runs are merged into one.

The primitive wait (``wait(event, seconds) -> bool``, ``threading.Event.wait`` in production)
is injected, so tests run the loop on a fake clock without sleeping.
"""

from __future__ import annotations

import enum
import os
import threading
from collections.abc import Callable
from pathlib import Path

WaitOnEvent = Callable[[threading.Event, float], bool]
POLL_SECONDS = 1.0


def wait_on_event(event: threading.Event, seconds: float) -> bool:
    return event.wait(seconds)


class Wake(enum.StrEnum):
    TIMEOUT = "timeout"
    REQUESTED = "requested"
    CONFIG_CHANGED = "config_changed"
    STOPPED = "stopped"


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class Alarm:
    def __init__(
        self, config_path: Path, *, wait: WaitOnEvent = wait_on_event, poll: float = POLL_SECONDS
    ) -> None:
        self._config_path = config_path
        self._wait = wait
        self._poll = poll
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._requested = False
        self._force = False
        self._config_changed = False
        self._seen = _signature(config_path)

    def request(self, *, force: bool = False) -> None:
        """Ask for a check as soon as possible (``force``: renew even a valid certificate)."""
        with self._lock:
            self._requested = True
            self._force = self._force or force
        self._event.set()

    def wake(self) -> None:
        """End the current wait slice now (the caller set its ``stop``)."""
        self._event.set()

    def config_changed(self) -> None:
        """Say that the settings changed (in this process); the loop checks at once."""
        with self._lock:
            self._config_changed = True
        self._event.set()

    def take_request(self) -> tuple[bool, bool]:
        """(a check was requested, with force) since the last call; clears both."""
        with self._lock:
            taken = (self._requested, self._force)
            self._requested = self._force = False
            return taken

    def note_config(self) -> None:
        """Remember the current config.json as seen (call when the loop loads it)."""
        self._seen = _signature(self._config_path)

    def _pending(self, stop: threading.Event | None) -> Wake | None:
        if stop is not None and stop.is_set():
            return Wake.STOPPED
        with self._lock:
            if self._requested:
                return Wake.REQUESTED
            if self._config_changed:
                self._config_changed = False
                return Wake.CONFIG_CHANGED
        signature = _signature(self._config_path)
        if signature != self._seen:
            self._seen = signature
            return Wake.CONFIG_CHANGED
        return None

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> Wake:
        """Wait up to ``seconds``; the reason it ended."""
        remaining = max(seconds, 0.0)
        while True:
            self._event.clear()  # before looking, so a request from now on sets it again
            reason = self._pending(stop)
            if reason is not None:
                return reason
            if remaining <= 0:
                return Wake.TIMEOUT
            step = min(remaining, self._poll)
            if not self._wait(self._event, step):
                remaining -= step  # a wait that was not woken ran its full length
