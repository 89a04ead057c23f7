"""Removing databases, subscriptions and boxes (issuer/removal.py on store/removals.py), on a
real service and database: what is refused and why, what goes, what stays (certificates for
the CRL, audit entries), and that the requests that follow see it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from sqlalchemy import func, select

from boxcert import naming
from boxcert.issuer.ca import IssuedCertificate
from boxcert.issuer.errors import InUse, NotFound, Refusal, StillValid
from boxcert.issuer.events import CertificateRevoked
from boxcert.issuer.models import Box, Certificate, Database, HubSighting, Subscription
from boxcert.issuer.removal import Remover, box_label_of
from boxcert.issuer.store import accounts, audit, certificates, removals
from boxcert.wire import CertificateRequest, RefusalCode
from tests.issuer_support import (
    Clock,
    Issuer,
    PublicLikeCA,
    box_key,
    box_request,
    make_issuer,
    names_of,
)

DB, CODE = "db-gone", "C-GONE-00000001"


def remover(issuer: Issuer) -> Remover:
    return Remover(issuer.sessions, issuer.clock, issuer.service.revoker, actor="test")


def count(issuer: Issuer, table: type[object], *where: object) -> int:
    with issuer.sessions.begin() as s:
        return s.scalar(select(func.count()).select_from(table).where(*where)) or 0  # type: ignore[arg-type]


def audited(issuer: Issuer) -> list[str]:
    issuer.service.close()  # the queued entries (revocations) are written
    with issuer.sessions.begin() as s:
        return [e.detail for e in audit.entries(s, limit=100)]


@pytest.fixture
def issuer(tmp_path: Path) -> Issuer:
    made = make_issuer(tmp_path, max_boxes_per_database=1)
    made.register(DB, CODE)
    return made


async def test_a_database_with_valid_certificates_is_not_removed(issuer: Issuer) -> None:
    key = box_key()
    await issuer.service.handle(box_request(DB, CODE, key))
    await issuer.service.handle(CertificateRequest(DB, CODE))  # the database's own key
    with pytest.raises(StillValid) as refused:
        await remover(issuer).remove_database(DB.upper())
    assert "2 valid certificate(s)" in str(refused.value)
    assert names_of(key)[1] in refused.value.names
    assert count(issuer, Database) == 1 and count(issuer, Box) == 1


async def test_revoke_then_remove(issuer: Issuer) -> None:
    key = box_key()
    await issuer.service.handle(box_request(DB, CODE, key))
    with issuer.sessions.begin() as s:
        removals_before = certificates.unrevoked_of_database(s, DB, issuer.clock())
    done = await remover(issuer).remove_database(DB, revoke=True)
    assert done.revoked == tuple(c.serial_hex for c in removals_before)
    assert done.removed.boxes == 1 and done.removed.uuid == DB
    assert count(issuer, Database) == 0 and count(issuer, Box) == 0
    assert count(issuer, Subscription) == 1  # its subscription stays
    with issuer.sessions.begin() as s:  # the certificates stay, revoked: the CRL lists them
        (cert,) = certificates.of_database(s, DB)
    assert cert.revoked_at is not None and cert.revocation_reason == "cessationOfOperation"
    with pytest.raises(Refusal) as refused:
        await issuer.service.handle(box_request(DB, CODE, key))
    assert refused.value.code is RefusalCode.CREDENTIALS_NOT_RECOGNIZED
    details = audited(issuer)
    assert any(d.startswith(f"removed database {DB} (subscription #") for d in details)
    assert any(d.startswith(f"revoked serial {cert.serial_hex}") for d in details)


async def test_what_goes_with_a_database(issuer: Issuer) -> None:
    with issuer.sessions.begin() as s:
        s.add(
            HubSighting(
                db_uuid=DB,
                fingerprint="f" * 16,
                first_seen=issuer.clock(),
                last_seen=issuer.clock(),
                last_reported_at=issuer.clock(),
                verdict="reported",
            )
        )
    done = await remover(issuer).remove_database(DB)  # nothing valid: no CA needed
    assert done.removed.installations == 1 and count(issuer, HubSighting) == 0
    with pytest.raises(NotFound):
        await remover(issuer).remove_database(DB)


async def test_a_subscription_with_databases_is_not_removed(issuer: Issuer) -> None:
    await issuer.service.handle(box_request(DB, CODE))
    with issuer.sessions.begin() as s:
        sub_id = s.scalar(select(Subscription.id))
    assert sub_id is not None
    with pytest.raises(InUse) as refused:
        await remover(issuer).remove_subscription(sub_id)
    assert DB in str(refused.value) and not isinstance(refused.value, StillValid)
    with pytest.raises(StillValid):  # its database has a valid certificate
        await remover(issuer).remove_subscription(sub_id, with_databases=True)
    done = await remover(issuer).remove_subscription(sub_id, with_databases=True, revoke=True)
    assert [d.removed.uuid for d in done.databases] == [DB] and done.removed.lines == 1
    assert count(issuer, Subscription) == 0 and count(issuer, Database) == 0
    with pytest.raises(Refusal) as refused_box:
        await issuer.service.handle(box_request(DB, CODE))
    assert refused_box.value.code is RefusalCode.CREDENTIALS_NOT_RECOGNIZED
    with pytest.raises(NotFound):
        await remover(issuer).remove_subscription(sub_id)


async def test_forgetting_a_box_frees_its_place(issuer: Issuer) -> None:
    first, second = box_key(), box_key()
    await issuer.service.handle(box_request(DB, CODE, first))
    with pytest.raises(Refusal) as full:
        await issuer.service.handle(box_request(DB, CODE, second))  # the cap is 1
    assert full.value.code is RefusalCode.BOX_LIMIT_REACHED
    label = box_label_of(names_of(first)[1])
    done = await remover(issuer).forget_box(label)
    assert len(done.revoked) == 1 and done.forgotten.kept == ()
    assert count(issuer, Certificate, Certificate.revoked_at.is_not(None)) == 1
    await issuer.service.handle(box_request(DB, CODE, second))  # its place is free
    with pytest.raises(NotFound):
        await remover(issuer).forget_box(label)
    assert any(d.startswith(f"forgot box {label} of database {DB}") for d in audited(issuer))


async def test_forgetting_a_box_can_keep_its_certificate(issuer: Issuer) -> None:
    key = box_key()
    granted = await issuer.service.handle(box_request(DB, CODE, key))
    label = box_label_of(names_of(key)[1])
    with pytest.raises(StillValid), issuer.sessions.begin() as s:  # never silently
        removals.forget_box(s, label, issuer.clock())
    done = await remover(issuer).forget_box(label, keep_certificate=True)
    assert done.revoked == () and len(done.forgotten.kept) == 1
    assert count(issuer, Box) == 0
    again = await issuer.service.handle(box_request(DB, CODE, key))  # registers anew
    assert again.x509_pem == granted.x509_pem and count(issuer, Box) == 1


async def test_boxes_are_listed_with_their_valid_certificate(issuer: Issuer) -> None:
    key = box_key()
    await issuer.service.handle(box_request(DB, CODE, key))
    with issuer.sessions.begin() as s:
        (listed,) = removals.list_boxes(s, DB, issuer.clock())
        assert removals.list_boxes(s, "other-db", issuer.clock()) == []
    assert listed.box.label == box_label_of(names_of(key)[1])
    assert listed.certificate is not None and listed.certificate.names == names_of(key)


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("abcdefghijklmnop", "abcdefghijklmnop"),
        ("  ABCDEFGHIJKLMNOP ", "abcdefghijklmnop"),
        ("abcdefghijklmnop.iot.boxcert.test", "abcdefghijklmnop"),
        ("*.abcdefghijklmnop.iot.boxcert.test", "abcdefghijklmnop"),
        ("https://192-168-1-5.abcdefghijklmnop.iot.boxcert.test:8443/x", "abcdefghijklmnop"),
    ],
)
def test_a_box_is_named_by_its_label_or_a_name(text: str, label: str) -> None:
    assert box_label_of(text) == label


@pytest.mark.parametrize("text", ["", "box-1", "abcdefghijklmno", "abcdefghijklmnop1", "0" * 16])
def test_what_names_no_box(text: str) -> None:
    with pytest.raises(ValueError):
        box_label_of(text)


def test_labels_are_what_naming_makes() -> None:
    assert naming.is_label(box_label_of(names_of(box_key())[0]))


class SlowCA(PublicLikeCA):
    """A CA that orders over the network: the order takes the time the test lets it."""

    def __init__(self, directory: Path, clock: Callable[[], datetime]) -> None:
        super().__init__(directory, clock)
        self.ordering = asyncio.Event()
        self.answer = asyncio.Event()
        self.revoked: list[tuple[str, object]] = []

    async def issue(
        self,
        csr: x509.CertificateSigningRequest,
        names: tuple[str, ...],
        replaces: str | None = None,
    ) -> IssuedCertificate:
        self.ordering.set()
        await self.answer.wait()
        return await super().issue(csr, names, replaces)

    async def revoke(self, chain_pem: str, reason: Any = None) -> None:
        self.revoked.append((chain_pem, reason))


async def test_a_database_removed_while_its_certificate_is_ordered_gets_none(
    tmp_path: Path,
) -> None:
    """An order through a network CA takes seconds; a database removed meanwhile stores no
    certificate, the box is refused as for any unknown database, and the certificate the CA
    issued all the same is revoked (a public CA logs it for anyone to find)."""
    issuer = make_issuer(tmp_path, ca=SlowCA(tmp_path / "ca", Clock()))
    ca = issuer.service.ca
    assert isinstance(ca, SlowCA)
    issuer.register(DB, CODE)
    asking = asyncio.ensure_future(issuer.service.handle(box_request(DB, CODE)))
    await asyncio.wait_for(ca.ordering.wait(), 10)
    await remover(issuer).remove_database(DB)  # nothing valid yet: removed
    ca.answer.set()
    with pytest.raises(Refusal) as refused:
        await asyncio.wait_for(asking, 10)
    assert refused.value.code is RefusalCode.CREDENTIALS_NOT_RECOGNIZED
    assert count(issuer, Certificate) == 0
    assert len(ca.revoked) == 1
    chain, reason = ca.revoked[0]
    assert "BEGIN CERTIFICATE" in chain and reason == x509.ReasonFlags.cessation_of_operation


async def test_a_box_is_forgotten_only_from_the_database_named(issuer: Issuer) -> None:
    issuer.register("db-next-door", "C-NEXT-DOOR-0001")
    key = box_key()
    await issuer.service.handle(box_request(DB, CODE, key))
    label = box_label_of(names_of(key)[1])
    with pytest.raises(NotFound):  # before anything is revoked
        await remover(issuer).forget_box(label, database="db-next-door")
    with pytest.raises(NotFound), issuer.sessions.begin() as s:  # and in the removal itself
        removals.forget_box(s, label, issuer.clock(), keep_certificate=True, database="x")
    assert count(issuer, Box) == 1
    assert count(issuer, Certificate, Certificate.revoked_at.is_not(None)) == 0
    done = await remover(issuer).forget_box(label, database=DB.upper())
    assert done.forgotten.box.db_uuid == DB and len(done.revoked) == 1


@pytest.mark.parametrize("room", [True, False])
async def test_a_box_retired_while_its_certificate_is_ordered(tmp_path: Path, room: bool) -> None:
    """A box retired during its order (it had no valid certificate, so nothing waited for the
    order) is a box asking: registered again when its database has room, else refused and
    the certificate the CA issued revoked, never stored outside the cap."""
    issuer = make_issuer(tmp_path, ca=SlowCA(tmp_path / "ca", Clock()))
    ca = issuer.service.ca
    assert isinstance(ca, SlowCA)
    issuer.register(DB, CODE)
    key = box_key()
    asking = asyncio.ensure_future(issuer.service.handle(box_request(DB, CODE, key)))
    await asyncio.wait_for(ca.ordering.wait(), 10)
    await remover(issuer).forget_box(box_label_of(names_of(key)[1]))
    assert count(issuer, Box) == 0
    if not room:
        with issuer.sessions.begin() as s:
            accounts.set_database_max_boxes(s, DB, 0)
    ca.answer.set()
    if room:
        grant = await asyncio.wait_for(asking, 10)
        assert grant.subject_cn == names_of(key)[0]
        assert count(issuer, Box) == 1 and count(issuer, Certificate) == 1
        assert ca.revoked == []
        return
    with pytest.raises(Refusal) as refused:
        await asyncio.wait_for(asking, 10)
    assert refused.value.code is RefusalCode.BOX_LIMIT_REACHED
    assert count(issuer, Box) == 0 and count(issuer, Certificate) == 0
    assert len(ca.revoked) == 1
    assert any(isinstance(e, CertificateRevoked) for e in issuer.events)
