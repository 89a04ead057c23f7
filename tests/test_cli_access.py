"""``boxcert issuer account|token``: secrets shown once and stored hashed, one-line errors."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text

from boxcert import secrets
from tests.helpers import cli


def _data(tmp_path: Path) -> str:
    data = str(tmp_path / "issuer")
    assert (
        cli(
            "issuer",
            "subscription",
            "add",
            "--data",
            data,
            "--code",
            "C-ACCESS-00000001",
            "--line",
            "IoT Box Subscription",
        )[0]
        == 0
    )
    return data


def _rows(data: str, table: str) -> list[tuple[object, ...]]:
    engine = create_engine(f"sqlite:///{data}/issuer.sqlite3")
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(text(f"SELECT * FROM {table}"))]
    engine.dispose()
    return rows


def test_account_add_shows_the_password_once(tmp_path: Path) -> None:
    data = _data(tmp_path)
    status, out = cli(
        "issuer",
        "account",
        "add",
        "--data",
        data,
        "--email",
        "A@Shop.Example",
        "--subscription",
        "C-ACCESS-00000001",
    )
    assert status == 0, out
    assert "account a@shop.example added for subscription(s) #1" in out
    password = out.rsplit(": ", 1)[1].strip()
    [row] = _rows(data, "portal_accounts")
    assert password not in str(row)
    assert secrets.verify_secret(password, str(row[2]))
    status, out = cli(
        "issuer",
        "account",
        "add",
        "--data",
        data,
        "--email",
        "a@shop.example",
        "--subscription-id",
        "1",
    )
    assert status == 0 and "exists" in out and "password" not in out
    status, out = cli(
        "issuer",
        "account",
        "password",
        "--data",
        data,
        "--email",
        "a@shop.example",
        "--password-stdin",
        input="short\n",
    )
    assert status == 1 and "at least 10" in out
    status, out = cli(
        "issuer",
        "account",
        "password",
        "--data",
        data,
        "--email",
        "a@shop.example",
        "--password-stdin",
        input="a-long-enough-one\n",
    )
    assert status == 0 and "a-long-enough-one" not in out
    status, out = cli("issuer", "account", "list", "--data", data)
    assert "a@shop.example  #1" in out


def test_account_mistakes_are_one_line(tmp_path: Path) -> None:
    data = _data(tmp_path)
    for args, says in (
        (["--email", "not-an-address", "--subscription-id", "1"], "not an e-mail"),
        (["--email", "a@b.example"], "give --subscription"),
        (["--email", "a@b.example", "--subscription", "C-NOPE"], "no subscription"),
        (["--email", "a@b.example", "--subscription-id", "9"], "no subscription #9"),
    ):
        status, out = cli("issuer", "account", "add", "--data", data, *args)
        assert status != 0 and says in out and "Traceback" not in out, out


def test_tokens_are_shown_once_and_stored_hashed(tmp_path: Path) -> None:
    data = _data(tmp_path)
    status, out = cli(
        "issuer", "token", "add", "--data", data, "--name", "billing", stdout_only=True
    )
    assert status == 0
    token = out.strip()
    assert token.startswith("bxa1.")
    [row] = _rows(data, "api_tokens")
    assert token.split(".")[2] not in str(row)
    status, out = cli("issuer", "token", "add", "--data", data, "--name", "billing")
    assert status == 1 and "exists" in out
    status, out = cli("issuer", "token", "add", "--data", data, "--name", "bad name!")
    assert status == 2 and "--name" in out
    status, out = cli("issuer", "token", "list", "--data", data)
    assert "billing" in out and "never" in out and token not in out
    assert cli("issuer", "token", "remove", "--data", data, "--name", "billing")[0] == 0
    assert _rows(data, "api_tokens") == []
    status, out = cli("issuer", "token", "remove", "--data", data, "--name", "billing")
    assert status == 1 and "no token" in out
