"""Box registration: a box (one key, one label) belongs to the database it first asked for.

Policy (:func:`decide`, pure): a known box of this database is served; a known box of another
database is refused (a replayed CSR never moves a box); a new box is registered while the
database has fewer than ``--max-boxes``.

Mechanism (:class:`Registrar`): a box seen recently needs no write. Otherwise one transaction
reads the box, and for a new one takes the database's row lock
(:func:`~boxcert.issuer.store.accounts.lock_database`) before counting and inserting, so
concurrent first requests (on one issuer or several) can never exceed the cap.
"""

from __future__ import annotations

import enum
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from boxcert.clock import Clock
from boxcert.issuer.db import run_in_session
from boxcert.issuer.errors import Refusal
from boxcert.issuer.store import accounts, boxes
from boxcert.issuer.store.rows import BoxRow
from boxcert.wire import RefusalCode

SEEN_RESOLUTION = timedelta(hours=1)  # how fresh boxes.last_seen is kept


class Decision(enum.Enum):
    KNOWN = "known"
    NEW = "new"
    ANOTHER_DATABASE = "another_database"
    LIMIT_REACHED = "limit_reached"


def decide(box: BoxRow | None, db_uuid: str, boxes_of_database: int, limit: int) -> Decision:
    """What to do with a box asking for ``db_uuid`` (``boxes_of_database``: its count now)."""
    if box is not None:
        return Decision.KNOWN if box.db_uuid == db_uuid else Decision.ANOTHER_DATABASE
    return Decision.LIMIT_REACHED if boxes_of_database >= limit else Decision.NEW


def refusal(decision: Decision, limit: int) -> Refusal | None:
    if decision is Decision.ANOTHER_DATABASE:
        return Refusal(
            RefusalCode.BOX_OF_ANOTHER_DATABASE,
            "This box's key is registered to another database. A box serves one database; "
            "give the box a new key to use it with this one.",
        )
    if decision is Decision.LIMIT_REACHED:
        return Refusal(
            RefusalCode.BOX_LIMIT_REACHED,
            f"This database already has {limit} boxes with certificates. Retire unused "
            "boxes or ask the vendor to raise the limit.",
        )
    return None


class Registrar:
    def __init__(self, sessions: sessionmaker[Session], limit: int, clock: Clock) -> None:
        self.sessions = sessions
        self.limit = limit
        self.clock = clock

    async def register(
        self, label: str, db_uuid: str, identifier: str, seen: BoxRow | None
    ) -> None:
        """Register or refresh the box; raises the Refusal when it may not be served."""
        now = self.clock()
        if seen is not None:
            known = decide(seen, db_uuid, 0, self.limit)
            if known is Decision.ANOTHER_DATABASE or now - seen.last_seen < SEEN_RESOLUTION:
                self._raise(known)
                return  # known and recently seen: no write on the hot path

        def register(session: Session) -> Decision:
            # ``seen`` None: the caller's read just found no box; take the lock straight away.
            box = boxes.get_box(session, label) if seen is not None else None
            if box is None:
                accounts.lock_database(session, db_uuid)  # counts and inserts one at a time
                box = boxes.get_box(session, label)  # inserted while we waited?
            count = boxes.count_boxes(session, db_uuid) if box is None else 0
            decision = decide(box, db_uuid, count, self.limit)
            if decision is Decision.NEW:
                boxes.add_box(session, label, db_uuid, identifier, now)
            elif decision is Decision.KNOWN:
                boxes.touch_box(session, label, db_uuid, identifier, now)
            return decision

        try:
            decision = await run_in_session(self.sessions, register)
        except IntegrityError:
            # The same box's first requests raced on two issuers; the row exists now.
            decision = await run_in_session(self.sessions, register)
        self._raise(decision)

    def _raise(self, decision: Decision) -> None:
        refused = refusal(decision, self.limit)
        if refused is not None:
            raise refused
