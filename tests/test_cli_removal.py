"""``boxcert issuer database remove|set-max-boxes``, ``subscription remove``, ``box list|forget``
through the real console entry point (a subprocess, for the exit codes), on an issuer's data
directory whose certificates a real service issued: refusals are one line naming the way out,
changes are audited, nothing secret is printed."""

from __future__ import annotations

import json
from pathlib import Path

from tests.issuer_support import box_key, box_request, make_issuer, names_of
from tests.test_cli_mistakes import EXIT_FAILED, EXIT_USAGE, boxcert, one_line

DB, CODE = "db-cli-gone", "C-CLI-REMOVE-0001"


async def _issued(data: Path) -> list[tuple[str, str]]:
    """Two boxes with certificates; their (label, host name)."""
    issuer = make_issuer(data)
    issuer.register(DB, CODE)
    keys = [box_key(), box_key()]
    for key in keys:
        await issuer.service.handle(box_request(DB, CODE, key))
    issuer.service.close()
    issuer.sessions.kw["bind"].dispose()
    return [(names_of(k)[1].split(".")[0], names_of(k)[1]) for k in keys]


def ok(*args: str) -> str:
    done = boxcert("issuer", *args)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    return done.stdout


async def test_remove_and_forget_from_the_command_line(tmp_path: Path) -> None:
    data = ["--data", str(tmp_path)]
    (first, first_name), (second, _) = await _issued(tmp_path)
    listed = json.loads(ok("box", "list", *data, "--database", DB.upper(), "--json"))
    assert {b["label"] for b in listed} == {first, second}
    assert all(b["database"] == DB and b["serial"] and b["valid_until"] for b in listed)
    table = ok("box", "list", *data)
    assert first in table and CODE not in table and "VALID_UNTIL" in table

    line = one_line(boxcert("issuer", "database", "remove", *data, "--uuid", DB), EXIT_FAILED)
    assert f"database {DB} still has 2 valid certificate(s)" in line
    assert "--revoke" in line and "boxcert issuer revoke --domain " in line

    out = ok("box", "forget", *data, "--box", f"https://192-168-1-9.{first_name}/")
    assert "revoked " in out and f"box {first} of database {DB} forgotten" in out
    out = ok("box", "forget", *data, "--box", second, "--keep-certificate")
    assert "left valid" in out and "revoked" not in out
    assert json.loads(ok("box", "list", *data, "--json")) == []

    assert "box cap 1" in ok("database", "set-max-boxes", *data, "--uuid", DB, "--max", "1")
    (row,) = json.loads(ok("database", "list", *data, "--json"))
    assert row["max_boxes"] == 1 and row["boxes"] == 0
    ok("database", "set-max-boxes", *data, "--uuid", DB, "--max", "none")
    assert "default" in ok("database", "list", *data)

    line = one_line(boxcert("issuer", "subscription", "remove", *data, "--id", "1"), EXIT_FAILED)
    assert f"still covers 1 database(s): {DB}" in line and "--with-databases" in line
    line = one_line(
        boxcert("issuer", "subscription", "remove", *data, "--id", "1", "--with-databases"),
        EXIT_FAILED,
    )
    assert "1 valid certificate(s)" in line and "--revoke" in line  # the kept one
    out = ok("subscription", "remove", *data, "--code", CODE, "--with-databases", "--revoke")
    assert "revoked " in out and f"database {DB} removed" in out
    assert "subscription #1 removed (1 line(s)" in out
    assert json.loads(ok("database", "list", *data, "--json")) == []

    details = [e["detail"] for e in json.loads(ok("audit", *data, "--json"))]
    for expected in (
        f"forgot box {first} of database {DB}",
        f"forgot box {second} of database {DB}",
        f"database {DB}: box cap 1",
        f"removed database {DB} (subscription #1)",
        "removed subscription #1",
    ):
        assert any(d.startswith(expected) for d in details), expected
    assert sum(d.startswith("revoked serial") for d in details) == 2
    assert not any(CODE in d for d in details)


def test_unknown_ids_and_bad_values(tmp_path: Path) -> None:
    data = ["--data", str(tmp_path)]
    for args, expected in (
        (("database", "remove", "--uuid", "No-Such"), "no database no-such"),
        (("database", "set-max-boxes", "--uuid", "nope", "--max", "2"), "no database nope"),
        (("subscription", "remove", "--id", "99"), "no subscription #99"),
        (("subscription", "remove", "--code", "C-NONE"), "no subscription has this"),
        (("box", "forget", "--box", "a" * 16, "--keep-certificate"), f"no box {'a' * 16}"),
        (("box", "list", "--database", "nope"), "no database nope"),
    ):
        assert expected in one_line(boxcert("issuer", *args, *data), EXIT_FAILED)
    for args, option in (
        (("database", "set-max-boxes", "--uuid", "x", "--max", "lots"), "--max"),
        (("database", "set-max-boxes", "--uuid", "x", "--max", "-1"), "--max"),
        (("box", "forget", "--box", "box-1"), "--box"),
        (("subscription", "remove", "--id", "1", "--revoke"), "--with-databases"),
    ):
        assert option in one_line(boxcert("issuer", *args, *data), EXIT_USAGE)
