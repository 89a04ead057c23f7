"""The box password: hashed by boxcert.secrets, stored 0600, a stamp that ends old sessions,
and hashes stored by earlier versions still valid."""

from __future__ import annotations

import stat
from pathlib import Path

from boxcert.box.front.password import ACCOUNT, PasswordFile

# Stored by the box's earlier private stand-in for boxcert.secrets (same format, same cost).
EARLIER = "scrypt$15$8$1$VSb5oYnNHjP_EAt8NB2WXg$ohyhpoCIel_sBowsvlKSieleJbof8MSKZH6lSrH4ev8"


def test_the_first_password_is_announced_once_and_stored_hashed(tmp_path: Path) -> None:
    shown: list[str] = []
    file = PasswordFile(tmp_path / "password")
    file.ensure(shown.append)
    file.ensure(shown.append)
    assert len(shown) == 1 and len(shown[0]) == 20
    stored = (tmp_path / "password").read_text()
    assert stored.startswith("scrypt$15$8$1$") and shown[0] not in stored
    assert stat.S_IMODE((tmp_path / "password").stat().st_mode) == 0o600
    account = file.authenticate("", shown[0])
    assert account is not None and account.id == ACCOUNT
    assert file.authenticate("any name", shown[0]) == account  # one account, any user name


def test_a_change_ends_the_old_password_and_changes_the_stamp(tmp_path: Path) -> None:
    file = PasswordFile(tmp_path / "password")
    file.ensure(lambda _: None)
    stamp = file.stamp(ACCOUNT)
    file.change("another password")
    assert file.stamp(ACCOUNT) not in (None, stamp)
    assert file.authenticate("", "another password") is not None
    assert file.stamp("someone else") is None


def test_a_hash_stored_by_an_earlier_version_still_verifies(tmp_path: Path) -> None:
    (tmp_path / "password").write_text(EARLIER + "\n")
    file = PasswordFile(tmp_path / "password")
    shown: list[str] = []
    file.ensure(shown.append)
    assert shown == []  # the stored hash counts: no new password
    assert file.authenticate("", "the old box password") is not None
    assert file.authenticate("", "the old box passworD") is None


def test_no_or_a_damaged_file_lets_nobody_in(tmp_path: Path) -> None:
    file = PasswordFile(tmp_path / "password")
    assert file.authenticate("", "anything") is None and file.stamp(ACCOUNT) is None
    (tmp_path / "password").write_text("scrypt$99$8$1$AAAA$AAAA\n")
    assert file.authenticate("", "anything") is None
