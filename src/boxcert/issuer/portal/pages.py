"""What the portal's pages show, gathered in one transaction each (pure of HTTP).

- :func:`overview` — the account's subscriptions filtered by state (In Progress unless asked
  otherwise), each with its lines and databases, and per database the verdict, the reason and
  what to do;
- :func:`database_page` — one database: its verdict, duplicate mark and pending revocation,
  and its boxes with their certificates (names, end date, revoked or not); the certificates of
  the older boxes' shared database key, and those of boxes retired since, are told apart;
- :func:`audit_page` — the audit entries of the account's subscriptions and databases.

Every function takes the account's subscription ids and never shows anything outside them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from boxcert.issuer import views
from boxcert.issuer.errors import NotFound
from boxcert.issuer.models import SubscriptionState
from boxcert.issuer.registration import box_cap
from boxcert.issuer.store import audit, boxes, certificates, sightings
from boxcert.issuer.store.rows import AuditRecord, BoxRow, SightingRow, StoredCertificate

ALL = "all"
DEFAULT_STATE = SubscriptionState.IN_PROGRESS.value
STATE_LABELS = {
    SubscriptionState.IN_PROGRESS.value: "In progress",
    SubscriptionState.PAUSED.value: "Paused",
    SubscriptionState.CLOSED.value: "Closed",
    SubscriptionState.EXPIRED.value: "Expired",
    SubscriptionState.DRAFT.value: "Draft",
    ALL: "All",
}


def state_filter(raw: str | None) -> str:
    """The state asked for; In Progress by default and for anything unknown."""
    return raw if raw in STATE_LABELS else DEFAULT_STATE


@dataclass(frozen=True, slots=True)
class Overview:
    state: str
    counts: dict[str, int]
    subscriptions: list[views.SubscriptionView]

    def to_json(self) -> dict[str, object]:
        return {
            "state": self.state,
            "counts": self.counts,
            "subscriptions": [s.to_json() for s in self.subscriptions],
        }


def overview(session: Session, sub_ids: list[int], state: str, grace: timedelta) -> Overview:
    every = views.subscription_views(session, grace, sub_ids)
    counts = {key: 0 for key in STATE_LABELS}
    for sub in every:
        counts[sub.row.state] = counts.get(sub.row.state, 0) + 1
    counts[ALL] = len(every)
    shown = [s for s in every if state == ALL or s.row.state == state]
    return Overview(state, counts, shown)


SHARED_KEY = "older boxes (shared database key)"
RETIRED = "retired box"


@dataclass(frozen=True, slots=True)
class BoxCertificates:
    label: str
    identifier: str
    first_seen: datetime | None
    last_seen: datetime | None
    certificates: list[StoredCertificate]
    kind: str = "box"  # "box"; "shared": the older boxes' database key; "retired": gone since

    @property
    def name(self) -> str:
        return self.identifier if self.kind == "box" and self.identifier else self.label

    def to_json(self) -> dict[str, object]:
        return {
            "label": self.label,
            "identifier": self.identifier,
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
            "certificates": [_certificate_json(c) for c in self.certificates],
        }


def _certificate_json(c: StoredCertificate) -> dict[str, object]:
    return {
        "serial": c.serial_hex,
        "names": list(c.names),
        "not_after": c.not_after.isoformat(),
        "issued_at": c.issued_at.isoformat(),
        "revoked": c.revoked_at is not None,
        "revoked_at": c.revoked_at.isoformat() if c.revoked_at else None,
        "revocation_reason": c.revocation_reason,
        "revocation_code": c.revocation_code,
        "revocation_message": c.revocation_message,
    }


@dataclass(frozen=True, slots=True)
class DatabasePage:
    database: views.DatabaseView
    boxes: list[BoxCertificates]
    installations: list[SightingRow]
    box_cap: int  # the boxes (keys) it may have: its own cap, else the issuer's --max-boxes

    @property
    def listed(self) -> list[BoxCertificates]:
        """What the page lists: its boxes and the older boxes' shared key, not retired boxes."""
        return [b for b in self.boxes if b.kind != "retired"]

    @property
    def retired(self) -> dict[str, BoxCertificates]:
        """Boxes retired since they got certificates (kept, revoked, as history), by label."""
        return {b.label: b for b in self.boxes if b.kind == "retired"}

    @property
    def full(self) -> bool:
        """A new box would be refused (``box_limit_reached``)."""
        return self.database.row.boxes >= self.box_cap

    def to_json(self) -> dict[str, object]:
        return {
            "database": self.database.to_json(),
            "box_cap": self.box_cap,
            "boxes": [b.to_json() for b in self.boxes],
            "installations": [
                {
                    "fingerprint": s.fingerprint,
                    "first_seen": s.first_seen.isoformat(),
                    "last_seen": s.last_seen.isoformat(),
                    "verdict": s.verdict,
                }
                for s in self.installations
            ],
        }


def database_page(
    session: Session,
    sub_ids: list[int],
    uuid: str,
    grace: timedelta,
    default_cap: int,
    shared_label: str,
) -> DatabasePage:
    """``default_cap``: the issuer's ``--max-boxes``, for a database without a cap of its own;
    ``shared_label``: the database's own label (older boxes without a key of their own).
    Certificates of any other label that is not a box any more are a retired box's."""
    view = views.database_view(session, uuid, grace)
    if view.row.subscription_id not in sub_ids:
        raise NotFound(f"no database {uuid} in your subscriptions")
    known: dict[str, BoxRow] = {b.label: b for b in boxes.boxes_of_database(session, view.uuid)}
    grouped: dict[str, list[StoredCertificate]] = {}
    for cert in certificates.of_database(session, view.uuid):
        grouped.setdefault(cert.holder_label, []).append(cert)
    listed = []
    for label in [*known, *(h for h in grouped if h not in known)]:
        box = known.get(label)
        certs = grouped.get(label, [])
        if box is not None:
            listed.append(
                BoxCertificates(label, box.identifier, box.first_seen, box.last_seen, certs)
            )
        elif label == shared_label:
            listed.append(BoxCertificates(label, SHARED_KEY, None, None, certs, "shared"))
        else:
            listed.append(BoxCertificates(label, RETIRED, None, None, certs, "retired"))
    cap = box_cap(view.row.max_boxes, default_cap)
    return DatabasePage(view, listed, sightings.sightings(session, view.uuid), cap)


def audit_page(
    session: Session,
    sub_ids: list[int],
    db_uuid: str | None,
    grace: timedelta,
    email: str | None = None,
) -> list[AuditRecord]:
    """Entries of the account's databases and subscriptions, and its own logins."""
    uuids = [d.uuid for d in views.database_views(session, grace, sub_ids)]
    if db_uuid is not None:
        if db_uuid not in uuids:
            raise NotFound(f"no database {db_uuid} in your subscriptions")
        return audit.entries(session, db_uuids=[db_uuid], limit=500)
    actors = [f"portal:{email}"] if email else None
    return audit.entries(
        session, db_uuids=uuids, subscription_ids=sub_ids, actors=actors, limit=500
    )


def when(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
