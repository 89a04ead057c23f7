"""The issuer's request matrix through the real Starlette app, in-process (httpx's ASGI
transport): eligibility, CSR checks, the no-CSR exchange, malformed and hostile requests."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator, MutableMapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from boxcert import naming, pki
from boxcert.issuer.models import DatabaseKind, SubscriptionState
from tests import csr_forge
from tests.issuer_support import ZONE, Issuer, body, box_csr, make_issuer, names_of

CODE = "C-5b1e0c44aa"
DB = "6f0a2a4e-1d2b-4c8e-9a77-1b2c3d4e5f60"


@pytest.fixture
def issuer(tmp_path: Path) -> Issuer:
    issuer = make_issuer(tmp_path)
    issuer.register(DB, CODE)
    return issuer


@pytest.fixture
async def client(issuer: Issuer) -> AsyncIterator[httpx.AsyncClient]:
    async with issuer.client() as client:
        yield client


def refusal(resp: httpx.Response) -> str:
    assert resp.status_code == 200, resp.text
    return str(resp.json()["result"]["error"]["code"])


def bad_request(resp: httpx.Response) -> str:
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["code"] == "bad_request"
    return str(error["message"])


@pytest.mark.parametrize(
    ("kind", "state", "lines", "expected"),
    [
        ("production", "in_progress", ["IoT Box Subscription"], None),
        ("staging", "in_progress", ["IoT Box Subscription"], "database_not_production"),
        ("development", "in_progress", ["IoT Box Subscription"], "database_not_production"),
        ("duplicate", "in_progress", ["IoT Box Subscription"], "database_not_production"),
        ("production", "draft", ["IoT Box Subscription"], "subscription_not_in_progress"),
        ("production", "paused", ["IoT Box Subscription"], "subscription_not_in_progress"),
        ("production", "closed", ["IoT Box Subscription"], "subscription_not_in_progress"),
        ("production", "expired", ["IoT Box Subscription"], "subscription_not_in_progress"),
        ("production", "in_progress", [], "no_iot_box_line"),
        ("production", "in_progress", ["Enterprise Users"], "no_iot_box_line"),
        ("production", "in_progress", ["Enterprise Users", "iot box subscription"], None),
        # the order is part of the contract: kind before state before line
        ("staging", "closed", [], "database_not_production"),
        ("production", "closed", [], "subscription_not_in_progress"),
    ],
)
@pytest.mark.parametrize("with_csr", [True, False])
async def test_eligibility_matrix(
    issuer: Issuer,
    client: httpx.AsyncClient,
    kind: str,
    state: str,
    lines: list[str],
    expected: str | None,
    with_csr: bool,
) -> None:
    db_uuid, code = str(uuid.uuid4()), f"C-{uuid.uuid4().hex[:10]}"
    issuer.register(
        db_uuid, code, kind=DatabaseKind(kind), state=SubscriptionState(state), lines=tuple(lines)
    )
    resp = await client.post("/iot/x509", json=body(db_uuid, code, box_csr() if with_csr else None))
    if expected is None:
        assert "x509_pem" in resp.json()["result"]
    else:
        assert refusal(resp) == expected


async def test_unknown_uuid_and_wrong_code_look_the_same(client: httpx.AsyncClient) -> None:
    csr = box_csr()
    answers = [
        (await client.post("/iot/x509", json=body(DB, CODE + "x", csr))).json(),
        (await client.post("/iot/x509", json=body(str(uuid.uuid4()), CODE, csr))).json(),
        (await client.post("/iot/x509", json=body(DB, "", csr))).json(),
        (await client.post("/iot/x509", json=body(DB, CODE.lower(), csr))).json(),
    ]
    assert all(a == answers[0] for a in answers)
    assert answers[0]["result"]["error"]["code"] == "credentials_not_recognized"
    assert CODE not in json.dumps(answers)


async def test_credentials_come_before_any_csr_work(client: httpx.AsyncClient) -> None:
    """Unauthenticated callers get the same refusal whatever they put in the CSR: it is never
    parsed, so it can cost no signature work and tells nothing."""
    hostile = [
        "not a csr",
        csr_forge.Forge(version=3).pem(),
        csr_forge.Forge(spki=csr_forge.ec_spki(b"\x04" + b"\x01" * 64)).pem(),
        box_csr(),
    ]
    for csr in hostile:
        resp = await client.post("/iot/x509", json=body(DB, "wrong", csr))
        assert refusal(resp) == "credentials_not_recognized"


async def test_uuid_case_variants_are_the_same_database(client: httpx.AsyncClient) -> None:
    key = pki.make_ec_key()
    first = (await client.post("/iot/x509", json=body(DB, CODE, box_csr(key)))).json()["result"]
    for variant in (DB.upper(), f"  {DB}  ", DB[:8].upper() + DB[8:]):
        again = (await client.post("/iot/x509", json=body(variant, CODE, box_csr(key)))).json()
        assert again["result"]["x509_pem"] == first["x509_pem"]
    wildcard = (await client.post("/iot/x509", json=body(DB, CODE))).json()["result"]
    upper = (await client.post("/iot/x509", json=body(DB.upper(), CODE))).json()["result"]
    assert upper == wildcard


async def test_grant_shape_and_no_key_with_csr(issuer: Issuer, client: httpx.AsyncClient) -> None:
    key = pki.make_ec_key()
    resp = await client.post("/odoo-enterprise/iot/x509", json=body(DB, CODE, box_csr(key)))
    result = resp.json()["result"]
    wildcard, base = names_of(key)
    assert result["domain"] == base and result["subject_cn"] == wildcard
    assert "private_key_pem" not in result
    chain = pki.load_chain(result["x509_pem"])
    assert len(chain) == 2
    assert pki.same_public_key(chain[0].public_key(), key.public_key())
    assert result["not_after"] == chain[0].not_valid_after_utc.isoformat()
    again = (await client.post("/iot/x509", json=body(DB, CODE, box_csr(key)))).json()
    assert again["result"]["x509_pem"] == result["x509_pem"]  # from the cache


async def test_compatible_exchange_without_csr(client: httpx.AsyncClient) -> None:
    first = (await client.post("/iot/x509", json=body(DB, CODE))).json()["result"]
    key = pki.load_private_key(first["private_key_pem"].encode())
    leaf = pki.load_chain(first["x509_pem"])[0]
    assert pki.same_public_key(leaf.public_key(), key.public_key())
    label = first["domain"].split(".")[0]
    assert naming.is_label(label)
    assert DB not in first["x509_pem"] and DB.split("-")[0] not in label
    assert sorted(pki.dns_names(leaf)) == sorted(naming.certificate_names(label, ZONE))
    assert first["subject_cn"] == f"*.{label}.{ZONE}"
    second = (await client.post("/iot/x509", json=body(DB, CODE))).json()["result"]
    assert second == first  # one wildcard per database, reused


async def test_two_databases_never_share_a_key(issuer: Issuer, client: httpx.AsyncClient) -> None:
    other_db, other_code = str(uuid.uuid4()), "C-other-0001"
    issuer.register(other_db, other_code)
    mine = (await client.post("/iot/x509", json=body(DB, CODE))).json()["result"]
    theirs = (await client.post("/iot/x509", json=body(other_db, other_code))).json()["result"]
    assert mine["private_key_pem"] != theirs["private_key_pem"]
    assert mine["domain"] != theirs["domain"]


def _rsa_csr(bits: int, exponent: int = 65537) -> str:
    key = rsa.generate_private_key(public_exponent=exponent, key_size=bits)
    return pki.csr_pem(pki.make_csr(key, list(names_of(key))))


def _p521_csr() -> str:
    key = ec.generate_private_key(ec.SECP521R1())
    names = names_of(key)
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
    )
    return pki.csr_pem(builder.sign(key, hashes.SHA256()))


def _bad_signature_csr() -> str:
    forge = csr_forge.Forge()
    der = bytearray(forge.der())
    der[-5] ^= 0x01  # a bit inside the signature value
    return csr_forge.pem_of(bytes(der))


def _extra_name_csr() -> str:
    key = pki.make_ec_key()
    return pki.csr_pem(pki.make_csr(key, [*names_of(key), "www.example.com"]))


def _two_cn_csr() -> str:
    forge = csr_forge.Forge()
    wildcard, base = forge.names
    forge.subject = csr_forge.name(
        (csr_forge.OID_CN, wildcard.encode()), (csr_forge.OID_CN, base.encode())
    )
    return forge.pem()


def _duplicate_extension_csr() -> str:
    forge = csr_forge.Forge()
    forge.extensions = [csr_forge.san(*forge.names), csr_forge.san(*forge.names)]
    return forge.pem()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: box_csr(names=["*.other.iot.boxcert.test", "other.iot.boxcert.test"]),
            "must ask for exactly",
        ),
        (_extra_name_csr, "also asks for www.example.com"),
        (lambda: _rsa_csr(1024), "too weak"),
        (lambda: _rsa_csr(2048, exponent=3), "exponent must be 65537"),
        (
            lambda: csr_forge.Forge(
                spki=csr_forge.rsa_spki((1 << 2047) + 1, (1 << 4000) + 1)
            ).pem(),
            "public key is unreadable",
        ),
        (
            lambda: csr_forge.Forge(spki=csr_forge.rsa_spki((1 << 8191) + 1, 65537)).pem(),
            "too large",
        ),
        (_p521_csr, "not accepted"),
        (_bad_signature_csr, "signature does not verify"),
        (lambda: "not a csr", "not a PEM certificate request"),
        (lambda: csr_forge.Forge(version=3).pem(), "version is not supported"),
        (lambda: csr_forge.Forge(signature_oid="1.2.3.4.5").pem(), "signature algorithm"),
        (_duplicate_extension_csr, "extensions are unreadable"),
        (
            lambda: csr_forge.Forge(spki=csr_forge.ec_spki(b"\x04" + b"\x01" * 64)).pem(),
            "public key is unreadable",
        ),
        (
            lambda: csr_forge.Forge(subject=csr_forge.name((csr_forge.OID_CN, b"\xff\xfe"))).pem(),
            "subject is unreadable",
        ),
        (_two_cn_csr, "more than one CN"),
    ],
)
async def test_csr_checks(client: httpx.AsyncClient, make: Any, message: str) -> None:
    resp = await client.post("/iot/x509", json=body(DB, CODE, make()))
    assert message in bad_request(resp)
    assert "Traceback" not in resp.text


async def test_rsa_2048_csr_accepted(client: httpx.AsyncClient) -> None:
    resp = await client.post("/iot/x509", json=body(DB, CODE, _rsa_csr(2048)))
    assert "x509_pem" in resp.json()["result"]


async def test_csr_with_malformed_extension(client: httpx.AsyncClient) -> None:
    """A SAN extension whose inner DER is broken: parsable CSR, unreadable extension."""
    key = pki.make_ec_key()
    garbage = x509.UnrecognizedExtension(
        x509.oid.ExtensionOID.SUBJECT_ALTERNATIVE_NAME, b"\x30\x03\x82\x05a"
    )
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names_of(key)[0])]))
        .add_extension(garbage, False)
        .sign(key, hashes.SHA256())
    )
    resp = await client.post("/iot/x509", json=body(DB, CODE, pki.csr_pem(csr)))
    assert "unreadable" in bad_request(resp)


@pytest.mark.parametrize(
    ("payload", "status", "fragment"),
    [
        (b"this is not json", 400, "not valid JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (b"{}", 400, '"params"'),
        (b'{"params": {"enterprise_code": "x"}}', 400, "db_uuid"),
        (b'{"params": {"db_uuid": 5, "enterprise_code": "x"}}', 400, "must be a string"),
        (
            b'{"params": {"db_uuid": "' + b"a" * 300 + b'", "enterprise_code": "x"}}',
            400,
            "too long",
        ),
        (b'{"params": ' + b"[" * 100000 + b"]" * 100000 + b"}", 413, "larger than"),
        (b'{"params": ' + b"[" * 5000 + b"]" * 5000 + b"}", 400, "not valid JSON"),
        (b'\xff\xfe{"params"', 400, "not valid JSON"),
    ],
)
async def test_malformed_requests_get_4xx(
    client: httpx.AsyncClient, payload: bytes, status: int, fragment: str
) -> None:
    resp = await client.post(
        "/iot/x509", content=payload, headers={"content-type": "application/json"}
    )
    assert resp.status_code == status, resp.text
    assert fragment in resp.json()["error"]["message"]


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        # A lone surrogate is not JSON to orjson: refused before the shape is looked at.
        ({"db_uuid": "a\ud800b", "enterprise_code": "x"}, "surrogate"),
        ({"db_uuid": "u", "enterprise_code": "x\ud800"}, "surrogate"),
        ({"db_uuid": "u\u0000", "enterprise_code": "x"}, "control"),
        ({"db_uuid": "u", "enterprise_code": "x\n"}, "control"),
        ({"db_uuid": "u", "enterprise_code": "x", "csr": ""}, "is empty"),
    ],
)
async def test_hostile_strings_get_400(
    client: httpx.AsyncClient, params: dict[str, Any], fragment: str
) -> None:
    resp = await client.post("/iot/x509", content=json.dumps({"params": params}).encode())
    assert fragment in bad_request(resp)


async def test_paths_and_methods(client: httpx.AsyncClient) -> None:
    assert (await client.get("/iot/x509")).status_code == 405
    resp = await client.post("/nope", json={})
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
    health = (await client.get("/healthz")).json()
    checks = {"database": "ok", "ca": "ok"}
    assert health == {"status": "ok", "ca": "local", "zone": ZONE, "checks": checks}


@pytest.mark.parametrize("path", ["/iot/x509/", "/odoo-enterprise/iot/x509/"])
async def test_trailing_slash_is_not_redirected(client: httpx.AsyncClient, path: str) -> None:
    resp = await client.post(path, json=body(DB, CODE), headers={"host": "evil.example"})
    assert resp.status_code == 404
    assert "location" not in resp.headers and "evil.example" not in resp.text


async def test_box_cap_per_database(tmp_path: Path) -> None:
    issuer = make_issuer(tmp_path, max_boxes_per_database=2)
    issuer.register(DB, CODE)
    keys = [pki.make_ec_key() for _ in range(3)]
    async with issuer.client() as client:
        for key in keys[:2]:
            resp = await client.post("/iot/x509", json=body(DB, CODE, box_csr(key)))
            assert "x509_pem" in resp.json()["result"]
        resp = await client.post("/iot/x509", json=body(DB, CODE, box_csr(keys[2])))
        assert refusal(resp) == "box_limit_reached"
        resp = await client.post("/iot/x509", json=body(DB, CODE, box_csr(keys[0])))
        assert "x509_pem" in resp.json()["result"]  # a known box keeps being served


async def test_replayed_csr_never_moves_a_box(issuer: Issuer, client: httpx.AsyncClient) -> None:
    other_db, other_code = str(uuid.uuid4()), "C-other-0002"
    issuer.register(other_db, other_code)
    csr = box_csr()
    mine = (await client.post("/iot/x509", json=body(DB, CODE, csr))).json()["result"]
    resp = await client.post("/iot/x509", json=body(other_db, other_code, csr))
    assert refusal(resp) == "box_of_another_database"
    issuer.clock.advance(timedelta(hours=2))  # past the seen-cache
    resp = await client.post("/iot/x509", json=body(other_db, other_code, csr))
    assert refusal(resp) == "box_of_another_database"
    again = (await client.post("/iot/x509", json=body(DB, CODE, csr))).json()["result"]
    assert again["x509_pem"] == mine["x509_pem"]


class BrokenCA:
    """A CA backend with a bug of ours in it (not a CA failure): it raises a plain error."""

    name = "local"
    limits_per_domain = False

    async def issue(
        self,
        csr: x509.CertificateSigningRequest,
        names: tuple[str, ...],
        replaces: str | None = None,
    ) -> Any:
        raise RuntimeError("disk on fire")

    async def revoke(self, chain_pem: str, reason: Any = None) -> None:
        return None

    async def suggested_renewal(self, chain_pem: str) -> datetime | None:
        return None

    async def close(self) -> None:
        return None


async def test_unexpected_failure_is_one_logged_500(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    issuer = make_issuer(tmp_path, ca=BrokenCA())
    issuer.register(DB, CODE)
    async with issuer.client() as client:
        with caplog.at_level(logging.INFO):
            resp = await client.post("/iot/x509", json=body(DB, CODE))
        assert resp.status_code == 500
        assert resp.json()["error"]["code"] == "internal_error"
        assert "disk on fire" not in resp.text
        tracebacks = [r for r in caplog.records if r.exc_info]
        assert len(tracebacks) == 1
        assert (await client.get("/healthz")).status_code == 200  # still serving


async def test_aborted_upload_is_logged_at_info_without_traceback(
    issuer: Issuer, caplog: pytest.LogCaptureFixture
) -> None:
    from boxcert.issuer.app import create_app

    app = create_app(issuer.service)
    sent: list[MutableMapping[str, Any]] = []
    chunks: list[MutableMapping[str, Any]] = [
        {"type": "http.request", "body": b'{"params": {', "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> MutableMapping[str, Any]:
        return chunks.pop(0)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/iot/x509",
        "raw_path": b"/iot/x509",
        "headers": [(b"content-type", b"application/json")],
        "query_string": b"",
        "http_version": "1.1",
        "scheme": "http",
        "server": ("t", 80),
        "client": ("c", 1),
        "root_path": "",
    }
    with caplog.at_level(logging.INFO):
        await app(scope, receive, send)
    records = [r for r in caplog.records if "went away" in r.getMessage()]
    assert len(records) == 1 and records[0].levelno == logging.INFO
    assert not any(r.exc_info for r in caplog.records)
    assert all(r.levelno < logging.WARNING for r in caplog.records)
