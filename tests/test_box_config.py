"""box/config: every field checked on load, one error naming each bad field."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from boxcert.box.config import (
    BoxConfig,
    check_issuer_url,
    configured,
    load_config,
    parse_config,
    save_config,
    update_config,
)
from boxcert.box.errors import BoxFileError, ConfigError
from boxcert.box.files import BoxPaths

GOOD: dict[str, Any] = {
    "server": "http://192.168.1.10:8069",
    "db_uuid": "9b1c6d3e-0000-4000-8000-000000000001",
    "enterprise_code": "M-1234",
    "issuer": "https://certs.example.com",
    "issuer_ca": "/etc/boxcert/issuer.pem",
    "trust_ca": ["/etc/boxcert/root.pem"],
    "zone": "Iot.Example.COM.",
    "lan_ip": "192.168.1.23",
    "https_port": 8443,
    "identifier": "box-7",
}


def test_a_good_file_loads_normalized() -> None:
    config = parse_config(GOOD)
    assert config.zone == "iot.example.com"
    assert config.trust_ca == ["/etc/boxcert/root.pem"]
    assert config.https_port == 8443


def test_defaults_and_unknown_keys() -> None:
    assert parse_config({}) == BoxConfig()
    assert parse_config({"from_a_newer_version": [1, 2], "zone": "a.b"}) == BoxConfig(zone="a.b")
    assert BoxConfig().zone == ""  # no override: the zone the issuer announces
    assert parse_config({"zone": ""}).zone == ""


BAD: list[tuple[str, object, str]] = [
    ("trust_ca", "/etc/ssl/ca.pem", "must be a list of file paths, not text"),
    ("trust_ca", ["/a.pem", 3], "must be text, not a number"),
    ("zone", 5, "must be text, not a number"),
    ("zone", "a..b", "not a DNS zone"),
    ("zone", "under_score.example", "not a DNS zone"),
    ("zone", "-bad.example", "not a DNS zone"),
    ("https_port", "443", "must be a whole number, not text"),
    ("lan_resolver", "router.lan", "must be an IP address[:port]"),
    ("lan_resolver", "192.168.1.1:99999", "bad port"),
    ("zone_dns", "192.0.2.1", "must be a list of IP[:PORT]"),
    ("zone_dns", ["ns1.example"], "must be an IP address[:port]"),
    ("ntp_server", "[::1", "expected [IPv6]:PORT"),
    ("https_port", 443.0, "must be a whole number, not 443.0"),
    ("https_port", True, "must be a whole number, not true/false"),
    ("https_port", 0, "between 1 and 65535"),
    ("https_port", 70000, "between 1 and 65535"),
    ("server", "ftp://hub", "must be an http(s) URL"),
    ("server", "hub.local", "must be an http(s) URL"),
    ("server", None, "must be text, not null"),
    ("issuer", "http://certs.example.com", "plain http is only allowed to this machine"),
    ("issuer", "certs.example.com", "not an http(s) URL"),
    ("lan_ip", "192.168.1.300", "does not appear to be an IPv4 or IPv6 address"),
    ("db_uuid", {"a": 1}, "must be text, not an object"),
    ("enterprise_code", "code\x1b[2J", "control or invalid characters"),
    ("identifier", "x" * 300, "longer than 256"),
    ("issuer_ca", ["a"], "must be text, not a list"),
]


@pytest.mark.parametrize(
    ("name", "value", "message"), BAD, ids=[f"{n}={v!r}"[:40] for n, v, _ in BAD]
)
def test_a_bad_field_is_named(name: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({**GOOD, name: value})
    assert caught.value.problems.keys() == {name}
    assert caught.value.field == name
    assert message in caught.value.problems[name]
    assert str(caught.value).startswith(f"config.json: {name}: ")


def test_every_bad_field_is_named_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"zone": 5, "trust_ca": "x", "https_port": "443", "server": "ftp://x"})
    assert set(caught.value.problems) == {"zone", "trust_ca", "https_port", "server"}


@pytest.mark.parametrize("text", ["[]", "null", "5", '"text"', "true"])
def test_a_file_that_is_not_an_object_is_refused(tmp_path: Path, text: str) -> None:
    paths = BoxPaths(tmp_path)
    paths.config.write_text(text)
    with pytest.raises(ConfigError, match="must hold a JSON object of settings") as caught:
        load_config(paths)
    assert caught.value.field == ""


@pytest.mark.parametrize("data", [b"{ not json", b"\xff\xfe", b"[" * 60000])
def test_unreadable_json(tmp_path: Path, data: bytes) -> None:
    paths = BoxPaths(tmp_path)
    paths.config.write_bytes(data)
    with pytest.raises(ConfigError, match="is not valid JSON"):
        load_config(paths)


def test_config_file_that_is_a_directory(tmp_path: Path) -> None:
    paths = BoxPaths(tmp_path)
    paths.config.mkdir()
    with pytest.raises(BoxFileError, match="is a directory"):
        load_config(paths)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    paths = BoxPaths(tmp_path / "box")
    config = parse_config(GOOD)
    save_config(paths, config)
    assert load_config(paths) == config
    assert stat.S_IMODE(os.stat(paths.config).st_mode) == 0o600  # holds the contract code


def test_update_repairs_a_damaged_field(tmp_path: Path) -> None:
    paths = BoxPaths(tmp_path)
    paths.config.write_text(json.dumps({"zone": 5, "https_port": "x", "db_uuid": "u"}))
    with pytest.raises(ConfigError) as caught:
        update_config(paths, zone="a.example")  # https_port is still wrong: nothing saved
    assert set(caught.value.problems) == {"https_port"}
    assert json.loads(paths.config.read_text())["zone"] == 5
    config = update_config(paths, zone="a.example", https_port=443)
    assert (config.zone, config.https_port, config.db_uuid) == ("a.example", 443, "u")
    assert load_config(paths) == config


def test_public_view_hides_the_contract_code() -> None:
    view = parse_config(GOOD).public_view()
    assert view["enterprise_code"] == "set"
    assert "M-1234" not in json.dumps(view)
    assert BoxConfig().public_view()["enterprise_code"] == ""


def test_configured_changes_only_what_is_given() -> None:
    config = parse_config(GOOD)
    assert configured(config, zone=None, lan_ip="10.0.0.2").lan_ip == "10.0.0.2"
    assert configured(config, zone=None).zone == config.zone


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://certs.example.com", True),
        ("http://127.0.0.1:8080", True),
        ("http://localhost", True),
        ("http://[::1]:80", True),
        ("http://certs.example.com", False),
        ("http://192.168.1.1", False),
        ("ftp://x", False),
        ("https://", False),
    ],
)
def test_check_issuer_url(url: str, ok: bool) -> None:
    if ok:
        check_issuer_url(url)
    else:
        with pytest.raises(ValueError):
            check_issuer_url(url)
