"""Fuzzing the issuer over a real socket: hypothesis-made requests and CSR mutations.

Properties, for every case: never a 5xx; every 4xx carries an error body; a grant only ever
goes to the registered database with its exact contract code, and only for a certificate of
the CSR's own key with exactly the names that key entitles it to (or, without a CSR, a key
that matches the certificate). The issuer logs no internal error and still serves afterwards.
Budgets come from tests/fuzzing.py (``make fuzz``: over 10,000 requests in all).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from boxcert import naming, pki
from boxcert.httpserver import running
from boxcert.issuer.app import create_app
from tests import csr_forge
from tests.fuzzing import budget, report
from tests.issuer_support import ZONE, box_csr, make_issuer

pytestmark = pytest.mark.fuzz

DB = "0e1d2c3b-4a59-4687-9a8b-7c6d5e4f3a2b"
CODE = "C-FUZZ-5e1f7a9b"
OTHER_DB, OTHER_CODE = "other-db", "C-OTHER-00000001"


@dataclass
class Target:
    url: str
    client: httpx.Client
    figures: dict[str, int] = field(default_factory=dict)

    def count(self, what: str) -> None:
        self.figures[what] = self.figures.get(what, 0) + 1


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    directory: Path = tmp_path_factory.mktemp("fuzz-issuer")
    issuer = make_issuer(directory, max_boxes_per_database=10**9)
    issuer.register(DB, CODE)
    issuer.register(OTHER_DB, OTHER_CODE)
    with running(create_app(issuer.service)) as url, httpx.Client(timeout=60) as client:
        yield Target(url, client)


@pytest.fixture
def server_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    with caplog.at_level(logging.INFO):
        yield
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


def _post(target: Target, content: bytes) -> httpx.Response:
    resp = target.client.post(
        target.url + "/iot/x509", content=content, headers={"content-type": "application/json"}
    )
    assert resp.status_code < 500, resp.text
    target.count(str(resp.status_code))
    if resp.status_code != 200:
        error = resp.json()["error"]
        assert error["code"] and error["message"]
    return resp


def _check_grant(result: dict[str, Any], params: dict[str, Any]) -> None:
    """A grant must be deserved and right: the exact credentials, the CSR's key and names."""
    uuid, code = params.get("db_uuid"), params.get("enterprise_code")
    assert isinstance(uuid, str) and isinstance(code, str)
    assert uuid.strip().lower() in (DB, OTHER_DB)
    assert code.strip() == (CODE if uuid.strip().lower() == DB else OTHER_CODE)
    leaf = pki.load_chain(result["x509_pem"])[0]
    csr_pem = params.get("csr")
    if csr_pem is None:
        key = pki.load_private_key(result["private_key_pem"].encode())
        assert pki.same_public_key(leaf.public_key(), key.public_key())
        return
    assert "private_key_pem" not in result
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    assert csr.is_signature_valid
    csr_key = csr.public_key()
    assert isinstance(csr_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey)
    assert pki.same_public_key(leaf.public_key(), csr_key)
    label = naming.box_label(pki.spki_der(csr_key))
    assert sorted(pki.dns_names(leaf)) == sorted(naming.certificate_names(label, ZONE))


# --- requests -------------------------------------------------------------------------------

text = st.text(max_size=40)
uuids = st.one_of(st.sampled_from([DB, DB.upper(), f" {DB} ", OTHER_DB, "", "x"]), text)
codes = st.one_of(st.sampled_from([CODE, f" {CODE}", CODE.lower(), OTHER_CODE, ""]), text)
csrs = st.one_of(
    st.none(),
    st.builds(lambda: box_csr()),
    st.sampled_from(["", "-----BEGIN CERTIFICATE REQUEST-----\n", "not a csr"]),
    text,
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)


@st.composite
def request_bodies(draw: st.DrawFn) -> tuple[bytes, dict[str, Any] | None]:
    """A body and, when it is an exchange-shaped object, its params."""
    shape = draw(st.sampled_from(["exchange", "exchange", "exchange", "json", "bytes"]))
    if shape == "bytes":
        return draw(st.binary(max_size=300)), None
    if shape == "json":
        return json.dumps(draw(json_values)).encode(), None
    params: dict[str, Any] = {}
    for key, values in (
        ("db_uuid", uuids),
        ("enterprise_code", codes),
        ("csr", csrs),
        ("identifier", st.none() | text),
    ):
        if draw(st.booleans()) or key in ("db_uuid", "enterprise_code"):
            value = draw(st.one_of(values, json_values) if draw(st.integers(0, 9)) == 0 else values)
            if value is not None or key in ("db_uuid", "enterprise_code"):
                params[key] = value
    extra = draw(st.dictionaries(text, json_values, max_size=2))
    return json.dumps({"params": {**extra, **params}}).encode(), params


