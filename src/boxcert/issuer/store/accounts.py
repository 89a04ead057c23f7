"""Subscriptions and databases: what eligibility reads, and what the operator administers.

Database uuids are stored and compared in their canonical form
(:func:`boxcert.wire.canonical_uuid`); contract codes only as keyed hashes
(:mod:`boxcert.issuer.contract_codes`), so a subscription is found by its code's digest or by
its id, and no code is ever read back.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from boxcert.issuer.contract_codes import ContractCodes, hint
from boxcert.issuer.eligibility import DatabaseFacts
from boxcert.issuer.errors import AlreadyExists, InvalidValue, NotFound
from boxcert.issuer.models import (
    Box,
    Database,
    DatabaseKind,
    Subscription,
    SubscriptionLine,
    SubscriptionState,
)
from boxcert.issuer.store import changes, core
from boxcert.issuer.store.rows import DatabaseRow, SubscriptionRow
from boxcert.wire import canonical_uuid, is_clean_text

MAX_UUID_CHARS = 64
MAX_CODE_CHARS = 128

# --- the request path -----------------------------------------------------------------------


def database_facts(session: Session, db_uuid: str) -> DatabaseFacts | None:
    """What eligibility needs about ``db_uuid``, in one statement whether it exists or not
    (an unknown uuid must cost what a known one costs)."""
    rows = core.connection(session).execute(_FACTS_OF, {"uuid": db_uuid}).all()
    found = _grouped(rows)
    return found[0] if found else None


def all_database_facts(session: Session) -> list[DatabaseFacts]:
    """The facts of every registered database, in one statement (the lifecycle's scan)."""
    return _grouped(session.execute(_facts_query()).all())


def _facts_query() -> Any:
    return (
        select(
            Database.uuid,
            Database.kind,
            Subscription.id,
            Subscription.code_digest,
            Subscription.state,
            Database.duplicate_since,
            Subscription.report_key_sealed,
            SubscriptionLine.product_name,
        )
        .join(Subscription, Subscription.id == Database.subscription_id)
        .outerjoin(SubscriptionLine, SubscriptionLine.subscription_id == Subscription.id)
        .order_by(Database.uuid, SubscriptionLine.id)
    )


# Built once (see :mod:`.boxes`): a request's one statement.
_FACTS_OF = _facts_query().where(Database.uuid == bindparam("uuid"))
_LOCK = (
    update(Database)
    .where(Database.uuid == bindparam("lock_uuid"))
    .values(kind=Database.kind)
    .returning(Database.max_boxes)
    .execution_options(**{changes.LOCK_ONLY: True})
)


@dataclass(frozen=True, slots=True)
class LockedDatabase:
    """A database whose row this transaction holds, with what registration reads under it."""

    max_boxes: int | None  # its own box cap; None: the issuer's --max-boxes


def _grouped(rows: Sequence[Any]) -> list[DatabaseFacts]:
    grouped: dict[str, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row[0], []).append(row)
    return [
        DatabaseFacts(
            uuid=uuid,
            kind=rows[0][1],
            subscription_id=rows[0][2],
            code_digest=rows[0][3],
            subscription_state=rows[0][4],
            subscription_lines=tuple(row[7] for row in rows if row[7] is not None),
            duplicate=rows[0][5] is not None,
            has_report_key=rows[0][6] is not None,
        )
        for uuid, rows in grouped.items()
    ]


def lock_database(session: Session, db_uuid: str) -> LockedDatabase | None:
    """Hold the database's row until the transaction ends, so registrations for one database
    run one at a time (PostgreSQL: a row lock; SQLite: the write lock), and read its box cap
    in the same statement. None if it is gone."""
    row = core.connection(session).execute(_LOCK, {"lock_uuid": db_uuid}).first()
    return LockedDatabase(row[0]) if row is not None else None


# A batch's databases at once (:mod:`boxcert.issuer.inline`). PostgreSQL: row locks taken in
# the order of the uuids, so two batches sharing databases wait for each other instead of
# deadlocking; SQLite: its write lock, taken by the no-op update (order means nothing there).
_LOCK_MANY_ROWS = (
    select(Database.uuid, Database.max_boxes)
    .where(Database.uuid.in_(bindparam("uuids", expanding=True)))
    .order_by(Database.uuid)
    .with_for_update()
)
_LOCK_MANY_WRITE = (
    update(Database)
    .where(Database.uuid.in_(bindparam("uuids", expanding=True)))
    .values(kind=Database.kind)
    .returning(Database.uuid, Database.max_boxes)
    .execution_options(**{changes.LOCK_ONLY: True})
)


def lock_databases(session: Session, uuids: Collection[str]) -> dict[str, LockedDatabase]:
    """:func:`lock_database` for several databases in one statement; the ones found (a
    database removed meanwhile is missing)."""
    if not uuids:
        return {}
    conn = core.connection(session)
    statement = _LOCK_MANY_WRITE if conn.dialect.name == "sqlite" else _LOCK_MANY_ROWS
    rows = conn.execute(statement, {"uuids": sorted(uuids)}).all()
    return {uuid: LockedDatabase(max_boxes) for uuid, max_boxes in rows}


def set_database_max_boxes(session: Session, uuid: str, max_boxes: int | None) -> None:
    """Give a database its own box cap (None: the issuer's ``--max-boxes`` again). Boxes
    already registered stay, even above a lowered cap; only new ones are counted against it."""
    if max_boxes is not None and max_boxes < 0:
        raise InvalidValue("a box cap is 0 or more")
    _database(session, uuid).max_boxes = max_boxes


# --- subscriptions --------------------------------------------------------------------------


def _subscription_row(session: Session, sub: Subscription) -> SubscriptionRow:
    lines = session.scalars(
        select(SubscriptionLine.product_name)
        .where(SubscriptionLine.subscription_id == sub.id)
        .order_by(SubscriptionLine.id)
    ).all()
    return SubscriptionRow(sub.id, sub.code_hint, sub.state, tuple(lines), sub.created_at)


def add_subscription(
    session: Session,
    codes: ContractCodes,
    code: str,
    state: SubscriptionState,
    lines: list[str],
    now: datetime,
) -> SubscriptionRow:
    code = code.strip()
    if not code or len(code) > MAX_CODE_CHARS or not is_clean_text(code):
        raise InvalidValue(f"a contract code is 1 to {MAX_CODE_CHARS} printable characters")
    digest = codes.digest(code)
    if session.scalar(select(Subscription.id).where(Subscription.code_digest == digest)):
        raise AlreadyExists("a subscription with this contract code already exists")
    sub = Subscription(code_digest=digest, code_hint=hint(code), state=state.value, created_at=now)
    session.add(sub)
    session.flush()
    sub.report_key_sealed = codes.seal_report_key(sub.id, code)
    for name in lines:
        session.add(SubscriptionLine(subscription_id=sub.id, product_name=name))
    session.flush()
    return _subscription_row(session, sub)


def subscription_id(session: Session, codes: ContractCodes, code: str) -> int:
    """The id of the subscription with contract code ``code``."""
    found = session.scalar(
        select(Subscription.id).where(Subscription.code_digest == codes.digest(code.strip()))
    )
    if found is None:
        raise NotFound("no subscription has this contract code")
    return found


def _subscription(session: Session, sub_id: int) -> Subscription:
    sub = session.get(Subscription, sub_id)
    if sub is None:
        raise NotFound(f"no subscription #{sub_id}")
    return sub


def get_subscription(session: Session, sub_id: int) -> SubscriptionRow:
    return _subscription_row(session, _subscription(session, sub_id))


def set_subscription_state(session: Session, sub_id: int, state: SubscriptionState) -> None:
    _subscription(session, sub_id).state = state.value


def add_subscription_line(session: Session, sub_id: int, product_name: str) -> None:
    _subscription(session, sub_id)
    session.add(SubscriptionLine(subscription_id=sub_id, product_name=product_name))


def set_subscription_lines(session: Session, sub_id: int, lines: list[str]) -> None:
    """Replace the subscription's lines with ``lines`` (in that order)."""
    _subscription(session, sub_id)
    session.execute(delete(SubscriptionLine).where(SubscriptionLine.subscription_id == sub_id))
    for name in lines:
        session.add(SubscriptionLine(subscription_id=sub_id, product_name=name))
    session.flush()


def set_report_key(session: Session, sub_id: int, sealed: str) -> None:
    """Store the hubs' report key of a subscription (sealed), unless one is stored."""
    session.execute(
        update(Subscription)
        .where(Subscription.id == sub_id, Subscription.report_key_sealed.is_(None))
        .values(report_key_sealed=sealed),
        execution_options={"synchronize_session": False},
    )


def report_key_of(session: Session, db_uuid: str) -> tuple[int, str | None] | None:
    """(subscription id, sealed report key) of a database; None when it is unknown."""
    row = session.execute(
        select(Subscription.id, Subscription.report_key_sealed)
        .join(Database, Database.subscription_id == Subscription.id)
        .where(Database.uuid == db_uuid)
    ).first()
    return (row[0], row[1]) if row is not None else None


def list_subscriptions(session: Session) -> list[SubscriptionRow]:
    subs = session.scalars(select(Subscription).order_by(Subscription.id)).all()
    lines: dict[int, list[str]] = {}
    for sub_id, name in session.execute(
        select(SubscriptionLine.subscription_id, SubscriptionLine.product_name).order_by(
            SubscriptionLine.id
        )
    ):
        lines.setdefault(sub_id, []).append(name)
    return [
        SubscriptionRow(s.id, s.code_hint, s.state, tuple(lines.get(s.id, ())), s.created_at)
        for s in subs
    ]


# --- databases ------------------------------------------------------------------------------


def _database_row(session: Session, database: Database) -> DatabaseRow:
    boxes = session.scalar(
        select(func.count()).select_from(Box).where(Box.db_uuid == database.uuid)
    )
    return DatabaseRow(
        database.uuid,
        database.kind,
        database.subscription_id,
        boxes or 0,
        database.created_at,
        database.duplicate_since,
        database.max_boxes,
    )


def _database(session: Session, uuid: str) -> Database:
    database = session.get(Database, canonical_uuid(uuid))
    if database is None:
        raise NotFound(f"no database {canonical_uuid(uuid)}")
    return database


def get_database(session: Session, uuid: str) -> DatabaseRow:
    return _database_row(session, _database(session, uuid))


def set_database_subscription(session: Session, uuid: str, sub_id: int) -> None:
    _subscription(session, sub_id)
    _database(session, uuid).subscription_id = sub_id


def mark_duplicate(session: Session, uuid: str, now: datetime) -> bool:
    """Mark a database duplicate; False when it already was (or is unknown)."""
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(Database)
        .where(Database.uuid == uuid, Database.duplicate_since.is_(None))
        .values(duplicate_since=now),
        execution_options={"synchronize_session": False},
    )
    return result.rowcount > 0


