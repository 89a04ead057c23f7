"""``boxcert hub …`` verbs on a real data directory; mistakes are one line, never a traceback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from boxcert import devstack
from boxcert.hub.cli import parse_duration
from boxcert.hub.server import open_service
from tests.helpers import cli
from tests.web_running import serve_app

UUID = "6F2B8E0A-1C4D-4E5F-9A7B-0123456789AB"
CODE = "C-secret-contract-code"


def hub(data: Path, verb: str, *args: str, input: str | None = None) -> tuple[int, str]:
    return cli("hub", verb, "--data", str(data), *args, input=input)


@pytest.fixture(scope="module")
def issuer_info(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An HTTPS endpoint answering ``GET /iot/info`` as the issuer will: (url, its CA)."""
    ca, cert, key = devstack.tls_files(tmp_path_factory.mktemp("tls"))
    answers = {"/good": {"zone": "IoT.Example.", "api_version": 1}, "/bad": {"zone": "-bad-"}}

    async def info(request: Request) -> Response:
        prefix = request.path_params["prefix"]
        if prefix == "text":
            return PlainTextResponse("hello")
        return JSONResponse(answers.get("/" + prefix, {}))

    app = Starlette(routes=[Route("/{prefix}/iot/info", info)])
    with serve_app(app, tls=(cert, key)) as url:
        yield url, ca


def test_configure_reads_the_zone_from_the_issuer(
    tmp_path: Path, issuer_info: tuple[str, Path]
) -> None:
    url, ca = issuer_info
    code, out = hub(
        tmp_path,
        "configure",
        "--db-uuid",
        UUID,
        "--enterprise-code",
        CODE,
        "--issuer",
        url + "/good",
        "--issuer-ca",
        str(ca),
    )
    assert code == 0, out
    assert "zone iot.example (announced by the issuer)" in out
    assert "database 6f2b8e0a-1c4d-4e5f-9a7b-0123456789ab" in out  # canonical form
    assert CODE not in out
    config = open_service(tmp_path, None).config()
    assert config is not None and (config.zone, config.enterprise_code) == ("iot.example", CODE)


def test_configure_checks_the_issuers_answer(tmp_path: Path, issuer_info: tuple[str, Path]) -> None:
    url, ca = issuer_info
    base = ("--db-uuid", UUID, "--enterprise-code", CODE, "--issuer-ca", str(ca))
    code, out = hub(tmp_path, "configure", *base, "--issuer", url + "/good", "--zone", "other.z")
    assert code == 1 and "announces the zone iot.example, not other.z" in out
    code, out = hub(tmp_path, "configure", *base, "--issuer", url + "/bad")
    assert code == 1 and "invalid zone" in out
    code, out = hub(tmp_path, "configure", *base, "--issuer", url + "/text")
    assert code == 1 and "did not answer JSON" in out
    # Without --issuer-ca the test CA is not trusted: TLS is always verified.
    code, out = hub(
        tmp_path,
        "configure",
        "--db-uuid",
        UUID,
        "--enterprise-code",
        CODE,
        "--issuer",
        url + "/good",
    )
    assert code == 1 and "CERTIFICATE_VERIFY_FAILED" in out and "Traceback" not in out


