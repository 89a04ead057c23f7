"""Why the issuer refuses a certificate: the codes it sends, and what each means at the box.

The issuer answers a refusal as ``{"result": {"error": {"code", "message"}}}``. The box shows a
known code with the meaning written here (for a shop owner, in our words), and the issuer's
message only as a printable detail; an unknown code is shown as sent, made printable.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class RefusalCode(enum.StrEnum):
    CREDENTIALS_NOT_RECOGNIZED = "credentials_not_recognized"
    DATABASE_NOT_PRODUCTION = "database_not_production"
    DATABASE_DUPLICATE = "database_duplicate"
    SUBSCRIPTION_NOT_IN_PROGRESS = "subscription_not_in_progress"
    NO_IOT_BOX_LINE = "no_iot_box_line"
    BOX_LIMIT_REACHED = "box_limit_reached"
    BOX_OF_ANOTHER_DATABASE = "box_of_another_database"
    CERTIFICATE_REVOKED = "certificate_revoked"
    CA_RATE_LIMITED = "ca_rate_limited"
    CA_FAILED = "ca_failed"


@dataclass(frozen=True, slots=True)
class RefusalMeaning:
    """What a refusal means for the person at the box: a title and what to do."""

    title: str
    remedy: str
    # True when the cause is on the vendor's side and the box retries by itself.
    vendor_side: bool = False


REFUSALS: dict[RefusalCode, RefusalMeaning] = {
    RefusalCode.CREDENTIALS_NOT_RECOGNIZED: RefusalMeaning(
        "Database UUID or contract code not recognized",
        "Check the database UUID and the contract code on the box, or pair the box with its "
        "server again so it receives both.",
    ),
    RefusalCode.DATABASE_NOT_PRODUCTION: RefusalMeaning(
        "Not a production database",
        "Only production databases receive certificates. Connect the box to the production "
        "database, not a copy, staging or development one.",
    ),
    RefusalCode.DATABASE_DUPLICATE: RefusalMeaning(
        "Database used by two installations",
        "The same database UUID is reported by two different servers (a copy that was not "
        "neutralized). Ask the vendor to mark which installation is the real one.",
    ),
    RefusalCode.SUBSCRIPTION_NOT_IN_PROGRESS: RefusalMeaning(
        "Subscription not in progress",
        "The database's subscription must be in progress. Renew or reopen it with your "
        "account manager or partner; the box retries by itself afterwards.",
    ),
    RefusalCode.NO_IOT_BOX_LINE: RefusalMeaning(
        "No IoT Box line on the subscription",
        'Add an "IoT Box Subscription" line to the database\'s subscription; the box retries '
        "by itself afterwards.",
    ),
    RefusalCode.BOX_LIMIT_REACHED: RefusalMeaning(
        "Too many boxes for this database",
        "Retire boxes you no longer use on the database's page in the customer portal, or "
        "ask the vendor to raise the limit.",
    ),
    RefusalCode.BOX_OF_ANOTHER_DATABASE: RefusalMeaning(
        "Box registered to another database",
        "This box's key is registered to another database. Ask the vendor to release it, "
        "or reset the box's key to give it a new identity.",
    ),
    RefusalCode.CERTIFICATE_REVOKED: RefusalMeaning(
        "Certificate withdrawn",
        "The box's certificate was revoked because its entitlement ended. It gets a new one "
        "by itself once the subscription is in order again.",
    ),
    RefusalCode.CA_RATE_LIMITED: RefusalMeaning(
        "Certificate authority busy",
        "The vendor's certificate authority asked to slow down. Nothing to do on the box: it "
        "retries by itself at the time given.",
        vendor_side=True,
    ),
    RefusalCode.CA_FAILED: RefusalMeaning(
        "Certificate authority unavailable",
        "The vendor's certificate authority could not issue the certificate just now. "
        "Nothing to do on the box: it retries by itself; contact support if it lasts a day.",
        vendor_side=True,
    ),
}


def meaning_of(code: str) -> RefusalMeaning | None:
    try:
        return REFUSALS[RefusalCode(code)]
    except ValueError:
        return None
