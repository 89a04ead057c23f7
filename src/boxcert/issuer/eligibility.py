"""Eligibility: a pure function of what the database says about a database and subscription.

Order matters and is part of the contract: credentials first (an unknown uuid and a wrong
contract code look the same, and the code is compared in constant time), then the database
kind, the subscription state, and the IoT Box line. Reasons after the credential check may be
specific, since the caller has proved it knows the contract code.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from boxcert.issuer.models import IOT_BOX_LINE, DatabaseKind, SubscriptionState
from boxcert.wire import RefusalCode

__all__ = ["ELIGIBLE", "DatabaseFacts", "RefusalCode", "Verdict", "check"]


@dataclass(frozen=True, slots=True)
class DatabaseFacts:
    uuid: str
    kind: str
    subscription_code: str
    subscription_state: str
    subscription_lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Verdict:
    code: RefusalCode | None
    message: str

    @property
    def eligible(self) -> bool:
        return self.code is None


ELIGIBLE = Verdict(None, "eligible")
_DUMMY_CODE = "x" * 32


def check(facts: DatabaseFacts | None, enterprise_code: str) -> Verdict:
    expected = facts.subscription_code if facts is not None else _DUMMY_CODE
    code_ok = hmac.compare_digest(enterprise_code.encode("utf-8"), expected.encode("utf-8"))
    if facts is None or not code_ok or not enterprise_code:
        return Verdict(
            RefusalCode.CREDENTIALS_NOT_RECOGNIZED,
            "The database UUID and contract code sent by the box do not match a registered "
            "database. Check both values in the box's configuration.",
        )
    if facts.kind != DatabaseKind.PRODUCTION:
        return Verdict(
            RefusalCode.DATABASE_NOT_PRODUCTION,
            f"This database is registered as a {facts.kind} database. Only production "
            "databases receive certificates; connect the box to the production database.",
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
