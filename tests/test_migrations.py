"""The Alembic migrations: they produce exactly the models' schema, and 0004 carries the rows
of an older database over (codes hashed, uuids canonical, subject CNs filled) so that
requests keep working after the upgrade — on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine, MetaData, create_engine, select, text

from boxcert import naming, pki
from boxcert.issuer.ca.local import LocalCA
from boxcert.issuer.db import MIGRATIONS, open_engine
from boxcert.issuer.errors import Refusal
from boxcert.issuer.models import Base, Box, Database
from boxcert.wire import CertificateRequest, RefusalCode
from tests.issuer_support import ZONE, box_request, make_issuer

LEGACY_CODE = "C-LEGACY-7f3a9c"
CLOSED_CODE = "C-CLOSED-11b2d4"


def test_models_match_migrations(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_migrating_twice_is_harmless(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    open_engine(url).dispose()
    open_engine(url).dispose()


def _upgrade_to(engine: Engine, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


async def _fill_0003(engine: Engine, tmp_path: Path) -> tuple[str, str]:
    """Rows as an issuer before 0004 left them; (the no-CSR chain, the box label)."""
    now = datetime.now(UTC)
    secret = bytes(range(32))
    label = naming.database_label("abc-db-1", secret)
    names = naming.certificate_names(label, ZONE)
    key = pki.make_ec_key()
    ca = LocalCA(tmp_path / "ca", ZONE)
    issued = await ca.issue(pki.make_csr(key, names), names)
    box_key = pki.make_ec_key()
    box_label = naming.box_label(pki.spki_der(box_key.public_key()))
    rows = {
        "settings": [{"key": "database_label_secret", "value": secret.hex()}],
        "subscriptions": [
            {"code": LEGACY_CODE, "state": "in_progress", "created_at": now},
            {"code": CLOSED_CODE, "state": "closed", "created_at": now},
        ],
        "subscription_lines": [
            {"subscription_code": LEGACY_CODE, "product_name": "IoT Box Subscription"},
            {"subscription_code": CLOSED_CODE, "product_name": "IoT Box Subscription"},
        ],
        "databases": [
            # a uuid stored before uuids were canonical, and a pair that differs in case only
            {
                "uuid": "AbC-DB-1",
                "kind": "production",
                "subscription_code": LEGACY_CODE,
                "created_at": now,
            },
            {
                "uuid": "closed-db",
                "kind": "production",
                "subscription_code": CLOSED_CODE,
                "created_at": now,
            },
            {
                "uuid": "DUP-1",
                "kind": "production",
                "subscription_code": LEGACY_CODE,
                "created_at": now - timedelta(days=1),
            },
            {
                "uuid": "dup-1",
                "kind": "staging",
                "subscription_code": LEGACY_CODE,
                "created_at": now,
            },
        ],
        "boxes": [
            {
                "label": box_label,
                "db_uuid": "AbC-DB-1",
                "identifier": "b",
                "first_seen": now,
                "last_seen": now - timedelta(days=1),
            }
        ],
        "certificates": [
            {
                "holder_label": label,
                "db_uuid": "AbC-DB-1",
                "names": " ".join(names),
                "chain_pem": issued.chain_pem,
                "private_key_pem": pki.private_key_pem(key).decode(),
                "serial_hex": issued.serial_hex,
                "ca_name": "local",
                "registered_domain": ZONE,
                "not_before": issued.not_before,
                "not_after": issued.not_after,
                "renew_after": None,
                "ari_id": None,
                "issued_at": now,
                "replaces_id": None,
                "revoked_at": None,
            }
        ],
    }
    meta = MetaData()
    meta.reflect(engine)
    with engine.begin() as conn:
        for table, values in rows.items():
            conn.execute(meta.tables[table].insert(), values)
    return issued.chain_pem, box_label


async def _check_upgraded(url: str, tmp_path: Path, chain_pem: str, box_label: str) -> None:
    issuer = make_issuer(tmp_path, url=url)  # opening the engine migrates to the newest
    service = issuer.service
    grant = await service.handle(CertificateRequest("abc-db-1", LEGACY_CODE))
    assert grant.x509_pem == chain_pem  # the cached wildcard, served as before
    assert grant.subject_cn == naming.certificate_names(grant.domain.split(".")[0], ZONE)[0]
    again = await service.handle(CertificateRequest("ABC-db-1", LEGACY_CODE))
    assert again.x509_pem == chain_pem
    assert (await service.handle(box_request("abc-db-1", LEGACY_CODE))).x509_pem
    with pytest.raises(Refusal) as closed:
        await service.handle(CertificateRequest("closed-db", CLOSED_CODE))
    assert closed.value.code == RefusalCode.SUBSCRIPTION_NOT_IN_PROGRESS
    with pytest.raises(Refusal) as wrong:
        await service.handle(CertificateRequest("abc-db-1", CLOSED_CODE))
    assert wrong.value.code == RefusalCode.CREDENTIALS_NOT_RECOGNIZED
    # the canonical one of the case-variant pair keeps its kind; the other is unreachable
    with pytest.raises(Refusal) as staging:
        await service.handle(CertificateRequest("DUP-1", LEGACY_CODE))
    assert staging.value.code == RefusalCode.DATABASE_NOT_PRODUCTION
    with issuer.sessions.begin() as s:
        uuids = sorted(s.scalars(select(Database.uuid)))
        assert uuids == ["DUP-1", "abc-db-1", "closed-db", "dup-1"]
        assert s.get(Box, box_label).db_uuid == "abc-db-1"  # type: ignore[union-attr]
        dump = " ".join(str(r) for r in s.execute(text("SELECT * FROM subscriptions")))
    assert LEGACY_CODE not in dump and CLOSED_CODE not in dump
    assert "3a9c" in dump  # the hint
    issuer.service.close()  # the audit writer stores its queue and lets go of its connection
    issuer.sessions.kw["bind"].dispose()


async def test_0004_carries_rows_over_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = create_engine(url)
    _upgrade_to(engine, "0003")
    chain_pem, box_label = await _fill_0003(engine, tmp_path)
    engine.dispose()
    await _check_upgraded(url, tmp_path, chain_pem, box_label)
    # once the WAL is checkpointed, the dropped rows' pages are overwritten too
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("old.sqlite3*"))
    assert LEGACY_CODE.encode() not in raw and CLOSED_CODE.encode() not in raw


async def test_0004_carries_rows_over_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    _upgrade_to(engine, "0003")
    chain_pem, box_label = await _fill_0003(engine, tmp_path)
    engine.dispose()
    await _check_upgraded(postgres_url, tmp_path, chain_pem, box_label)
