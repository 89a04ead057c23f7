"""What the agent reports as it works, for metrics (:mod:`boxcert.box.metrics`).

The agent calls an :class:`AgentObserver`; :class:`NoObserver` (the default) counts nothing,
so commands that never serve metrics do not load the metrics library.
"""

from __future__ import annotations

from typing import Protocol

from boxcert.box.status import BoxStatus


class AgentObserver(Protocol):
    """Calls are made from the agent's thread; they must be quick and thread-safe."""

    def check_done(self, status: BoxStatus) -> None: ...

    def issuer_request(self, endpoint: str, seconds: float, answered: bool) -> None: ...

    def hook_ran(self, ok: bool) -> None: ...


class NoObserver:
    """The agent's default: nothing is counted."""

    def check_done(self, status: BoxStatus) -> None:
        return None

    def issuer_request(self, endpoint: str, seconds: float, answered: bool) -> None:
        return None

    def hook_ran(self, ok: bool) -> None:
        return None
