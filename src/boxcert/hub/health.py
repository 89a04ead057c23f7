"""``GET /healthz``: can this hub do its work — does its database answer.

One ``SELECT 1`` through the hub's own sessions on every call (what a load balancer or a
service manager wants to know), given :data:`DATABASE_WAIT` seconds, so a PostgreSQL server
that is gone does not hang the probe. The answer says whether the hub is configured (boxes
can pair) and nothing more: anyone may ask. The reason of a failure says what failed, never
where; the log has the details.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)
DATABASE_WAIT = 3.0
OK = "ok"


@dataclass(frozen=True, slots=True)
class HealthReport:
    checks: dict[str, str]  # part → "ok" or a short reason

    @property
    def failing(self) -> list[str]:
        return [part for part, result in self.checks.items() if result != OK]


async def check_database(sessions: sessionmaker[Session], wait: float = DATABASE_WAIT) -> str:
    """``ok``, or a short reason the database cannot be used."""

    def ping() -> None:
        with sessions.begin() as session:
            session.execute(text("SELECT 1"))

    try:
        await asyncio.wait_for(asyncio.to_thread(ping), wait)
    except TimeoutError:
        log.warning("health: the database did not answer within %.0f s", wait)
        return "the database does not answer"
    except Exception as err:
        log.warning("health: the database is unreachable: %s", err)
        return "the database is unreachable"
    return OK


async def report(sessions: sessionmaker[Session]) -> HealthReport:
    return HealthReport({"database": await check_database(sessions)})
