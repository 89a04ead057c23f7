"""Running a statement built once on a session's connection (see :mod:`.boxes` for why)."""

from __future__ import annotations

from sqlalchemy import Connection
from sqlalchemy.orm import Session


def connection(session: Session) -> Connection:
    """The session's connection, after writing what the session holds (Core statements see
    only what was flushed); a flush with nothing pending costs nothing."""
    session.flush()
    return session.connection()
