"""Box registration: a box (one key, one label) belongs to the database it first asked for.

Policy (:func:`decide`, :func:`box_cap`, pure): a known box of this database is served; a
known box of another database is refused (a replayed CSR never moves a box); a new box is
registered while the database has fewer boxes than its cap — its own
(``database set-max-boxes``) or else the issuer's ``--max-boxes``.

Mechanism (:class:`Registrar`): a box seen recently needs no write. Otherwise one transaction
reads the box, and for a new one takes the database's row lock
(:func:`~boxcert.issuer.store.accounts.lock_database`, which reads the database's own cap in
the same statement) before counting and inserting, so concurrent first requests (on one
issuer or several) can never exceed the cap, and a changed cap applies to the next new box
at once. A database removed meanwhile registers nothing.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from boxcert.clock import Clock
from boxcert.issuer import eligibility
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
    NO_DATABASE = "no_database"  # removed since its eligibility was checked


def box_cap(own: int | None, default: int) -> int:
    """The cap a database's new boxes count against: its own, else the issuer's."""
    return default if own is None else own


def decide(box: BoxRow | None, db_uuid: str, boxes_of_database: int, limit: int) -> Decision:
    """What to do with a box asking for ``db_uuid`` (``boxes_of_database``: its count now)."""
    if box is not None:
        return Decision.KNOWN if box.db_uuid == db_uuid else Decision.ANOTHER_DATABASE
    return Decision.LIMIT_REACHED if boxes_of_database >= limit else Decision.NEW


def needs_touch(seen: BoxRow | None, now: datetime) -> bool:
    """Whether a known box's ``last_seen`` is to be written (``seen``: the box as the request
    read it before the lock; None: it read no box): kept to :data:`SEEN_RESOLUTION`."""
    return seen is None or now - seen.last_seen >= SEEN_RESOLUTION


def refusal(decision: Decision, limit: int) -> Refusal | None:
    if decision is Decision.NO_DATABASE:
        verdict = eligibility.check(None, "", code_sent=False)
        assert verdict.code is not None
        return Refusal(verdict.code, verdict.message)
    if decision is Decision.ANOTHER_DATABASE:
        return Refusal(
            RefusalCode.BOX_OF_ANOTHER_DATABASE,
            "This box's key is registered to another database. A box serves one database; "
            "give the box a new key to use it with this one.",
        )
    if decision is Decision.LIMIT_REACHED and limit == 0:
        return Refusal(
            RefusalCode.BOX_LIMIT_REACHED,
            "The vendor allows this database no new boxes. Ask the vendor to raise its limit.",
        )
    if decision is Decision.LIMIT_REACHED:
        return Refusal(
            RefusalCode.BOX_LIMIT_REACHED,
            f"This database already has {limit} boxes with certificates. Retire a box you no "
            "longer use (on the database's page in the customer portal) or ask the vendor to "
            "raise the limit.",
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

        def register(session: Session) -> tuple[Decision, int]:
            # ``seen`` None: the caller's read just found no box; take the lock straight away.
            box = boxes.get_box(session, label) if seen is not None else None
            if box is not None:
                decision = decide(box, db_uuid, 0, self.limit)
                if decision is Decision.KNOWN:
                    boxes.touch_box(session, label, db_uuid, identifier, now)
                return decision, self.limit
            locked = accounts.lock_database(session, db_uuid)
            if locked is None:
                return Decision.NO_DATABASE, self.limit
            return self.register_locked(session, locked, label, db_uuid, identifier, None)

        try:
            decision, limit = await run_in_session(self.sessions, register)
        except IntegrityError:
            # The same box's first requests raced on two issuers; the row exists now.
            decision, limit = await run_in_session(self.sessions, register)
        self._raise(decision, limit)

    def register_locked(
        self,
        session: Session,
        locked: accounts.LockedDatabase,
        label: str,
        db_uuid: str,
        identifier: str,
        seen: BoxRow | None,
    ) -> tuple[Decision, int]:
        """Register or refresh the box in ``session``, which holds the database's row lock
        (``locked``): reads the box again (inserted while we waited?), counts and inserts
        under the cap. ``seen``: what the caller read before the lock, to skip a write for a
        box seen recently. Returns the decision and the cap it was judged against."""
        now = self.clock()
        limit = box_cap(locked.max_boxes, self.limit)
        box = boxes.get_box(session, label)
        count = boxes.count_boxes(session, db_uuid) if box is None else 0
        decision = decide(box, db_uuid, count, limit)
        if decision is Decision.NEW:
            boxes.add_box(session, label, db_uuid, identifier, now)
        elif decision is Decision.KNOWN and needs_touch(seen, now):
            boxes.touch_box(session, label, db_uuid, identifier, now)
        return decision, limit

    def _raise(self, decision: Decision, limit: int | None = None) -> None:
        refused = refusal(decision, self.limit if limit is None else limit)
        if refused is not None:
            raise refused