@settings(
    max_examples=budget(200, 5000),
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(case=request_bodies())
def test_requests(target: Target, server_errors: None, case: tuple[bytes, Any]) -> None:
    content, params = case
    resp = _post(target, content)
    if resp.status_code == 200:
        result = resp.json()["result"]
        if "x509_pem" in result:
            target.count("grants")
            assert params is not None
            _check_grant(result, params)
        else:
            target.count("refusals")


def test_requests_report(target: Target) -> None:
    report(
        "issuer requests",
        cases=sum(v for k, v in target.figures.items() if k.isdigit()),
        failures=0,
        **target.figures,
    )
    target.figures.clear()
    assert target.client.get(target.url + "/healthz").status_code == 200


# --- CSR mutations --------------------------------------------------------------------------


BASE_CSR = csr_forge.Forge().der()  # one CSR, so the same draws make the same case


@st.composite
def mutated_csrs(draw: st.DrawFn) -> str:
    der = bytearray(BASE_CSR)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "cut", "insert", "delete"]))
        at = draw(st.integers(0, len(der) - 1))
        if kind == "flip":
            der[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            der[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del der[at:]
        elif kind == "insert":
            der[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            del der[at : at + draw(st.integers(1, 8))]
        if not der:
            break
    return csr_forge.pem_of(bytes(der))


@st.composite
def forged_csrs(draw: st.DrawFn) -> str:
    """A CSR built from parts, each either right or drawn from what breaks parsers."""
    forge = csr_forge.Forge()
    if draw(st.booleans()):
        forge.version = draw(st.integers(-2, 5))
    if draw(st.booleans()):
        oids = st.sampled_from([csr_forge.OID_CN, csr_forge.OID_O, "2.5.4.6", "1.2.3"])
        forge.subject = csr_forge.name(
            *draw(st.lists(st.tuples(oids, st.binary(max_size=20)), max_size=3))
        )
    if draw(st.booleans()):
        point = draw(st.sampled_from([b"\x04", b"\x02", b"\x03", b""])) + draw(
            st.binary(max_size=70)
        )
        forge.spki = draw(
            st.sampled_from(
                [
                    csr_forge.ec_spki(point),
                    csr_forge.rsa_spki(
                        draw(st.integers(1, 1 << 4100)), draw(st.integers(0, 1 << 70))
                    ),
                    csr_forge.seq(draw(st.binary(max_size=40))),
                ]
            )
        )
    if draw(st.booleans()):
        names = list(forge.names)
        extra = draw(st.lists(st.sampled_from([*names, "a.example", "*.x", ""]), max_size=3))
        pieces = [
            csr_forge.san(*names, *extra),
            csr_forge.san(*names),
            csr_forge.seq(
                csr_forge.oid("2.5.29.17"), csr_forge.octets(draw(st.binary(max_size=30)))
            ),
            csr_forge.seq(csr_forge.oid("1.2.3.4"), csr_forge.octets(b"\x05\x00")),
        ]
        forge.extensions = draw(st.lists(st.sampled_from(pieces), max_size=3))
    if draw(st.booleans()):
        forge.signature_oid = draw(
            st.sampled_from(
                ["1.2.840.10045.4.3.3", "1.2.840.113549.1.1.11", "1.2.3.4", "1.3.101.112"]
            )
        )
    return forge.pem()


def _csr_case(target: Target, csr: str) -> None:
    params = {"db_uuid": DB, "enterprise_code": CODE, "csr": csr}
    resp = _post(target, json.dumps({"params": params}).encode())
    if resp.status_code == 200:
        result = resp.json()["result"]
        assert "x509_pem" in result, result  # valid credentials: a grant or a 400
        target.count("grants")
        _check_grant(result, params)


@settings(
    max_examples=budget(200, 3000),
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(csr=mutated_csrs())
def test_csr_mutations(target: Target, server_errors: None, csr: str) -> None:
    _csr_case(target, csr)


@settings(
    max_examples=budget(200, 2500),
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(csr=forged_csrs())
def test_forged_csrs(target: Target, server_errors: None, csr: str) -> None:
    _csr_case(target, csr)


def test_csr_report(target: Target) -> None:
    report(
        "issuer CSRs",
        cases=sum(v for k, v in target.figures.items() if k.isdigit()),
        failures=0,
        **target.figures,
    )
    assert target.client.get(target.url + "/healthz").status_code == 200


def test_the_unmutated_forge_is_granted(target: Target) -> None:
    """So a mutation that changes nothing still counts as a valid case."""
    forge = csr_forge.Forge()
    _csr_case(target, forge.pem())
    der = forge.key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert der
