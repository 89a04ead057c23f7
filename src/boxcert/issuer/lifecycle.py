"""Certificates follow the subscription: the lifecycle job inside ``issuer serve``.

Every ``interval`` the job looks at every database's entitlement (:func:`eligibility.
entitlement`: production, not a duplicate, subscription in progress with an IoT Box line) and
at the lapses it recorded (:mod:`.store.lapses`), and :func:`decide` (pure) says what to do:

============================  =================  ==============================================
entitled now                  lapse recorded      step
============================  =================  ==============================================
yes                           no                 nothing
yes                           yes                RESTORE: drop the lapse (boxes get certificates
                                                 again at their next check)
no                            no                 START: record the lapse, since now
no                            yes, in grace      WAIT (the reason is kept up to date)
no                            yes, grace over    REVOKE every valid certificate of the database
============================  =================  ==============================================

Revocation goes through :meth:`~boxcert.issuer.revocation.Revoker.revoke_certificate` with the
reason ``cessationOfOperation`` and the refusal as its cause, under the holder's issuance lock,
and only while the lapse still stands at that moment: several issuers may run the job at once
and each certificate is revoked once. A CA failure is logged and tried again at the next run.
A lapse is counted from when a job first noticed it, so it may start up to one ``interval``
after the change that caused it.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography import x509
from sqlalchemy.orm import Session, sessionmaker

from boxcert.clock import Clock
from boxcert.issuer import eligibility
from boxcert.issuer.db import run_in_session
from boxcert.issuer.eligibility import DatabaseFacts, Verdict
from boxcert.issuer.errors import IssuerError
from boxcert.issuer.events import EntitlementLapsed, EntitlementRestored, EventBus
from boxcert.issuer.revocation import Cause, Revoker
from boxcert.issuer.store import accounts, certificates, changes, lapses
from boxcert.issuer.store.rows import LapseRow
from boxcert.wire import RefusalCode

log = logging.getLogger(__name__)
DEFAULT_GRACE = timedelta(days=7)
DEFAULT_INTERVAL = 60.0
ACTOR = "lifecycle"


class Step(enum.Enum):
    NOTHING = "nothing"
    START = "start"
    RESTORE = "restore"
    WAIT = "wait"
    REVOKE = "revoke"


def decide(verdict: Verdict, lapse: LapseRow | None, now: datetime, grace: timedelta) -> Step:
    """What the job does for one database (see the table in the module's docstring)."""
    if verdict.eligible:
        return Step.RESTORE if lapse is not None else Step.NOTHING
    if lapse is None:
        return Step.START
    return Step.REVOKE if now >= lapse.since + grace else Step.WAIT


@dataclass
class RunReport:
    started: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)  # serials
    failed: list[str] = field(default_factory=list)  # serials the CA would not revoke now


class LifecycleJob:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        revoker: Revoker,
        events: EventBus,
        clock: Clock,
        *,
        grace: timedelta = DEFAULT_GRACE,
        interval: float = DEFAULT_INTERVAL,
    ) -> None:
        self.sessions = sessions
        self.revoker = revoker
        self.events = events
        self.clock = clock
        self.grace = grace
        self.interval = interval

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; a failed run is logged and the next one comes anyway."""
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("the lifecycle run failed; trying again in %.0f s", self.interval)
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.interval)
            except TimeoutError:
                continue

    async def run_once(self) -> RunReport:
        now = self.clock()

        def scan(session: Session) -> tuple[list[DatabaseFacts], dict[str, LapseRow]]:
            return accounts.all_database_facts(session), lapses.all_lapses(session)

        facts, lapsed = await run_in_session(self.sessions, scan)
        await run_in_session(self.sessions, changes.prune)  # the caches' feed: read by now
        report = RunReport()
        known = {f.uuid for f in facts}
        for gone in set(lapsed) - known:  # a database no longer registered
            await run_in_session(self.sessions, functools.partial(lapses.end, db_uuid=gone))
        for fact in facts:
            verdict = eligibility.entitlement(fact)
            lapse = lapsed.get(fact.uuid)
            step = decide(verdict, lapse, now, self.grace)
            if step is Step.START:
                await self._start(fact.uuid, verdict, now, report)
            elif step is Step.RESTORE:
                await self._restore(fact.uuid, now, report)
            elif step is Step.WAIT:
                assert lapse is not None and verdict.code is not None
                if lapse.code != verdict.code.value:
                    update = functools.partial(
                        lapses.update_reason,
                        db_uuid=fact.uuid,
                        code=verdict.code.value,
                        message=verdict.message,
                    )
                    await run_in_session(self.sessions, update)
            elif step is Step.REVOKE:
                await self._revoke(fact.uuid, verdict, now, report)
        return report

    async def _start(self, db_uuid: str, verdict: Verdict, now: datetime, out: RunReport) -> None:
        assert verdict.code is not None
        code = verdict.code

        def start(session: Session) -> bool:
            return lapses.start(session, db_uuid, now, code.value, verdict.message)

        if await run_in_session(self.sessions, start):
            out.started.append(db_uuid)
            log.info("database %s… no longer entitled (%s)", db_uuid[:8], code.value)
            self.events.publish(
                EntitlementLapsed(now, db_uuid, code, verdict.message, now + self.grace)
            )

    async def _restore(self, db_uuid: str, now: datetime, out: RunReport) -> None:
        ended = await run_in_session(self.sessions, lambda s: lapses.end(s, db_uuid))
        if ended is not None:
            out.restored.append(db_uuid)
            log.info("database %s… entitled again", db_uuid[:8])
            self.events.publish(EntitlementRestored(now, db_uuid, ended.since))

    async def _revoke(self, db_uuid: str, verdict: Verdict, now: datetime, out: RunReport) -> None:
        assert verdict.code is not None
        cause = Cause(RefusalCode(verdict.code), verdict.message)
        valid = await run_in_session(
            self.sessions, lambda s: certificates.unrevoked_of_database(s, db_uuid, now)
        )

        def still_due(session: Session) -> bool:
            # Looked at again under the holder's lock: the entitlement may be back.
            lapse = lapses.get_lapse(session, db_uuid)
            facts = accounts.database_facts(session, db_uuid)
            if lapse is None or facts is None or eligibility.entitlement(facts).eligible:
                return False
            return self.clock() >= lapse.since + self.grace

        for cert in valid:
            if cert.ca_name != self.revoker.ca.name:
                log.warning(
                    "certificate %s of database %s… is from CA backend %s: revoke it there",
                    cert.serial_hex,
                    db_uuid[:8],
                    cert.ca_name,
                )
                continue
            try:
                done = await self.revoker.revoke_certificate(
                    cert,
                    reason=x509.ReasonFlags.cessation_of_operation,
                    cause=cause,
                    actor=ACTOR,
                    still_due=still_due,
                )
            except IssuerError as err:
                log.warning("could not revoke %s now: %s", cert.serial_hex, err)
                out.failed.append(cert.serial_hex)
                continue
            if done:
                out.revoked.append(cert.serial_hex)
