"""The audit log: every event of the issuer that a person may later ask about, in its database.

"Why did this box get no certificate last Tuesday?" is answered by the entries of its
database: issuances, refusals with their reason, revocations, lapses and restores of the
entitlement, hub reports, duplicate marks, changes made through the admin API or the command
line, portal logins. Each entry has the time, the actor and the database (or subscription).

- :func:`record_of` (pure) turns an :mod:`~boxcert.issuer.events` event into an entry; events
  nobody asks about (a certificate handed out again from the cache, a CA pause) give None.
- :class:`AuditRecorder` subscribes to the bus. Listeners must not block, so it only queues;
  a writer thread stores the queue in batches (what comes within :data:`GATHER`, through
  the database's write gate, :mod:`boxcert.storage.writegate`). Refusals of one kind for one
  holder repeat while a box backs off: a repeat within :data:`REPEAT_WINDOW` is counted, not
  stored, and the next stored one says how many were folded into it.
- :func:`write_now` is for the command line, which records in its own transaction.

No entry holds a secret: events carry none (see :mod:`~boxcert.issuer.events`), and details
are written here from their fields, never from request bodies.
"""

from __future__ import annotations

import enum
import logging
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from boxcert.issuer.events import (
    AdminChanged,
    CertificateIssued,
    CertificateRevoked,
    DuplicateMarked,
    DuplicateResolved,
    EntitlementLapsed,
    EntitlementRestored,
    Event,
    EventBus,
    HubReported,
    PortalLogin,
    RequestRefused,
    Unsubscribe,
)
from boxcert.issuer.store import audit as stored
from boxcert.issuer.store.rows import AuditRecord
from boxcert.storage.writegate import write_gate

log = logging.getLogger(__name__)
REPEAT_WINDOW = timedelta(minutes=10)
BATCH = 500
# How long the writer gathers entries after the first before it writes them: a storm of first
# certificates then costs a few audit transactions a second, not one per certificate, and an
# entry is readable a tenth of a second after its event.
GATHER = 0.1


class AuditKind(enum.StrEnum):
    ISSUED = "issued"
    REFUSED = "refused"
    REVOKED = "revoked"
    LAPSED = "lapsed"
    RESTORED = "restored"
    HUB_REPORT = "hub_report"
    DUPLICATE_MARKED = "duplicate_marked"
    DUPLICATE_RESOLVED = "duplicate_resolved"
    ADMIN_CHANGE = "admin_change"
    PORTAL_LOGIN = "portal_login"
    PORTAL_LOGIN_FAILED = "portal_login_failed"


