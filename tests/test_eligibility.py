"""Eligibility as a pure function: no database, no HTTP."""

from __future__ import annotations

import pytest

from boxcert.issuer.eligibility import DatabaseFacts, RefusalCode, check

LINE = "IoT Box Subscription"


def facts(kind: str = "production", state: str = "in_progress",
          lines: tuple[str, ...] = (LINE,)) -> DatabaseFacts:
    return DatabaseFacts("u-1", kind, "CODE-1", state, lines)


@pytest.mark.parametrize(
    ("given", "code", "expected"),
    [
        (facts(), "CODE-1", None),
        (None, "CODE-1", RefusalCode.CREDENTIALS_NOT_RECOGNIZED),
        (facts(), "CODE-2", RefusalCode.CREDENTIALS_NOT_RECOGNIZED),
        (facts(), "", RefusalCode.CREDENTIALS_NOT_RECOGNIZED),
        (facts(kind="staging", state="closed"), "wrong", RefusalCode.CREDENTIALS_NOT_RECOGNIZED),
        (facts(kind="duplicate"), "CODE-1", RefusalCode.DATABASE_NOT_PRODUCTION),
        (facts(state="paused"), "CODE-1", RefusalCode.SUBSCRIPTION_NOT_IN_PROGRESS),
        (facts(lines=("Other",)), "CODE-1", RefusalCode.NO_IOT_BOX_LINE),
        (facts(lines=("iot box subscription",)), "CODE-1", None),
    ],
)
def test_check(given: DatabaseFacts | None, code: str, expected: RefusalCode | None) -> None:
    verdict = check(given, code)
    assert verdict.code == expected
    assert verdict.eligible is (expected is None)
    assert "CODE-1" not in verdict.message


def test_messages_name_the_problem() -> None:
    assert "staging" in check(facts(kind="staging"), "CODE-1").message
    assert "paused" in check(facts(state="paused"), "CODE-1").message
    assert LINE in check(facts(lines=()), "CODE-1").message
