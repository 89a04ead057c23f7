"""Is the installed pair good for now? A pure function of (chain, key, names, clock reading).

:func:`inspect` reads no file, no clock and no network: the agent hands it what it loaded, so
every branch is tested against a table. The order of the checks is the order of the reasons
below: the first that applies wins.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509

from boxcert import pki, renewal


class Reason(enum.StrEnum):
    VALID = "valid"
    NO_CERTIFICATE = "no_certificate"
    NO_KEY = "no_key"  # a certificate, but the box has no key for it
    PLACEHOLDER = "placeholder"  # a self-signed certificate (shipped before the first one)
    WRONG_KEY = "wrong_key"
    WRONG_NAMES = "wrong_names"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    DUE = "due"  # in its renewal window (last third, the CA's window, or an emergency)


DETAILS: dict[Reason, str] = {
    Reason.NO_CERTIFICATE: "No certificate is installed yet.",
    Reason.NO_KEY: "The certificate has no key on this box.",
    Reason.PLACEHOLDER: "The installed certificate is a self-signed placeholder.",
    Reason.WRONG_KEY: "The installed certificate does not match the box's key.",
    Reason.WRONG_NAMES: "The installed certificate is not for this box's names.",
    Reason.EXPIRED: "The certificate has expired.",
    Reason.NOT_YET_VALID: "The certificate is not valid yet (check the clock).",
    Reason.DUE: "The certificate is in its renewal window.",
}


@dataclass(frozen=True, slots=True)
class Verdict:
    reason: Reason
    # When the certificate becomes due and when it ends; set when it is valid or due.
    renew_at: datetime | None = None
    not_after: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.reason is Reason.VALID

    @property
    def detail(self) -> str:
        if self.reason is Reason.VALID and self.renew_at and self.not_after:
            return f"Valid until {self.not_after:%Y-%m-%d}; renewal from {self.renew_at:%Y-%m-%d}."
        return DETAILS.get(self.reason, "The certificate is valid.")


def inspect(
    chain: Sequence[x509.Certificate] | None,
    key: pki.PrivateKey | None,
    names: Sequence[str] | None,
    now: datetime,
) -> Verdict:
    """The verdict on ``chain`` (leaf first, fully parsed) served with ``key`` under ``names``.

    ``names`` are the names the box's certificate must carry, exactly (order does not matter);
    None only when there is no key.
    """
    if not chain:
        return Verdict(Reason.NO_CERTIFICATE)
    leaf = chain[0]
    if key is None or names is None:
        return Verdict(Reason.NO_KEY)
    if pki.is_self_signed(leaf):
        return Verdict(Reason.PLACEHOLDER)
    if not pki.same_public_key(leaf.public_key(), key.public_key()):
        return Verdict(Reason.WRONG_KEY)
    if set(pki.dns_names(leaf)) != set(names):
        return Verdict(Reason.WRONG_NAMES)
    decision = renewal.renewal_decision(leaf.not_valid_before_utc, leaf.not_valid_after_utc, now)
    if decision.reason is renewal.Reason.EXPIRED:
        return Verdict(Reason.EXPIRED)
    if decision.reason is renewal.Reason.NOT_YET_VALID:
        return Verdict(Reason.NOT_YET_VALID)
    reason = Reason.DUE if decision.due else Reason.VALID
    return Verdict(reason, decision.renew_at, leaf.not_valid_after_utc)
