"""The issuer's admin CLI, on a real SQLite database in a temporary data directory."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import cli


def run(data: Path, *args: str) -> tuple[int, str]:
    group, verb, *rest = args
    return cli("issuer", group, verb, "--data", str(data), *rest)


def test_subscriptions_and_databases(tmp_path: Path) -> None:
    data = tmp_path / "d"
    assert run(data, "subscription", "add", "--code", "C1", "--state", "draft")[0] == 0
    assert run(data, "subscription", "add-line", "--code", "C1", "--line",
               "IoT Box Subscription")[0] == 0
    assert run(data, "subscription", "set-state", "--code", "C1", "--state", "in_progress")[0] == 0
    code, out = run(data, "subscription", "list", "--json")
    assert json.loads(out) == [
        {"code": "C1", "state": "in_progress", "lines": ["IoT Box Subscription"]}
    ]
    assert run(data, "database", "add", "--uuid", "U1", "--kind", "staging",
               "--subscription", "C1")[0] == 0
    assert run(data, "database", "set-kind", "--uuid", "U1", "--kind", "production")[0] == 0
    code, out = run(data, "database", "list", "--json")
    assert json.loads(out) == [
        {"uuid": "U1", "kind": "production", "subscription": "C1", "boxes": 0}
    ]
    code, out = run(data, "database", "list")
    assert code == 0 and "U1" in out and "production" in out


def test_errors_are_clear(tmp_path: Path) -> None:
    data = tmp_path / "d"
    code, out = run(data, "database", "add", "--uuid", "U1", "--subscription", "nope")
    assert code == 1 and "no subscription 'nope'" in out
    run(data, "subscription", "add", "--code", "C1")
    code, out = run(data, "subscription", "add", "--code", "C1")
    assert code == 1 and "already exists" in out
    code, out = run(data, "database", "set-kind", "--uuid", "nope", "--kind", "staging")
    assert code == 1 and "no database" in out
    code, out = run(data, "subscription", "set-state", "--code", "C1", "--state", "bogus")
    assert code == 2 and "bogus" in out
    code, out = cli("issuer", "database", "list", "--data", str(data), "--db", "nosuch://x")
    assert code == 1 and "cannot open database" in out


def test_ca_bundle_prints_root(tmp_path: Path) -> None:
    code, out = cli("issuer", "ca-bundle", "--data", str(tmp_path / "d"))
    assert code == 0 and out.startswith("-----BEGIN CERTIFICATE-----")
    again = cli("issuer", "ca-bundle", "--data", str(tmp_path / "d"))[1]
    assert again == out  # made once, then reused
    assert oct((tmp_path / "d" / "ca" / "intermediate.key").stat().st_mode & 0o777) == "0o600"
