"""The ACME backend against a fake ACME CA that offers what Debian's Pebble does not: renewal
information (RFC 9773), orders that carry ``replaces``, and rate limits with Retry-After.

The issuer runs for real (service, SQLite, TXT store, certbot's client over TLS); only the CA
is ours (tests/fake_acme.py), and it validates dns-01 against the TXT values the issuer wrote.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from boxcert import pki
from boxcert.issuer.ca.acme import AcmeCA, AcmeOptions
from boxcert.issuer.ca.acme_client import ari_cert_id
from boxcert.issuer.ca.dns01 import SqlTxtStore
from boxcert.issuer.errors import Refusal
from boxcert.issuer.events import CaPaused, CertificateIssued
from boxcert.issuer.models import Certificate
from boxcert.storage.txt import TxtRecord, txt_values
from boxcert.wire import RefusalCode
from tests.fake_acme import FakeAcme, fake_acme
from tests.issuer_support import Clock, Issuer, box_request, make_issuer, sessions_for, sqlite_url


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[FakeAcme, Issuer]]:
    url = sqlite_url(tmp_path / "issuer")
    sessions = sessions_for(url)

    def lookup(name: str) -> set[str]:
        with sessions.begin() as s:
            return set(txt_values(s, name, datetime.now(UTC)))

    with fake_acme(tmp_path / "tls", lookup_txt=lookup) as (server, directory, bundle):
        options = AcmeOptions(directory_url=directory, ca_bundle=str(bundle))
        ca = AcmeCA(tmp_path / "acme", options, SqlTxtStore(sessions))
        issuer = make_issuer(tmp_path / "issuer", url=url, ca=ca, clock=Clock())
        issuer.register("db-1", "CODE-0001")
        yield server, issuer


async def test_renewal_follows_ari_and_sends_replaces(stack: tuple[FakeAcme, Issuer]) -> None:
    server, issuer = stack
    key = pki.make_ec_key()
    first = await issuer.service.handle(box_request("db-1", "CODE-0001", key))
    leaf = pki.load_chain(first.x509_pem)[0]
    assert server.orders[0].replaces is None
    with issuer.sessions.begin() as s:
        row = s.scalars(select(Certificate)).one()
        assert row.ari_id == ari_cert_id(leaf) == server.cert_id_of(leaf)
        assert row.renew_after is not None
        window_start = leaf.not_valid_before_utc + server.window[0]
        assert window_start <= row.renew_after <= leaf.not_valid_before_utc + server.window[1]
        assert s.scalars(select(TxtRecord)).all() == []  # challenges cleaned up
    # before the CA's window (day 20 of 90, well before the last third) the cache answers
    issuer.clock.advance(row.renew_after - issuer.clock() - timedelta(days=7))
    again = await issuer.service.handle(box_request("db-1", "CODE-0001", key))
    assert again.x509_pem == first.x509_pem and len(server.orders) == 1
    # inside the window: a renewal, ordered with `replaces`
    issuer.clock.advance(timedelta(days=7, minutes=1))
    renewed = await issuer.service.handle(box_request("db-1", "CODE-0001", key))
    assert renewed.x509_pem != first.x509_pem
    assert [o.replaces for o in server.orders] == [None, ari_cert_id(leaf)]
    issued = [e for e in issuer.events if isinstance(e, CertificateIssued)]
    assert [e.renewal for e in issued] == [False, True]
    with issuer.sessions.begin() as s:
        rows = s.scalars(select(Certificate).order_by(Certificate.id)).all()
        assert rows[1].replaces_id == rows[0].id


async def test_rate_limit_carries_retry_after_into_a_stored_pause(
    stack: tuple[FakeAcme, Issuer],
) -> None:
    server, issuer = stack
    server.rate_limit_retry_after = 3600
    before = datetime.now(UTC)
    with pytest.raises(Refusal) as refused:
        await issuer.service.handle(box_request("db-1", "CODE-0001"))
    assert refused.value.code == RefusalCode.CA_RATE_LIMITED
    paused = [e for e in issuer.events if isinstance(e, CaPaused)]
    assert len(paused) == 1 and "too many new orders" in paused[0].reason
    assert timedelta(minutes=59) < paused[0].until - before < timedelta(minutes=61)
    server.rate_limit_retry_after = None
    with pytest.raises(Refusal):  # the pause holds although the CA would now answer
        await issuer.service.handle(box_request("db-1", "CODE-0001"))
    assert len(server.orders) == 0


async def test_revocation_at_the_ca(stack: tuple[FakeAcme, Issuer]) -> None:
    server, issuer = stack
    grant = await issuer.service.handle(box_request("db-1", "CODE-0001"))
    result = await issuer.service.revoke_domain(grant.domain)
    leaf = pki.load_chain(grant.x509_pem)[0]
    assert result.revoked == [format(leaf.serial_number, "x")]
    assert leaf.serial_number in server.revoked
    again = await issuer.service.handle(box_request("db-1", "CODE-0001"))
    assert again.x509_pem != grant.x509_pem
