"""Eligibility as a pure function: no database, no HTTP."""

from __future__ import annotations

import pytest

from boxcert.issuer.contract_codes import ContractCodes
from boxcert.issuer.eligibility import DatabaseFacts, check
from boxcert.wire import RefusalCode

LINE = "IoT Box Subscription"
CODES = ContractCodes(b"k" * 32)


def facts(
    kind: str = "production", state: str = "in_progress", lines: tuple[str, ...] = (LINE,)
) -> DatabaseFacts:
    return DatabaseFacts("u-1", kind, 1, CODES.digest("CODE-1"), state, lines)


@pytest.mark.parametrize(
    ("given", "code", "expected"),
    [
        (facts(), "CODE-1", None),
        (None, "CODE-1", RefusalCode.CREDENTIALS_NOT_RECOGNIZED),
        (facts(), "CODE-2", RefusalCode.CREDENTIALS_NOT_RECOGNIZED),
        (facts(), "code-1", RefusalCode.CREDENTIALS_NOT_RECOGNIZED),
        (facts(), "", RefusalCode.CREDENTIALS_NOT_RECOGNIZED),
        (facts(kind="staging", state="closed"), "wrong", RefusalCode.CREDENTIALS_NOT_RECOGNIZED),
        (facts(kind="duplicate"), "CODE-1", RefusalCode.DATABASE_NOT_PRODUCTION),
        (facts(state="paused"), "CODE-1", RefusalCode.SUBSCRIPTION_NOT_IN_PROGRESS),
        (facts(lines=("Other",)), "CODE-1", RefusalCode.NO_IOT_BOX_LINE),
        (facts(lines=()), "CODE-1", RefusalCode.NO_IOT_BOX_LINE),
        (facts(lines=("iot box subscription",)), "CODE-1", None),
        (
            facts(kind="staging", state="closed", lines=()),
            "CODE-1",
            RefusalCode.DATABASE_NOT_PRODUCTION,
        ),
        (facts(state="closed", lines=()), "CODE-1", RefusalCode.SUBSCRIPTION_NOT_IN_PROGRESS),
    ],
)
def test_check(given: DatabaseFacts | None, code: str, expected: RefusalCode | None) -> None:
    verdict = check(given, CODES.digest(code), code_sent=bool(code))
    assert verdict.code == expected
    assert verdict.eligible is (expected is None)
    assert "CODE-1" not in verdict.message


def test_empty_code_never_matches_even_a_matching_digest() -> None:
    empty = DatabaseFacts("u-1", "production", 1, CODES.digest(""), "in_progress", (LINE,))
    assert check(empty, CODES.digest(""), code_sent=False).code == (
        RefusalCode.CREDENTIALS_NOT_RECOGNIZED
    )


def test_messages_name_the_problem() -> None:
    digest = CODES.digest("CODE-1")
    assert "staging" in check(facts(kind="staging"), digest, code_sent=True).message
    assert "paused" in check(facts(state="paused"), digest, code_sent=True).message
    assert LINE in check(facts(lines=()), digest, code_sent=True).message
