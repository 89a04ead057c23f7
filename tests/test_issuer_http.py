"""The issuer over real HTTP: eligibility matrix, CSR checks, compatible mode, bad requests."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from boxcert import naming, pki
from tests.helpers import IOT_LINE, IssuerProcess

ZONE = naming.DEFAULT_ZONE


def body(db_uuid: str, code: str, csr: str | None = None, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"db_uuid": db_uuid, "enterprise_code": code, "identifier": "t"}
    if csr is not None:
        params["csr"] = csr
    params.update(extra)
    return {"params": params}


def box_csr(key: pki.PrivateKey | None = None, names: list[str] | None = None) -> tuple[Any, str]:
    key = key or pki.make_ec_key()
    if names is None:
        names = list(naming.certificate_names(naming.box_label(pki.spki_der(key.public_key())),
                                              ZONE))
    return key, pki.csr_pem(pki.make_csr(key, names))


def refusal(resp: Any) -> str:
    assert resp.status_code == 200, resp.text
    return str(resp.json()["result"]["error"]["code"])


@pytest.mark.parametrize(
    ("kind", "state", "lines", "expected"),
    [
        ("production", "in_progress", [IOT_LINE], None),
        ("staging", "in_progress", [IOT_LINE], "database_not_production"),
        ("development", "in_progress", [IOT_LINE], "database_not_production"),
        ("duplicate", "in_progress", [IOT_LINE], "database_not_production"),
        ("production", "draft", [IOT_LINE], "subscription_not_in_progress"),
        ("production", "paused", [IOT_LINE], "subscription_not_in_progress"),
        ("production", "closed", [IOT_LINE], "subscription_not_in_progress"),
        ("production", "expired", [IOT_LINE], "subscription_not_in_progress"),
        ("production", "in_progress", [], "no_iot_box_line"),
        ("production", "in_progress", ["Enterprise Users"], "no_iot_box_line"),
        # the order is part of the contract: kind before state before line
        ("staging", "closed", [], "database_not_production"),
        ("production", "closed", [], "subscription_not_in_progress"),
    ],
)
def test_eligibility_matrix(
    issuer: IssuerProcess, kind: str, state: str, lines: list[str], expected: str | None
) -> None:
    db_uuid, code = str(uuid.uuid4()), f"C-{uuid.uuid4().hex[:8]}"
    line_args = [a for line in lines for a in ("--line", line)]
    issuer.admin("subscription", "add", "--code", code, "--state", state, *line_args)
    issuer.admin("database", "add", "--uuid", db_uuid, "--kind", kind, "--subscription", code)
    _, csr = box_csr()
    resp = issuer.post(body(db_uuid, code, csr))
    if expected is None:
        assert "x509_pem" in resp.json()["result"]
    else:
        assert refusal(resp) == expected


def test_unknown_uuid_and_wrong_code_look_the_same(
    issuer: IssuerProcess, eligible: tuple[str, str]
) -> None:
    db_uuid, code = eligible
    _, csr = box_csr()
    wrong_code = issuer.post(body(db_uuid, code + "x", csr)).json()
    unknown_db = issuer.post(body(str(uuid.uuid4()), code, csr)).json()
    empty_code = issuer.post(body(db_uuid, "", csr)).json()
    assert wrong_code == unknown_db == empty_code
    assert wrong_code["result"]["error"]["code"] == "credentials_not_recognized"
    assert code not in str(wrong_code)


def test_grant_shape_and_no_key_with_csr(issuer: IssuerProcess, eligible: tuple[str, str]) -> None:
    key, csr = box_csr()
    resp = issuer.post(body(*eligible, csr), path="/odoo-enterprise/iot/x509")
    result = resp.json()["result"]
    label = naming.box_label(pki.spki_der(key.public_key()))
    assert result["domain"] == f"{label}.{ZONE}"
    assert result["subject_cn"] == f"*.{label}.{ZONE}"
    assert "private_key_pem" not in result
    chain = pki.load_chain(result["x509_pem"])
    assert len(chain) == 2
    assert pki.same_public_key(chain[0].public_key(), key.public_key())
    assert result["not_after"] == chain[0].not_valid_after_utc.isoformat()
    # asked again, the same certificate comes from the cache
    again = issuer.post(body(*eligible, csr)).json()["result"]
    assert again["x509_pem"] == result["x509_pem"]


def test_compatible_exchange_without_csr(issuer: IssuerProcess, eligible: tuple[str, str]) -> None:
    db_uuid, _ = eligible
    first = issuer.post(body(*eligible)).json()["result"]
    key = pki.load_private_key(first["private_key_pem"].encode())
    leaf = pki.load_chain(first["x509_pem"])[0]
    assert pki.same_public_key(leaf.public_key(), key.public_key())
    label = first["domain"].split(".")[0]
    assert naming.is_label(label)
    assert db_uuid not in first["x509_pem"] and db_uuid.split("-")[0] not in label
    assert sorted(pki.dns_names(leaf)) == sorted(naming.certificate_names(label, ZONE))
    # one wildcard per database, reused
    second = issuer.post(body(*eligible)).json()["result"]
    assert second == first


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: box_csr(names=["*.other.iot.boxcert.test", "other.iot.boxcert.test"])[1],
         "must ask for exactly"),
        (lambda: _csr_with_extra_name(), "also asks for www.example.com"),
        (lambda: _rsa_csr(1024), "too weak"),
        (lambda: _p521_csr(), "not accepted"),
        (lambda: _bad_signature_csr(), "signature"),
        (lambda: "not a csr", "not a PEM certificate request"),
    ],
)
def test_csr_checks(issuer: IssuerProcess, eligible: tuple[str, str], make: Any,
                    message: str) -> None:
    resp = issuer.post(body(*eligible, make()))
    assert resp.status_code == 400
    err = resp.json()["error"]
    assert err["code"] == "bad_request"
    assert message in err["message"]


def test_rsa_2048_csr_accepted(issuer: IssuerProcess, eligible: tuple[str, str]) -> None:
    resp = issuer.post(body(*eligible, _rsa_csr(2048)))
    assert "x509_pem" in resp.json()["result"]


def _csr_with_extra_name() -> str:
    key = pki.make_ec_key()
    names = list(naming.certificate_names(naming.box_label(pki.spki_der(key.public_key())), ZONE))
    return pki.csr_pem(pki.make_csr(key, [*names, "www.example.com"]))


def _rsa_csr(bits: int) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    names = list(naming.certificate_names(naming.box_label(pki.spki_der(key.public_key())), ZONE))
    return pki.csr_pem(pki.make_csr(key, names))


def _p521_csr() -> str:
    key = ec.generate_private_key(ec.SECP521R1())
    label = naming.box_label(pki.spki_der(key.public_key()))
    names = list(naming.certificate_names(label, ZONE))
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    ).add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
    return pki.csr_pem(builder.sign(key, hashes.SHA256()))


def _bad_signature_csr() -> str:
    """A CSR whose key is swapped after signing: parsable, but the signature fails."""
    from cryptography.hazmat.primitives import serialization

    _key, pem = box_csr()
    der = bytearray(x509.load_pem_x509_csr(pem.encode()).public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01  # flip a bit inside the signature value
    import base64
    b64 = base64.encodebytes(bytes(der)).decode()
    return f"-----BEGIN CERTIFICATE REQUEST-----\n{b64}-----END CERTIFICATE REQUEST-----\n"


def test_box_cap_per_database(tmp_path: Any, eligible: tuple[str, str]) -> None:
    from tests.helpers import start_issuer

    capped = start_issuer(tmp_path / "capped", "--max-boxes", "2")
    try:
        capped.add_eligible(*eligible)
        keys = [box_csr() for _ in range(3)]
        assert "x509_pem" in capped.post(body(*eligible, keys[0][1])).json()["result"]
        assert "x509_pem" in capped.post(body(*eligible, keys[1][1])).json()["result"]
        assert refusal(capped.post(body(*eligible, keys[2][1]))) == "box_limit_reached"
        # a known box keeps being served
        assert "x509_pem" in capped.post(body(*eligible, keys[0][1])).json()["result"]
    finally:
        capped.stop()


@pytest.mark.parametrize(
    ("payload", "status", "fragment"),
    [
        (b"this is not json", 400, "not valid JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (b"{}", 400, '"params"'),
        (b'{"params": {"enterprise_code": "x"}}', 400, "db_uuid"),
        (b'{"params": {"db_uuid": 5, "enterprise_code": "x"}}', 400, "must be a string"),
        (b'{"params": {"db_uuid": "' + b"a" * 300 + b'", "enterprise_code": "x"}}', 400,
         "too long"),
        (b'{"params": ' + b"[" * 100000 + b"]" * 100000 + b"}", 413, "larger than"),
        (b'\xff\xfe{"params"', 400, "not valid JSON"),
    ],
)
def test_malformed_requests_get_4xx(
    issuer: IssuerProcess, payload: bytes, status: int, fragment: str
) -> None:
    resp = issuer.post(payload, headers={"content-type": "application/json"})
    assert resp.status_code == status, resp.text
    assert fragment in resp.json()["error"]["message"]
    assert "Traceback" not in resp.text


def test_deeply_nested_json_is_a_400_not_a_crash(issuer: IssuerProcess) -> None:
    payload = b'{"params": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    resp = issuer.post(payload)
    assert resp.status_code == 400
    assert issuer.post(b"{}").status_code == 400  # still serving


def test_wrong_method_and_path(issuer: IssuerProcess) -> None:
    import httpx

    assert httpx.get(issuer.url + "/iot/x509").status_code == 405
    resp = httpx.post(issuer.url + "/nope", json={})
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "not_found"
    assert httpx.get(issuer.url + "/healthz").json()["status"] == "ok"


def test_revoke_then_reissue_local(issuer: IssuerProcess, eligible: tuple[str, str]) -> None:
    from tests.helpers import cli

    first = issuer.post(body(*eligible)).json()["result"]
    code, out = cli("issuer", "revoke", "--data", str(issuer.data_dir), "--domain",
                    first["domain"])
    assert code == 0 and out.startswith("revoked ")
    second = issuer.post(body(*eligible)).json()["result"]
    assert second["x509_pem"] != first["x509_pem"]
    code, out = cli("issuer", "revoke", "--data", str(issuer.data_dir), "--domain", "nope.test")
    assert code == 1 and "no valid certificate covers nope.test" in out


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"db_uuid": "a\ud800b", "enterprise_code": "x"}, "invalid characters"),
        ({"db_uuid": "u", "enterprise_code": "x\ud800"}, "invalid characters"),
        ({"db_uuid": "u\u0000", "enterprise_code": "x"}, "control"),
        ({"db_uuid": "u", "enterprise_code": "x\n"}, "control"),
        ({"db_uuid": "u", "enterprise_code": "x", "csr": ""}, "is empty"),
    ],
)
def test_hostile_strings_get_400(issuer: IssuerProcess, params: dict[str, Any],
                                 fragment: str) -> None:
    import json as _json

    resp = issuer.post(_json.dumps({"params": params}).encode())
    assert resp.status_code == 400, resp.text
    assert fragment in resp.json()["error"]["message"]


def test_csr_with_malformed_extension_gets_400(
    issuer: IssuerProcess, eligible: tuple[str, str]
) -> None:
    """A SAN extension whose inner DER is broken: parsable CSR, unreadable extension."""
    from cryptography.hazmat.primitives import serialization

    key = pki.make_ec_key()
    names = naming.certificate_names(naming.box_label(pki.spki_der(key.public_key())), ZONE)
    garbage = x509.UnrecognizedExtension(x509.oid.ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
                                         b"\x30\x03\x82\x05a")
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
           .add_extension(garbage, False).sign(key, hashes.SHA256()))
    pem = csr.public_bytes(serialization.Encoding.PEM).decode()
    resp = issuer.post(body(*eligible, pem))
    assert resp.status_code == 400, resp.text
    assert "unreadable" in resp.json()["error"]["message"]


def test_issuer_data_is_private(issuer: IssuerProcess, eligible: tuple[str, str]) -> None:
    import stat

    assert stat.S_IMODE(issuer.data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((issuer.data_dir / "issuer.sqlite3").stat().st_mode) == 0o600
    assert stat.S_IMODE((issuer.data_dir / "ca" / "intermediate.key").stat().st_mode) == 0o600


def test_plain_http_refused_off_loopback(tmp_path: Any) -> None:
    from tests.helpers import cli

    code, out = cli("issuer", "serve", "--data", str(tmp_path / "d"), "--listen", "0.0.0.0:0")
    assert code == 2
    assert "--behind-tls-proxy" in out
