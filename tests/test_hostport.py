from __future__ import annotations

import pytest

from boxcert.hostport import parse_host_port, resolve_host_port


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:53", ("127.0.0.1", 53)),
        ("[::1]:5353", ("::1", 5353)),
        ("ns1.example.net:53", ("ns1.example.net", 53)),
        ("localhost:0", ("localhost", 0)),
    ],
)
def test_parse(text: str, expected: tuple[str, int]) -> None:
    assert parse_host_port(text) == expected


def test_default_port() -> None:
    assert parse_host_port("ns1.example.net", 53) == ("ns1.example.net", 53)
    assert parse_host_port("[fd00::1]", 53) == ("fd00::1", 53)


@pytest.mark.parametrize(
    "text", ["", ":53", "host:x", "host:70000", "[::1", "[::1]x", "::1", "::1:5353"]
)
def test_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_host_port(text)


def test_resolve_names_once() -> None:
    assert resolve_host_port("localhost:53")[0] in ("127.0.0.1", "::1")
    assert resolve_host_port("127.0.0.2:53") == ("127.0.0.2", 53)
    with pytest.raises(ValueError, match="cannot resolve"):
        resolve_host_port("no-such-host.invalid:53")
