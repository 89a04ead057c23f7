"""Eligibility: a pure function of what the database says about a database and subscription.

Order matters and is part of the contract: credentials first (an unknown uuid and a wrong
contract code look the same, and the code's digest is compared in constant time, against a
dummy when the uuid is unknown), then the database kind, a duplicate mark (two installations
reported it), the subscription state, and the IoT Box line. Reasons after the credential
check may be specific, since the caller has proved it knows the contract code.

:func:`entitlement` is the same verdict without the credentials: what the lifecycle job, the
portal and the admin API say about a database.
"""

from __future__ import annotations

from dataclasses import dataclass

from boxcert.issuer.contract_codes import ContractCodes
from boxcert.issuer.models import IOT_BOX_LINE, DatabaseKind, SubscriptionState
from boxcert.wire import RefusalCode

__all__ = ["ELIGIBLE", "DatabaseFacts", "Verdict", "check", "entitlement"]


@dataclass(frozen=True, slots=True)
class DatabaseFacts:
    uuid: str
    kind: str
    subscription_id: int
    code_digest: str  # keyed hash of the subscription's contract code
    subscription_state: str
    subscription_lines: tuple[str, ...]
    duplicate: bool = False  # hubs of two installations reported this uuid
    has_report_key: bool = True  # the subscription's hub report key is stored


@dataclass(frozen=True, slots=True)
class Verdict:
    code: RefusalCode | None
    message: str

    @property
    def eligible(self) -> bool:
        return self.code is None


ELIGIBLE = Verdict(None, "eligible")


def check(facts: DatabaseFacts | None, sent_digest: str, *, code_sent: bool) -> Verdict:
    """The verdict for a database (None: unknown uuid) and the digest of the code sent."""
    code_ok = ContractCodes.same(sent_digest, facts.code_digest if facts is not None else None)
    if facts is None or not code_ok or not code_sent:
        return Verdict(
            RefusalCode.CREDENTIALS_NOT_RECOGNIZED,
            "The database UUID and contract code sent by the box do not match a registered "
            "database. Check both values in the box's configuration.",
        )
    return entitlement(facts)


def entitlement(facts: DatabaseFacts) -> Verdict:
    """Whether a registered database is entitled to certificates, and if not why."""
    if facts.kind != DatabaseKind.PRODUCTION:
        return Verdict(
            RefusalCode.DATABASE_NOT_PRODUCTION,
            f"This database is registered as a {facts.kind} database. Only production "
            "databases receive certificates; connect the box to the production database.",
        )
    if facts.duplicate:
        return Verdict(
            RefusalCode.DATABASE_DUPLICATE,
            "Two installations reported this database UUID within 30 days, so one of them is "
            "a copy. The vendor must confirm which installation is the real one.",
        )
    if facts.subscription_state != SubscriptionState.IN_PROGRESS:
        state = facts.subscription_state.replace("_", " ")
        return Verdict(
            RefusalCode.SUBSCRIPTION_NOT_IN_PROGRESS,
            f"The subscription is {state}; it must be in progress. Contact the database's "
            "account manager or partner.",
        )
    if IOT_BOX_LINE.casefold() not in (line.casefold() for line in facts.subscription_lines):
        return Verdict(
            RefusalCode.NO_IOT_BOX_LINE,
            f'The subscription has no "{IOT_BOX_LINE}" line. Add one to the subscription.',
        )
    return ELIGIBLE