def clear_duplicate(session: Session, uuid: str) -> None:
    _database(session, uuid).duplicate_since = None


def databases_of_subscriptions(session: Session, sub_ids: list[int]) -> list[DatabaseRow]:
    rows = session.scalars(
        select(Database)
        .where(Database.subscription_id.in_(sub_ids))
        .order_by(Database.created_at, Database.uuid)
    ).all()
    return [_database_row(session, d) for d in rows]


def add_database(
    session: Session, uuid: str, kind: DatabaseKind, sub_id: int, now: datetime
) -> DatabaseRow:
    """Register a database. Its uuid is stored canonical; a uuid that differs from a registered
    one only in case or surrounding spaces is the same database and is refused."""
    uuid = canonical_uuid(uuid)
    if not uuid or len(uuid) > MAX_UUID_CHARS or not is_clean_text(uuid):
        raise InvalidValue(f"a database uuid is 1 to {MAX_UUID_CHARS} printable characters")
    _subscription(session, sub_id)
    existing = session.scalar(
        select(Database.uuid).where(func.lower(func.trim(Database.uuid)) == uuid)
    )
    if existing is not None:
        raise AlreadyExists(f"database {existing} already exists (uuids ignore case)")
    database = Database(uuid=uuid, kind=kind.value, subscription_id=sub_id, created_at=now)
    session.add(database)
    session.flush()
    return _database_row(session, database)


def set_database_kind(session: Session, uuid: str, kind: DatabaseKind) -> None:
    _database(session, uuid).kind = kind.value


def list_databases(session: Session) -> list[DatabaseRow]:
    rows = session.scalars(select(Database).order_by(Database.created_at, Database.uuid)).all()
    counts: dict[str, int] = {
        uuid: count
        for uuid, count in session.execute(
            select(Box.db_uuid, func.count()).group_by(Box.db_uuid)
        ).all()
    }
    return [
        DatabaseRow(
            d.uuid,
            d.kind,
            d.subscription_id,
            counts.get(d.uuid, 0),
            d.created_at,
            d.duplicate_since,
            d.max_boxes,
        )
        for d in rows
    ]
