"""The issuer's store against a real SQLite database: typed rows out, canonical uuids, hashed
codes, the certificate cache keyed by holder *and* database, pauses, settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from boxcert.issuer.contract_codes import ContractCodes
from boxcert.issuer.errors import AlreadyExists, InvalidValue, NotFound
from boxcert.issuer.models import DatabaseKind, SubscriptionState
from boxcert.issuer.store import accounts, boxes, certificates, pauses, settings
from boxcert.issuer.store.rows import NewCertificate
from tests.issuer_support import sessions_for, sqlite_url

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
IOT = "IoT Box Subscription"


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    return sessions_for(sqlite_url(tmp_path))


def _codes(s: Session) -> ContractCodes:
    return settings.contract_codes_of(s)


def test_subscriptions_by_code_or_id(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        row = accounts.add_subscription(
            s, _codes(s), " C-0123456789 ", SubscriptionState.DRAFT, [IOT], NOW
        )
        assert (row.id, row.code_hint, row.state, row.lines) == (1, "6789", "draft", (IOT,))
        assert accounts.subscription_id(s, _codes(s), "C-0123456789") == row.id
        with pytest.raises(NotFound):
            accounts.subscription_id(s, _codes(s), "c-0123456789")
        with pytest.raises(AlreadyExists):
            accounts.add_subscription(
                s, _codes(s), "C-0123456789", SubscriptionState.DRAFT, [], NOW
            )
        for bad in ("", "   ", "x" * 129, "tab\there"):
            with pytest.raises(InvalidValue):
                accounts.add_subscription(s, _codes(s), bad, SubscriptionState.DRAFT, [], NOW)
        accounts.set_subscription_state(s, row.id, SubscriptionState.IN_PROGRESS)
        accounts.add_subscription_line(s, row.id, "Other")
        assert accounts.get_subscription(s, row.id).lines == (IOT, "Other")
        assert [r.state for r in accounts.list_subscriptions(s)] == ["in_progress"]
        with pytest.raises(NotFound):
            accounts.set_subscription_state(s, 99, SubscriptionState.CLOSED)


def test_databases_are_canonical_and_facts_take_one_row_set(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as s:
        codes = _codes(s)
        sub = accounts.add_subscription(
            s, codes, "C-1", SubscriptionState.IN_PROGRESS, [IOT, "Other"], NOW
        )
        row = accounts.add_database(s, "  ABC-Def ", DatabaseKind.STAGING, sub.id, NOW)
        assert row.uuid == "abc-def" and row.boxes == 0
        with pytest.raises(AlreadyExists):
            accounts.add_database(s, "abc-DEF", DatabaseKind.PRODUCTION, sub.id, NOW)
        with pytest.raises(NotFound):
            accounts.add_database(s, "new", DatabaseKind.PRODUCTION, 42, NOW)
        with pytest.raises(InvalidValue):
            accounts.add_database(s, "x" * 65, DatabaseKind.PRODUCTION, sub.id, NOW)
        accounts.set_database_kind(s, "ABC-DEF", DatabaseKind.PRODUCTION)
        facts = accounts.database_facts(s, "abc-def")
        assert facts is not None
        assert (facts.kind, facts.subscription_state, facts.subscription_lines) == (
            "production",
            "in_progress",
            (IOT, "Other"),
        )
        assert facts.code_digest == codes.digest("C-1")
        assert accounts.database_facts(s, "ABC-DEF") is None  # callers pass canonical uuids
        assert accounts.database_facts(s, "nope") is None
        bare = accounts.add_subscription(s, codes, "C-2", SubscriptionState.IN_PROGRESS, [], NOW)
        accounts.add_database(s, "no-lines", DatabaseKind.PRODUCTION, bare.id, NOW)
        assert accounts.database_facts(s, "no-lines").subscription_lines == ()  # type: ignore[union-attr]
        assert accounts.lock_database(s, "abc-def") and not accounts.lock_database(s, "nope")


def test_boxes_never_move(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        boxes.add_box(s, "label", "db-1", "first", NOW)
        assert boxes.count_boxes(s, "db-1") == 1 and boxes.count_boxes(s, "db-2") == 0
        assert not boxes.touch_box(s, "label", "db-2", "x", NOW + timedelta(hours=2))
        assert boxes.touch_box(s, "label", "db-1", "", NOW + timedelta(hours=2))
        row = boxes.get_box(s, "label")
        assert row is not None
        assert (row.db_uuid, row.identifier, row.last_seen) == (
            "db-1",
            "first",
            NOW + timedelta(hours=2),
        )
        assert boxes.get_box(s, "other") is None


def _new(holder: str, db_uuid: str, issued_at: datetime, **kw: object) -> NewCertificate:
    values: dict[str, object] = dict(
        holder_label=holder,
        db_uuid=db_uuid,
        names=(f"*.{holder}.z", f"{holder}.z"),
        subject_cn=f"*.{holder}.z",
        chain_pem="PEM",
        private_key_pem=None,
        serial_hex="01",
        ca_name="local",
        registered_domain="z",
        not_before=issued_at,
        not_after=issued_at + timedelta(days=90),
        renew_after=None,
        ari_id=None,
        issued_at=issued_at,
        replaces_id=None,
    )
    values.update(kw)
    return NewCertificate(**values)  # type: ignore[arg-type]


def test_certificate_cache_is_keyed_by_holder_and_database(
    sessions: sessionmaker[Session],
) -> None:
    names = ("*.h.z", "h.z")
    with sessions.begin() as s:
        old = certificates.save_certificate(s, _new("h", "db-1", NOW, serial_hex="01"))
        new = certificates.save_certificate(
            s, _new("h", "db-1", NOW + timedelta(days=1), serial_hex="02", replaces_id=old.id)
        )
        certificates.save_certificate(
            s, _new("h", "db-2", NOW + timedelta(days=2), serial_hex="03")
        )
        latest = certificates.latest_certificate(s, "h", "db-1", names, "local")
        assert latest == new and latest.subject_cn == "*.h.z"
        assert certificates.latest_certificate(s, "h", "db-1", names, "acme-x") is None
        assert certificates.latest_certificate(s, "h", "db-3", names, "local") is None
        assert certificates.first_certificates_since(s, "z", "local", NOW) == 2  # not the renewal
        assert certificates.first_certificates_since(s, "z", "local", NOW + timedelta(days=2)) == 1
        assert [c.serial_hex for c in certificates.certificates_for_domain(s, "H.z.")] == [
            "01",
            "02",
            "03",
        ]
        assert certificates.certificates_for_domain(s, "x.h.z") == []
        assert certificates.mark_revoked(s, new.id, NOW)
        assert not certificates.mark_revoked(s, new.id, NOW)
        assert certificates.latest_certificate(s, "h", "db-1", names, "local") == old


def test_pauses_and_settings(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        assert pauses.paused_until(s, "ca", "z") is None
        pauses.pause(s, "ca", "z", NOW, "first")
        pauses.pause(s, "ca", "z", NOW - timedelta(hours=1), "earlier")
        assert pauses.paused_until(s, "ca", "z") == NOW
        pauses.pause(s, "ca", "z", NOW + timedelta(hours=1), "later")
        assert pauses.paused_until(s, "ca", "z") == NOW + timedelta(hours=1)
        secret = settings.label_secret(s)
        codes = settings.contract_codes_of(s)
    with sessions.begin() as s:
        assert settings.label_secret(s) == secret and len(secret) == 32
        assert settings.contract_codes_of(s).digest("x") == codes.digest("x")