def test_configure_falls_back_to_zone_and_updates_piecewise(tmp_path: Path) -> None:
    issuer = f"http://127.0.0.1:{devstack.free_port()}"  # nothing listens there
    code, out = hub(
        tmp_path, "configure", "--db-uuid", UUID, "--enterprise-code", CODE, "--issuer", issuer
    )
    assert code == 1 and "give --zone" in out
    code, out = hub(
        tmp_path,
        "configure",
        "--db-uuid",
        UUID,
        "--enterprise-code",
        "-",
        "--issuer",
        issuer,
        "--zone",
        "iot.example",
        input=CODE + "\n",
    )
    assert code == 0 and "zone iot.example (given with --zone)" in out
    code, out = hub(tmp_path, "configure", "--zone", "iot2.example")
    assert code == 0 and f"issuer {issuer}" in out
    config = open_service(tmp_path, None).config()
    assert config is not None and (config.enterprise_code, config.zone) == (CODE, "iot2.example")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--db-uuid", UUID), "missing --enterprise-code, --issuer"),
        (
            ("--db-uuid", UUID, "--enterprise-code", CODE, "--issuer", "http://issuer.example"),
            "https://",
        ),
        (
            ("--db-uuid", UUID, "--enterprise-code", CODE, "--issuer", "issuer.example"),
            "http:// or https://",
        ),
        (
            (
                "--db-uuid",
                UUID,
                "--enterprise-code",
                CODE,
                "--issuer",
                "http://127.0.0.1:9",
                "--zone",
                "bad zone",
            ),
            "not a DNS zone",
        ),
    ],
)
def test_configure_mistakes(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    code, out = hub(tmp_path, "configure", *args)
    assert code == 2 and message in out and "Traceback" not in out


def test_token_boxes_forget_and_legacy(tmp_path: Path) -> None:
    code, out = hub(tmp_path, "token")
    assert code == 1 and "start `boxcert hub serve` once" in out
    open_service(tmp_path, None).set_public_url("https://hub.example")
    code, out = hub(tmp_path, "token", "--expires", "2h")
    token = out.splitlines()[0]
    assert code == 0 and token.startswith("bxp1.") and "works once, for 2h" in out
    code, out = hub(tmp_path, "token", "--expires", "soon")
    assert code == 2 and "15m, 2h or 90s" in out
    code, out = hub(tmp_path, "token", "--expires", "8d")
    assert code == 1 and "between 1 second and 7 days" in out
    assert hub(tmp_path, "boxes") == (0, "(no box)\n")
    code, out = hub(tmp_path, "add-legacy", "OLD-1", "--name", "Scale")
    assert code == 0 and "OLD-1 added" in out
    code, out = hub(tmp_path, "add-legacy", "OLD-1")
    assert code == 1 and "already known" in out
    code, out = hub(tmp_path, "boxes")
    assert out.splitlines()[0].split() == [
        "IDENTIFIER",
        "NAME",
        "IP",
        "URL",
        "CERTIFICATE_END_DATE",
        "DAYS_LEFT",
        "STATUS",
        "ERROR_CODE",
        "LAST_SEEN",
    ]
    assert "OLD-1" in out and "Scale" in out
    code, out = hub(tmp_path, "boxes", "--json")
    [row] = json.loads(out)
    assert (row["identifier"], row["kind"], row["status"]) == ("OLD-1", "legacy", None)
    assert hub(tmp_path, "forget", "OLD-1") == (0, "forgot box OLD-1\n")
    code, out = hub(tmp_path, "forget", "OLD-1")
    assert code == 1 and out == "Error: no box 'OLD-1' is known to this hub\n"


def test_password(tmp_path: Path) -> None:
    service = open_service(tmp_path, None)
    code, out = hub(tmp_path, "password", input="a fine new password\na fine new password\n")
    assert code == 0 and "admin password changed" in out
    assert "a fine new password" not in out  # typed, never echoed
    assert service.authenticate("", "a fine new password") is not None
    code, out = hub(tmp_path, "password", input="short\nshort\n")
    assert code == 1 and "at least 10 characters" in out
    code, out = hub(tmp_path, "password", "--generate")
    generated = out.strip().rsplit(": ", 1)[1]
    assert code == 0 and service.authenticate("", generated) is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--listen", "0.0.0.0:8070"), "plain HTTP on 0.0.0.0"),
        (("--listen", "192.168.1.10:8070"), "plain HTTP on 192.168.1.10"),
        (("--listen", "0.0.0.0:8070", "--behind-tls-proxy"), "give --public-url"),
        (("--listen", "127.0.0.1:8070", "--behind-tls-proxy"), "give --public-url"),
        (("--public-url", "http://hub.example"), "https://"),
        (("--public-url", "https://hub.example/?x=1"), "query"),
        (("--listen", "nonsense"), "HOST:PORT"),
        (("--tls-cert", __file__), "go together"),
    ],
)
def test_serve_refuses_unsafe_or_unusable_setups(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    code, out = hub(tmp_path, "serve", *args)
    assert code == 2 and message in out and "Traceback" not in out


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("15m", 900), (" 2h ", 7200), ("1d", 86400)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


def test_the_hub_is_listed_in_the_help() -> None:
    code, out = cli("--help")
    assert code == 0 and "hub" in out and "pairs boxes" in out
