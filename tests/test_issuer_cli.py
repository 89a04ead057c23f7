"""The issuer's admin CLI, on a real SQLite database in a temporary data directory."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.helpers import cli

CODE = "C-7f3a9c2e51"


def run(data: Path, *args: str, input: str | None = None) -> tuple[int, str]:
    group, verb, *rest = args
    return cli("issuer", group, verb, "--data", str(data), *rest, input=input)


def test_subscriptions_and_databases(tmp_path: Path) -> None:
    data = tmp_path / "d"
    code, out = run(data, "subscription", "add", "--code", CODE, "--state", "draft")
    assert code == 0 and out.strip() == "subscription #1 added (draft, 0 line(s), code …2e51)"
    assert (
        run(data, "subscription", "add-line", "--code", CODE, "--line", "IoT Box Subscription")[0]
        == 0
    )
    assert run(data, "subscription", "set-state", "--id", "1", "--state", "in_progress")[0] == 0
    code, out = run(data, "subscription", "list", "--json")
    assert json.loads(out) == [
        {"id": 1, "code_hint": "2e51", "state": "in_progress", "lines": ["IoT Box Subscription"]}
    ]
    code, out = run(
        data, "database", "add", "--uuid", "U1", "--kind", "staging", "--subscription", CODE
    )
    assert code == 0 and out.strip() == "database u1 added (staging, subscription #1)"
    assert run(data, "database", "set-kind", "--uuid", "u1", "--kind", "production")[0] == 0
    code, out = run(data, "database", "list", "--json")
    assert json.loads(out) == [
        {"uuid": "u1", "kind": "production", "subscription_id": 1, "boxes": 0, "max_boxes": None}
    ]
    code, out = run(data, "database", "list")
    assert code == 0 and "u1" in out and "production" in out


def test_contract_codes_are_never_printed_nor_stored(tmp_path: Path) -> None:
    data = tmp_path / "d"
    outputs = [
        run(data, "subscription", "add", "--code", CODE, "--line", "IoT Box Subscription")[1],
        run(data, "database", "add", "--uuid", "U1", "--subscription", CODE)[1],
        run(data, "database", "add", "--uuid", "U2", "--subscription-id", "1")[1],
        run(data, "subscription", "list")[1],
        run(data, "subscription", "list", "--json")[1],
        run(data, "database", "list")[1],
        run(data, "subscription", "add", "--code", CODE)[1],  # a duplicate: refused
    ]
    for out in outputs:
        assert CODE not in out
    assert "already exists" in outputs[-1]
    raw = (data / "issuer.sqlite3").read_bytes()
    for side in data.glob("issuer.sqlite3-*"):
        raw += side.read_bytes()
    assert CODE.encode() not in raw


def test_code_can_be_typed_at_a_hidden_prompt(tmp_path: Path) -> None:
    data = tmp_path / "d"
    code, out = run(
        data, "subscription", "add", "--line", "IoT Box Subscription", input=CODE + "\n"
    )
    assert code == 0 and "subscription #1 added" in out
    assert run(data, "database", "add", "--uuid", "U1", "--subscription", CODE)[0] == 0


def test_case_variants_of_a_uuid_are_one_database(tmp_path: Path) -> None:
    data = tmp_path / "d"
    run(data, "subscription", "add", "--code", CODE)
    uuid = "5C1D2E3F-0000-4000-8000-00000000ABCD"
    assert run(data, "database", "add", "--uuid", uuid, "--subscription", CODE)[0] == 0
    for variant in (uuid.lower(), f" {uuid} ", uuid.lower().replace("c", "C")):
        code, out = run(data, "database", "add", "--uuid", variant, "--subscription", CODE)
        assert code == 1 and "already exists" in out, variant
    with sqlite3.connect(data / "issuer.sqlite3") as conn:
        assert conn.execute("SELECT uuid FROM databases").fetchall() == [(uuid.lower(),)]


def test_errors_are_clear(tmp_path: Path) -> None:
    data = tmp_path / "d"
    code, out = run(data, "database", "add", "--uuid", "U1", "--subscription", "nope")
    assert code == 1 and "no subscription has this contract code" in out
    code, out = run(data, "database", "add", "--uuid", "U1", "--subscription-id", "7")
    assert code == 1 and "no subscription #7" in out
    code, out = run(data, "database", "add", "--uuid", "U1")
    assert code == 2 and "--code or its --id" in out
    run(data, "subscription", "add", "--code", "C1")
    code, out = run(data, "subscription", "add", "--code", "C1")
    assert code == 1 and "already exists" in out
    code, out = run(data, "subscription", "add", "--code", "bad\tcode")
    assert code == 1 and "printable" in out
    code, out = run(data, "database", "add", "--uuid", "a\x01b", "--subscription", "C1")
    assert code == 1 and "printable" in out
    code, out = run(data, "database", "set-kind", "--uuid", "nope", "--kind", "staging")
    assert code == 1 and "no database" in out
    code, out = run(data, "subscription", "set-state", "--code", "C1", "--state", "bogus")
    assert code == 2 and "bogus" in out
    code, out = run(
        data, "subscription", "set-state", "--code", "C1", "--id", "1", "--state", "closed"
    )
    assert code == 2 and "one of them" in out
    code, out = cli("issuer", "database", "list", "--data", str(data), "--db", "nosuch://x")
    assert code == 1 and "cannot open database" in out


def test_ca_bundle_prints_root_and_never_makes_a_ca(tmp_path: Path) -> None:
    from boxcert.issuer.ca.local import LocalCA

    code, out = cli("issuer", "ca-bundle", "--data", str(tmp_path / "typo"))
    assert code == 1 and "there is no local CA in" in out and "is --data right?" in out
    assert not (tmp_path / "typo").exists()
    ca = LocalCA(tmp_path / "d" / "ca", "iot.boxcert.test")  # what `issuer serve` makes
    code, out = cli("issuer", "ca-bundle", "--data", str(tmp_path / "d"))
    assert code == 0 and out == ca.root_pem
    assert oct((tmp_path / "d" / "ca" / "intermediate.key").stat().st_mode & 0o777) == "0o600"


def test_revoke_never_makes_a_ca_or_a_database(tmp_path: Path) -> None:
    code, out = cli("issuer", "revoke", "--data", str(tmp_path / "typo"), "--domain", "x.test")
    assert code == 1 and "there is no issuer data in" in out
    assert not (tmp_path / "typo").exists()


def test_a_ca_made_for_another_zone_is_refused(tmp_path: Path) -> None:
    import pytest

    from boxcert.issuer.ca.local import LocalCA
    from boxcert.issuer.errors import CertificateAuthorityError

    LocalCA(tmp_path / "ca", "iot.old.example")
    LocalCA(tmp_path / "ca", "sub.iot.old.example")  # inside the constraint: fine
    with pytest.raises(CertificateAuthorityError, match=r"may only issue under iot\.old\.example"):
        LocalCA(tmp_path / "ca", "iot.new.example")


def test_rfc2136_store_options_are_checked(tmp_path: Path) -> None:
    base = [
        "issuer",
        "serve",
        "--data",
        str(tmp_path / "d"),
        "--ca",
        "acme",
        "--acme-directory",
        "https://127.0.0.1:1/dir",
        "--txt-store",
        "rfc2136",
    ]
    code, out = cli(*base)
    assert code == 2 and "needs --txt-server HOST:PORT and --tsig-key" in out
    key = tmp_path / "k.key"
    key.write_text('key "k" { algorithm hmac-md5; secret "AAAAAAAAAAAAAAAAAAAAAA=="; };')
    code, out = cli(*base, "--txt-server", "127.0.0.1:53", "--tsig-key", str(key))
    assert code == 2 and "--tsig-key" in out and "not one of" in out
