"""What the portal and the admin API show of subscriptions and databases: the stored rows
with the entitlement verdict (:func:`eligibility.entitlement`), its remedy
(:mod:`boxcert.wire.refusals`) and the lapse the lifecycle job recorded. Read-only; each
function runs in the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from boxcert.issuer import eligibility
from boxcert.issuer.eligibility import Verdict
from boxcert.issuer.store import accounts, lapses
from boxcert.issuer.store.rows import DatabaseRow, LapseRow, SubscriptionRow
from boxcert.wire.refusals import meaning_of


@dataclass(frozen=True, slots=True)
class DatabaseView:
    row: DatabaseRow
    verdict: Verdict
    lapse: LapseRow | None
    grace: timedelta

    @property
    def uuid(self) -> str:
        return self.row.uuid

    @property
    def eligible(self) -> bool:
        return self.verdict.eligible

    @property
    def title(self) -> str:
        meaning = meaning_of(self.verdict.code) if self.verdict.code else None
        return meaning.title if meaning else "Eligible"

    @property
    def remedy(self) -> str:
        meaning = meaning_of(self.verdict.code) if self.verdict.code else None
        return meaning.remedy if meaning else ""

    @property
    def revoke_after(self) -> datetime | None:
        return self.lapse.since + self.grace if self.lapse is not None else None

    def to_json(self) -> dict[str, object]:
        reason = None
        if self.verdict.code is not None:
            reason = {
                "code": self.verdict.code.value,
                "message": self.verdict.message,
                "title": self.title,
                "remedy": self.remedy,
            }
        return {
            "uuid": self.row.uuid,
            "kind": self.row.kind,
            "subscription_id": self.row.subscription_id,
            "boxes": self.row.boxes,
            "max_boxes": self.row.max_boxes,
            "duplicate_since": _iso(self.row.duplicate_since),
            "eligible": self.eligible,
            "reason": reason,
            "lapsed_since": _iso(self.lapse.since if self.lapse else None),
            "revoke_after": _iso(self.revoke_after),
            "created_at": _iso(self.row.created_at),
        }


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    row: SubscriptionRow
    databases: tuple[DatabaseView, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.row.id,
            "code_hint": self.row.code_hint,
            "state": self.row.state,
            "lines": list(self.row.lines),
            "created_at": _iso(self.row.created_at),
            "databases": [d.to_json() for d in self.databases],
        }


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def database_view(session: Session, uuid: str, grace: timedelta) -> DatabaseView:
    """Raises NotFound for an unknown uuid."""
    row = accounts.get_database(session, uuid)
    facts = accounts.database_facts(session, row.uuid)
    assert facts is not None
    return DatabaseView(
        row, eligibility.entitlement(facts), lapses.get_lapse(session, row.uuid), grace
    )


def database_views(
    session: Session, grace: timedelta, sub_ids: list[int] | None = None
) -> list[DatabaseView]:
    rows = (
        accounts.list_databases(session)
        if sub_ids is None
        else accounts.databases_of_subscriptions(session, sub_ids)
    )
    facts = {f.uuid: f for f in accounts.all_database_facts(session)}
    lapsed = lapses.all_lapses(session)
    return [
        DatabaseView(r, eligibility.entitlement(facts[r.uuid]), lapsed.get(r.uuid), grace)
        for r in rows
        if r.uuid in facts
    ]


def subscription_views(
    session: Session, grace: timedelta, sub_ids: list[int] | None = None
) -> list[SubscriptionView]:
    subs = accounts.list_subscriptions(session)
    if sub_ids is not None:
        subs = [s for s in subs if s.id in sub_ids]
    dbs = database_views(session, grace, [s.id for s in subs])
    return [
        SubscriptionView(s, tuple(d for d in dbs if d.row.subscription_id == s.id)) for s in subs
    ]
