"""The change feed the database keeps for the issuers' caches (written by the triggers of
migration 0006; read here, never written by hand).

``generation`` counts changes; ``cache_changes`` says, per generation, whose facts
(``db_uuid`` with no holder) or which holder (``holder_label``) changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from boxcert.issuer.models import CacheChange, CacheGeneration

RETENTION_SECONDS = 3600  # how long a change stays readable (pruned by the lifecycle job)
# Execution option of an update that changes nothing (a row lock taken by a no-op update):
# the issuer's own cache need not look at the feed after it.
LOCK_ONLY = "boxcert_lock_only"


@dataclass(frozen=True, slots=True)
class Change:
    generation: int
    db_uuid: str | None
    holder_label: str | None  # None: the database's facts changed


def generation(session: Session) -> int:
    return session.scalar(select(CacheGeneration.value).where(CacheGeneration.id == 1)) or 0


def changes(session: Session, after: int, upto: int) -> list[Change]:
    """The changes of the generations after ``after`` up to ``upto`` included."""
    rows = session.execute(
        select(CacheChange.generation, CacheChange.db_uuid, CacheChange.holder_label)
        .where(CacheChange.generation > after, CacheChange.generation <= upto)
        .order_by(CacheChange.id)
    ).all()
    return [Change(int(g), d, h) for g, d, h in rows]


def prune(session: Session, seconds: int = RETENTION_SECONDS) -> int:
    """Drop changes older than ``seconds`` by the database's own clock; how many went."""
    if session.get_bind().dialect.name == "sqlite":
        cutoff: Any = func.datetime("now", f"-{int(seconds)} seconds")
    else:
        cutoff = func.now() - text(f"interval '{int(seconds)} seconds'")
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        delete(CacheChange).where(CacheChange.changed_at < cutoff),
        execution_options={"synchronize_session": False},
    )
    return result.rowcount
