"""Contract codes as keyed hashes: stable per key, different across installations."""

from __future__ import annotations

import pytest

from boxcert.issuer.contract_codes import ContractCodes, hint, new_key, shown


def test_digest_is_keyed_and_stable() -> None:
    one, other = ContractCodes(bytes.fromhex(new_key())), ContractCodes(bytes.fromhex(new_key()))
    assert one.digest("C-123") == one.digest("C-123")
    assert one.digest("C-123") != other.digest("C-123")
    assert one.digest("C-123") != one.digest("c-123")  # codes are compared exactly
    assert len(one.digest("C-123")) == 64 and "C-123" not in one.digest("C-123")


def test_same_compares_digests_and_never_matches_a_missing_one() -> None:
    codes = ContractCodes(b"k" * 32)
    digest = codes.digest("C-1")
    assert ContractCodes.same(digest, digest)
    assert not ContractCodes.same(codes.digest("C-2"), digest)
    assert not ContractCodes.same(digest, None)
    assert not ContractCodes.same("0" * 64, None)  # not even the dummy itself


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("C-7f3a9c2e51", "2e51"),
        ("ABCDEFGH", "EFGH"),
        ("SHORT", ""),
        ("", ""),
    ],
)
def test_hint_shows_little_and_nothing_of_short_codes(code: str, expected: str) -> None:
    assert hint(code) == expected
    assert shown(hint(code)) == (f"…{expected}" if expected else "(hidden)")


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="too short"):
        ContractCodes(b"short")
