"""Duplicate databases: one database UUID reported by two hub installations.

A hub reports its database UUID and its installation's fingerprint at start and daily,
signed with a key derived from the contract code (:mod:`boxcert.wire.hubreport`). Policy
(:func:`duplicate_fingerprints`, pure): the installations that reported a UUID within
:data:`WINDOW` and that the vendor did not set aside; two or more of them mean one is a copy,
and the database is marked duplicate — no certificates (``database_duplicate``), and the
lifecycle revokes after the grace period — until the vendor keeps one
(``boxcert issuer database resolve-duplicate --uuid U --keep FINGERPRINT``), which dismisses
the others: their later reports are accepted but no longer count.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from boxcert.clock import Clock
from boxcert.issuer.contract_codes import ContractCodes
from boxcert.issuer.db import run_in_session
from boxcert.issuer.errors import IssuerError
from boxcert.issuer.events import DuplicateMarked, DuplicateResolved, EventBus, HubReported
from boxcert.issuer.models import SightingVerdict
from boxcert.issuer.store import accounts, sightings
from boxcert.issuer.store.rows import SightingRow
from boxcert.wire.hubreport import MAX_SKEW, HubReport, HubReportAnswer

WINDOW = timedelta(days=30)


class ReportRefused(IssuerError):
    """A hub report that is not accepted; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def duplicate_fingerprints(seen: Sequence[SightingRow], now: datetime) -> tuple[str, ...]:
    """The installations that make a database a duplicate (empty when it is not one)."""
    active = tuple(
        s.fingerprint
        for s in seen
        if s.verdict != SightingVerdict.DISMISSED and now - s.last_seen <= WINDOW
    )
    return active if len(active) >= 2 else ()


def resolve(session: Session, db_uuid: str, keep: str) -> None:
    """Keep installation ``keep`` of ``db_uuid`` and clear the duplicate mark (the caller's
    transaction; the caller announces or records it)."""
    sightings.resolve(session, db_uuid, keep)
    accounts.clear_duplicate(session, db_uuid)


class HubReports:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        codes: ContractCodes,
        events: EventBus,
        clock: Clock,
    ) -> None:
        self.sessions = sessions
        self.codes = codes
        self.events = events
        self.clock = clock

    async def report(self, report: HubReport) -> HubReportAnswer:
        now = self.clock()
        if abs(report.reported - now) > MAX_SKEW:
            raise ReportRefused(
                400,
                f"the report's time is more than {int(MAX_SKEW.total_seconds() // 60)} minutes "
                "away from the issuer's clock; check the hub's clock",
            )

        def run(session: Session) -> tuple[bool, tuple[str, ...], bool]:
            found = accounts.report_key_of(session, report.db_uuid)
            key = None
            if found is not None and found[1] is not None:
                key = self.codes.open_report_key(found[0], found[1])
            if key is None or not report.verify(key):
                raise ReportRefused(
                    403,
                    "the database UUID is unknown to the issuer or the report is not signed "
                    "with its contract code",
                )
            accepted, first = sightings.record(
                session, report.db_uuid, report.fingerprint, now, report.reported
            )
            if not accepted:
                raise ReportRefused(409, "a report from this installation at that time was seen")
            marked: tuple[str, ...] = ()
            fingerprints = duplicate_fingerprints(sightings.sightings(session, report.db_uuid), now)
            if fingerprints and accounts.mark_duplicate(session, report.db_uuid, now):
                marked = fingerprints
            duplicate = accounts.get_database(session, report.db_uuid).duplicate_since is not None
            return first, marked, duplicate

        first, marked, duplicate = await run_in_session(self.sessions, run)
        self.events.publish(HubReported(now, report.db_uuid, report.fingerprint, first))
        if marked:
            self.events.publish(DuplicateMarked(now, report.db_uuid, marked))
        return HubReportAnswer(accepted=True, duplicate=duplicate)

    async def resolve(self, db_uuid: str, keep: str, actor: str) -> None:
        await run_in_session(self.sessions, lambda s: resolve(s, db_uuid, keep))
        self.events.publish(DuplicateResolved(self.clock(), db_uuid, keep, actor))
