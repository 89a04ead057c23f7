"""The box learns its zone from the issuer (``GET /iot/info``): against a real issuer process
on another zone than the default, the zone override and its mismatch, what pairing seeds, and
hostile or missing documents."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from boxcert import codes, naming
from boxcert.box.agent import BoxAgent
from boxcert.box.config import BoxConfig
from boxcert.box.files import BoxPaths
from boxcert.box.issuerinfo import (
    IssuerFacts,
    load_facts,
    read_info,
    save_facts,
    zone_mismatch,
    zone_of,
)
from boxcert.box.metrics import BoxMetrics
from boxcert.box.status import CertState, StatusHolder
from boxcert.clock import system_clock
from tests.box_support import http_answer, raw_issuer
from tests.helpers import BoxHome, IssuerProcess, start_issuer

ZONE = "iot.example.test"
T = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def zoned_issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IssuerProcess]:
    """A real issuer issuing in ZONE (not the default zone)."""
    proc = start_issuer(tmp_path_factory.mktemp("zoned") / "issuer", "--zone", ZONE)
    yield proc
    proc.stop()


def box_for(home: Path, issuer: IssuerProcess, *extra: str) -> BoxHome:
    db_uuid, code = str(uuid.uuid4()), f"C-{uuid.uuid4().hex[:10]}"
    issuer.add_eligible(db_uuid, code)
    box = BoxHome(home)
    box.configure("--server", "http://127.0.0.1:8069", "--db-uuid", db_uuid,
                  "--enterprise-code", code, "--issuer", issuer.url,
                  "--trust-ca", str(issuer.root_pem), *extra)  # fmt: skip
    return box


def test_the_box_takes_the_issuers_zone(tmp_path: Path, zoned_issuer: IssuerProcess) -> None:
    box = box_for(tmp_path / "box", zoned_issuer)
    facts = load_facts(BoxPaths(box.home))  # `configure --issuer` read it at once
    assert facts is not None and (facts.zone, facts.issuer) == (ZONE, zoned_issuer.url)
    code, report = box.ensure()
    assert code == 0, report
    assert all(name.endswith("." + ZONE) for name in report["certificate"]["sans"])
    assert report["url"].endswith("." + ZONE)
    assert box.status()[1]["url"] == report["url"]  # status knows the zone without asking


def test_a_zone_override_that_disagrees_is_said_before_any_csr(
    tmp_path: Path, zoned_issuer: IssuerProcess
) -> None:
    box = box_for(tmp_path / "box", zoned_issuer)
    code, out = box.run("configure", "--zone", "iot.other.example")
    assert code == 0 and "ERR_IOT_HTTPS_LOAD_ZONE_MISMATCH" in out  # said at configure too
    granted = zoned_issuer.grants()
    holder = StatusHolder()
    metrics = BoxMetrics(holder)
    agent = BoxAgent(BoxPaths(box.home), observer=metrics, holder=holder)
    status = agent.ensure()
    assert status.error is codes.LOAD_ZONE_MISMATCH
    assert status.detail == (
        f"the box is set to zone iot.other.example; the certificate service issues in {ZONE}"
    )
    assert status.to_json()["remedy"] == codes.LOAD_ZONE_MISMATCH.remedy
    assert "x509" not in metrics.render().decode()  # no CSR was sent ...
    assert zoned_issuer.grants() == granted  # ... and none was granted
    assert not box.cert_path.exists()
    # The remedy the page gives works: remove the override.
    box.configure("--zone", "")
    code, report = box.ensure()
    assert code == 0, report
    assert report["certificate"]["sans"][1].endswith("." + ZONE)


def test_an_override_that_agrees_is_fine(tmp_path: Path, zoned_issuer: IssuerProcess) -> None:
    box = box_for(tmp_path / "box", zoned_issuer, "--zone", ZONE)
    code, report = box.ensure()
    assert code == 0, report


def test_configure_refuses_an_issuer_url_with_the_exchange_path(tmp_path: Path) -> None:
    box = BoxHome(tmp_path / "box")
    code, out = box.run("configure", "--issuer", "https://certs.example.net/iot/x509")
    assert code == 2 and "without /iot/x509" in out and "Traceback" not in out


@pytest.mark.parametrize(
    ("config", "facts", "zone"),
    [
        (BoxConfig(issuer="https://a"), None, naming.DEFAULT_ZONE),
        (BoxConfig(issuer="https://a"), IssuerFacts("https://a", "z.example", 2, T), "z.example"),
        # facts of another issuer (the URL changed) are not this one's
        (BoxConfig(issuer="https://b"), IssuerFacts("https://a", "z.example", 2, T),
         naming.DEFAULT_ZONE),
        (BoxConfig(issuer="https://a", zone="o.example"),
         IssuerFacts("https://a", "z.example", 2, T), "o.example"),
    ],
)  # fmt: skip
def test_zone_of(config: BoxConfig, facts: IssuerFacts | None, zone: str) -> None:
    assert zone_of(config, facts) == zone


def test_zone_mismatch_only_with_an_override_that_differs() -> None:
    facts = IssuerFacts("https://a", "z.example", 2, T)
    assert zone_mismatch(BoxConfig(issuer="https://a"), facts) is None
    assert zone_mismatch(BoxConfig(zone="z.example"), facts) is None
    assert zone_mismatch(BoxConfig(zone="o.example"), None) is None
    found = zone_mismatch(BoxConfig(zone="o.example"), facts)
    assert found is not None and "o.example" in found.detail and "z.example" in found.detail


@pytest.mark.parametrize(
    "raw",
    [None, [], {"issuer": "x", "zone": "a..b", "at": T.isoformat()},
     {"issuer": 1, "zone": "a.b", "at": T.isoformat()}, {"issuer": "x", "zone": "a.b"}],
)  # fmt: skip
def test_damaged_facts_are_forgotten(tmp_path: Path, raw: object) -> None:
    paths = BoxPaths(tmp_path)
    paths.issuer_info.write_text(json.dumps(raw))
    assert load_facts(paths) is None
    save_facts(paths, IssuerFacts("https://a", "z.example", None, T, "hub"))
    assert load_facts(paths) == IssuerFacts("https://a", "z.example", None, T, "hub")


HOSTILE_INFO = {
    "not json": http_answer(b"<html>captive portal</html>", headers={"Content-Type": "text/html"}),
    "a list": http_answer(b"[1, 2]"),
    "zone not text": http_answer(b'{"zone": 5}'),
    "zone not a zone": http_answer(b'{"zone": "../../etc"}'),
    "escapes": http_answer(b'{"zone": "\\u001b[31mred.example"}'),
    "500": http_answer(b"{}", "500 Internal Server Error"),
    "no date": http_answer(b'{"zone": "iot.boxcert.test", "api_version": 2}'),
}


@pytest.mark.parametrize("case", list(HOSTILE_INFO))
def test_a_bad_info_document_teaches_nothing(case: str) -> None:
    with raw_issuer() as peer:
        peer.script = lambda conn, request: conn.sendall(HOSTILE_INFO[case])
        reading = read_info(peer.url, "", clock=system_clock)
    if case == "no date":
        assert reading.facts is not None and reading.date is None
    else:
        assert reading.facts is None


def test_an_unreachable_issuer_teaches_nothing_and_the_status_stays(tmp_path: Path) -> None:
    from boxcert.box.errors import FailureKind, LoadError
    from boxcert.devstack import free_port

    with pytest.raises(LoadError) as caught:
        read_info(f"http://127.0.0.1:{free_port()}", "", clock=system_clock)
    assert caught.value.failure is FailureKind.NETWORK
    assert caught.value.code is codes.LOAD_REQUEST_EXCEPTION


def test_status_without_a_server_contacts_nothing(tmp_path: Path) -> None:
    agent = BoxAgent(BoxPaths(tmp_path / "box"))
    assert agent.ensure().state is CertState.ERROR
    assert load_facts(agent.paths) is None


def test_pairing_keeps_the_hubs_zone_until_the_issuer_says(tmp_path: Path) -> None:
    """The hub's answer carries the zone it learnt; the box keeps it as what it knows of its
    issuer (not as an override), so its names are right even before the issuer answers."""
    from boxcert.devstack import free_port
    from tests.hub_running import start_hub

    hub = start_hub(tmp_path / "hub")
    try:
        dead = f"http://127.0.0.1:{free_port()}"  # the issuer cannot be reached just now
        identity = ("--db-uuid", str(uuid.uuid4()), "--enterprise-code", "-")
        done, out = hub.cli(
            "configure", *identity, "--issuer", dead, "--zone", "iot.hub.example", input="C-1\n"
        )
        assert done == 0, out
        box = BoxHome(tmp_path / "box")
        code, out = box.run("connect", hub.token())
    finally:
        hub.stop()
    assert code == 1 and "paired with the hub" in out  # paired; no certificate yet
    paths = BoxPaths(box.home)
    facts = load_facts(paths)
    assert facts is not None and (facts.zone, facts.issuer, facts.source) == (
        "iot.hub.example",
        dead,
        "hub",
    )
    config = json.loads(paths.config.read_text())
    assert config["zone"] == "" and zone_of(BoxConfig(issuer=dead), facts) == "iot.hub.example"


def test_a_new_zone_from_the_issuer_brings_a_certificate_in_it(
    tmp_path: Path, zoned_issuer: IssuerProcess
) -> None:
    """The box holds a good certificate in the zone it knew (the hub's, say); the issuer
    announces another: the box's names follow the issuer and it asks at once."""
    from boxcert import pki
    from boxcert.box import pair as pairs
    from tests.helpers import LocalTestCA

    box = box_for(tmp_path / "box", zoned_issuer)
    paths = BoxPaths(box.home)
    old_ca = LocalTestCA.create("old zone's root")
    box.configure("--trust-ca", str(zoned_issuer.root_pem),
                  "--trust-ca", str(old_ca.write(tmp_path / "old.pem")))  # fmt: skip
    key = pki.make_ec_key()
    label = naming.box_label(pki.spki_der(key.public_key()))
    old_names = naming.certificate_names(label, "iot.old.example")
    pairs.install_pair(paths, pairs.CertPair(key, (old_ca.leaf(key.public_key(), old_names),)))
    save_facts(paths, IssuerFacts(zoned_issuer.url, "iot.old.example", None, T, "hub"))
    assert BoxAgent(paths).status().state is CertState.OK  # by what it knew
    status = BoxAgent(paths).ensure()
    assert status.state is CertState.OK, status
    assert status.certificate is not None
    assert set(status.certificate.sans) == set(naming.certificate_names(label, ZONE))
    facts = load_facts(paths)
    assert facts is not None and (facts.zone, facts.source) == (ZONE, "issuer")
