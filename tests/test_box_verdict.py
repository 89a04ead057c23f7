"""box/verdict.inspect against a table: every reason, the order between them, no I/O."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from cryptography import x509

from boxcert import pki
from boxcert.box.verdict import Reason, inspect
from tests.box_support import T0, names_of, self_signed
from tests.helpers import LocalTestCA

DAY = timedelta(days=1)
CA = LocalTestCA.create()
KEY = pki.make_ec_key()
NAMES = names_of(KEY)

Case = Callable[[], tuple[list[x509.Certificate] | None, pki.PrivateKey | None]]


def issued(
    key: pki.PrivateKey = KEY, names: tuple[str, ...] = NAMES, age: float = 10, lifetime: float = 90
) -> list[x509.Certificate]:
    start = T0 - age * DAY
    return [CA.leaf(key.public_key(), names, not_before=start, not_after=start + lifetime * DAY)]


TABLE: list[tuple[str, Case, Reason]] = [
    ("no certificate", lambda: (None, KEY), Reason.NO_CERTIFICATE),
    ("empty chain", lambda: ([], KEY), Reason.NO_CERTIFICATE),
    ("no key", lambda: (issued(), None), Reason.NO_KEY),
    ("self-signed placeholder", lambda: ([self_signed(KEY, NAMES)], KEY), Reason.PLACEHOLDER),
    # a placeholder of another key is still a placeholder: it is the first thing to say
    (
        "placeholder of another key",
        lambda: ([self_signed(pki.make_ec_key(), NAMES)], KEY),
        Reason.PLACEHOLDER,
    ),
    ("wrong key", lambda: (issued(key=pki.make_ec_key()), KEY), Reason.WRONG_KEY),
    ("wrong names", lambda: (issued(names=("*.x.example", "x.example")), KEY), Reason.WRONG_NAMES),
    ("one name missing", lambda: (issued(names=NAMES[1:]), KEY), Reason.WRONG_NAMES),
    (
        "one name too many",
        lambda: (issued(names=(*NAMES, "extra.example")), KEY),
        Reason.WRONG_NAMES,
    ),
    ("expired", lambda: (issued(age=100), KEY), Reason.EXPIRED),
    ("not yet valid", lambda: (issued(age=-2), KEY), Reason.NOT_YET_VALID),
    ("in the last third", lambda: (issued(age=61), KEY), Reason.DUE),
    ("emergency", lambda: (issued(age=85), KEY), Reason.DUE),
    ("valid", lambda: (issued(age=10), KEY), Reason.VALID),
    ("valid, names in the other order", lambda: (issued(names=NAMES[::-1]), KEY), Reason.VALID),
    (
        "valid a minute before its start (clock skew)",
        lambda: (issued(age=-1 / 1440), KEY),
        Reason.VALID,
    ),
]


@pytest.mark.parametrize(
    ("case", "reason"), [(c, r) for _, c, r in TABLE], ids=[name for name, _, _ in TABLE]
)
def test_inspect(case: Case, reason: Reason) -> None:
    chain, key = case()
    verdict = inspect(chain, key, NAMES if key is not None else None, T0)
    assert verdict.reason is reason
    assert verdict.ok is (reason is Reason.VALID)
    assert verdict.detail  # every reason explains itself


def test_valid_and_due_say_when() -> None:
    valid = inspect(issued(age=10), KEY, NAMES, T0)
    start = T0 - 10 * DAY
    assert valid.renew_at == start + 60 * DAY
    assert valid.not_after == start + 90 * DAY
    assert valid.detail == (
        f"Valid until {start + 90 * DAY:%Y-%m-%d}; renewal from {start + 60 * DAY:%Y-%m-%d}."
    )
    due = inspect(issued(age=61), KEY, NAMES, T0)
    assert due.renew_at is not None and due.renew_at <= T0
    assert due.detail == "The certificate is in its renewal window."


def test_the_details_of_the_four_refresh_branches() -> None:
    """The texts users have seen since the first version stay as they were."""
    other = pki.make_ec_key()
    cases = {
        "The certificate has no key on this box.": (issued(), None),
        "The installed certificate is a self-signed placeholder.": ([self_signed(KEY, NAMES)], KEY),
        "The installed certificate does not match the box's key.": (issued(key=other), KEY),
        "The installed certificate is not for this box's names.": (
            issued(names=("a.example",)),
            KEY,
        ),
    }
    for detail, (chain, key) in cases.items():
        assert inspect(chain, key, NAMES if key else None, T0).detail == detail


def test_inspect_reads_nothing_but_its_arguments() -> None:
    """Same inputs, same verdict, whatever the real time is."""
    chain = issued(age=10)
    assert inspect(chain, KEY, NAMES, T0) == inspect(chain, KEY, NAMES, T0)
    assert inspect(chain, KEY, NAMES, T0 + 200 * DAY).reason is Reason.EXPIRED