def record_of(event: Event) -> AuditRecord | None:
    """The audit entry for ``event``; None for events the log does not keep."""
    match event:
        case CertificateIssued():
            what = "renewed" if event.renewal else "issued"
            holder = "box" if event.for_box else "database key"
            return AuditRecord(
                event.at,
                AuditKind.ISSUED,
                "issuer",
                f"{what} {event.names[1]} for a {holder} by CA {event.ca_name}, serial "
                f"{event.serial_hex}, until {event.not_after:%Y-%m-%d}",
                db_uuid=event.db_uuid,
            )
        case RequestRefused():
            holder = f" ({event.holder_label})" if event.holder_label else ""
            return AuditRecord(
                event.at,
                AuditKind.REFUSED,
                "issuer",
                f"refused a request{holder}: {event.message}",
                db_uuid=event.db_uuid,
                code=event.code.value,
            )
        case CertificateRevoked():
            because = f" because {event.cause.value}" if event.cause else ""
            return AuditRecord(
                event.at,
                AuditKind.REVOKED,
                event.actor,
                f"revoked serial {event.serial_hex} ({event.holder_label}) at CA "
                f"{event.ca_name}, reason {event.reason}{because}",
                db_uuid=event.db_uuid,
                code=event.cause.value if event.cause else None,
            )
        case EntitlementLapsed():
            return AuditRecord(
                event.at,
                AuditKind.LAPSED,
                "lifecycle",
                f"no longer entitled: {event.message} Certificates are revoked from "
                f"{event.revoke_after.isoformat(timespec='minutes')} unless it comes back.",
                db_uuid=event.db_uuid,
                code=event.code.value,
            )
        case EntitlementRestored():
            return AuditRecord(
                event.at,
                AuditKind.RESTORED,
                "lifecycle",
                "entitled again (lapsed since "
                f"{event.lapsed_since.isoformat(timespec='minutes')}); boxes get certificates "
                "at their next check",
                db_uuid=event.db_uuid,
            )
        case HubReported():
            first = "first report" if event.first_time else "report"
            return AuditRecord(
                event.at,
                AuditKind.HUB_REPORT,
                f"hub:{event.fingerprint}",
                f"{first} from hub installation {event.fingerprint}",
                db_uuid=event.db_uuid,
            )
        case DuplicateMarked():
            return AuditRecord(
                event.at,
                AuditKind.DUPLICATE_MARKED,
                "issuer",
                "marked duplicate: reported by installations " + ", ".join(event.fingerprints),
                db_uuid=event.db_uuid,
                code="database_duplicate",
            )
        case DuplicateResolved():
            return AuditRecord(
                event.at,
                AuditKind.DUPLICATE_RESOLVED,
                event.actor,
                f"duplicate resolved: kept installation {event.kept}, the others dismissed",
                db_uuid=event.db_uuid,
            )
        case AdminChanged():
            return AuditRecord(
                event.at,
                AuditKind.ADMIN_CHANGE,
                event.actor,
                event.what,
                db_uuid=event.db_uuid,
                subscription_id=event.subscription_id,
            )
        case PortalLogin():
            where = f" from {event.client}" if event.client else ""
            if event.ok:
                return AuditRecord(
                    event.at, AuditKind.PORTAL_LOGIN, f"portal:{event.account}", f"logged in{where}"
                )
            who = f"portal:{event.account}" if event.account else "portal"
            name = "" if event.account else " (unknown name)"
            return AuditRecord(
                event.at, AuditKind.PORTAL_LOGIN_FAILED, who, f"failed login{name}{where}"
            )
    return None


def write_now(session: Session, records: Sequence[AuditRecord]) -> None:
    """Store entries in the caller's transaction (the command line's changes)."""
    stored.add(session, records)


class AuditRecorder:
    """Queues audit entries from the event bus and stores them from a thread of its own."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.gate = write_gate(sessions.kw["bind"])
        self._queue: queue.Queue[AuditRecord | None] = queue.Queue()
        self._repeats: dict[tuple[str | None, str | None, str], tuple[datetime, int]] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="audit", daemon=True)
        self._thread.start()
        self._unsubscribe: Unsubscribe | None = None

    def attach(self, bus: EventBus) -> None:
        self._unsubscribe = bus.subscribe_all(self.record)

    def record(self, event: Event) -> None:
        entry = record_of(event)
        if entry is None:
            return
        if entry.kind == AuditKind.REFUSED:
            entry = self._fold(entry)
            if entry is None:
                return
        self._queue.put(entry)

    def _fold(self, entry: AuditRecord) -> AuditRecord | None:
        key = (entry.db_uuid, entry.code, entry.detail)
        with self._lock:
            last = self._repeats.get(key)
            if last is not None and entry.at - last[0] < REPEAT_WINDOW:
                self._repeats[key] = (last[0], last[1] + 1)
                return None
            self._repeats[key] = (entry.at, 0)
            if len(self._repeats) > 10_000:
                self._repeats.clear()
        if last is not None and last[1]:
            return replace(entry, detail=f"{entry.detail} (and {last[1]} more like it before)")
        return entry

    def _run(self) -> None:
        while True:
            batch = self._gather()
            records = [r for r in batch if r is not None]
            if records:
                try:
                    with self.gate, self.sessions.begin() as session:
                        stored.add(session, records)
                except Exception:
                    log.exception("could not store %d audit entries", len(records))
            for _ in batch:
                self._queue.task_done()
            if None in batch:
                return

    def _gather(self) -> list[AuditRecord | None]:
        """The next batch: what comes within :data:`GATHER` of its first entry, up to
        :data:`BATCH` (ends early at the stop sentinel)."""
        batch = [self._queue.get()]
        deadline = time.monotonic() + GATHER
        while len(batch) < BATCH and batch[-1] is not None:
            try:
                batch.append(self._queue.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                break
        return batch

    def flush(self) -> None:
        """Return once every entry queued so far is stored (tests, shutdown)."""
        self._queue.join()

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=30)
