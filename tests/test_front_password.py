"""The box password: scrypt hashes in boxcert.secrets' format, never raising on damage."""

from __future__ import annotations

from pathlib import Path

import pytest

from boxcert.box.front.password import (
    PasswordFile,
    hash_password,
    new_password,
    verify_password,
)


def test_hash_and_verify() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("scrypt$15$8$1$") and "correct" not in stored
    assert verify_password("correct horse", stored)
    assert not verify_password("correct horsE", stored)
    assert hash_password("correct horse") != stored  # salted


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "plain",
        "scrypt$15$8$1$",
        "scrypt$99$8$1$AAAA$AAAA",
        "scrypt$x$8$1$AA$AA",
        "argon2$1$2$3$4$5",
        "scrypt$4$8$1$!!!$@@@",
    ],
)
def test_damaged_values_do_not_verify(stored: str) -> None:
    assert verify_password("anything", stored) is False


def test_absurd_inputs_do_not_verify() -> None:
    stored = hash_password("x" * 10)
    assert not verify_password("", stored)
    assert not verify_password("x" * 2000, stored)


def test_password_file(tmp_path: Path) -> None:
    shown: list[str] = []
    file = PasswordFile(tmp_path / "password")
    file.ensure(shown.append)
    file.ensure(shown.append)
    assert len(shown) == 1 and file.check(shown[0])
    stamp = file.stamp
    file.change("another password")
    assert file.stamp != stamp and file.check("another password") and not file.check(shown[0])
    assert shown[0] not in (tmp_path / "password").read_text()


def test_new_passwords_avoid_look_alikes() -> None:
    for _ in range(50):
        password = new_password()
        assert len(password) == 20 and not set(password) & set("0O1lI")
