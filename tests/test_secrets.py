"""Stored secrets: salted scrypt with its parameters, constant-time checks, damaged values."""

from __future__ import annotations

import pytest

from boxcert import secrets
from boxcert.secrets import PASSWORD_COST, TOKEN_COST, ScryptCost


def test_a_hash_verifies_its_secret_and_nothing_else() -> None:
    stored = secrets.hash_secret("correct horse battery staple")
    assert secrets.verify_secret("correct horse battery staple", stored)
    assert not secrets.verify_secret("correct horse battery stapl", stored)
    assert not secrets.verify_secret("", stored)
    assert "correct" not in stored


def test_the_cost_travels_with_the_hash() -> None:
    stored = secrets.hash_secret("s", TOKEN_COST)
    scheme, log2_n, r, p, _salt, _digest = stored.split("$")
    assert (scheme, int(log2_n), int(r), int(p)) == ("scrypt", 10, 8, 1)
    assert secrets.verify_secret("s", stored)
    assert secrets.needs_rehash(stored, PASSWORD_COST)
    assert not secrets.needs_rehash(stored, TOKEN_COST)
    assert secrets.hash_secret("s").split("$")[1] == str(PASSWORD_COST.log2_n)


def test_each_hash_has_its_own_salt() -> None:
    first, second = secrets.hash_secret("same", TOKEN_COST), secrets.hash_secret("same", TOKEN_COST)
    assert first != second
    assert secrets.verify_secret("same", first) and secrets.verify_secret("same", second)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "plain text",
        "scrypt$10$8$1$salt",  # a part missing
        "bcrypt$10$8$1$c2FsdA$ZGlnZXN0",  # another scheme
        "scrypt$x$8$1$c2FsdA$ZGlnZXN0",  # not a number
        "scrypt$40$8$1$c2FsdA$ZGlnZXN0",  # a cost no one of ours asks (and a memory bomb)
        "scrypt$10$8$1$c2FsdA$ZGlnZXN0!",  # not base64
        "scrypt$0$8$1$c2FsdA$ZGlnZXN0",
    ],
)
def test_damaged_stored_values_never_verify_nor_raise(stored: str) -> None:
    assert not secrets.verify_secret("anything", stored)
    assert secrets.needs_rehash(stored)


def test_overlong_secrets_are_refused_before_hashing() -> None:
    with pytest.raises(ValueError, match="longer than"):
        secrets.hash_secret("x" * (secrets.MAX_SECRET_CHARS + 1))
    stored = secrets.hash_secret("x", TOKEN_COST)
    assert not secrets.verify_secret("x" * (secrets.MAX_SECRET_CHARS + 1), stored)


def test_burn_time_verifies_nothing() -> None:
    secrets.burn_time(TOKEN_COST)  # returns, whatever the dummy is


def test_tokens_and_passwords() -> None:
    tokens = {secrets.new_token() for _ in range(50)}
    assert len(tokens) == 50 and all(len(t) == 43 for t in tokens)
    password = secrets.new_password()
    assert len(password) == 20 and not set(password) & set("0O1lI")


def test_same_is_equality() -> None:
    assert secrets.same("abc", "abc")
    assert not secrets.same("abc", "abd")
    assert not secrets.same("abc", "abcd")
    assert secrets.same("é", "é")


def test_cost_memory_bound_fits_the_parameters() -> None:
    cost = ScryptCost(log2_n=14, r=8)
    assert cost.maxmem > 128 * cost.r * (1 << cost.log2_n)
