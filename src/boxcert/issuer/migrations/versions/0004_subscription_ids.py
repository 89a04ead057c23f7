"""Subscriptions get a surrogate id and keep only a keyed hash of the contract code; database
uuids in one canonical form; certificates keep their subject CN; CA pauses shared by issuers.

Existing rows are carried over: each contract code becomes its HMAC-SHA256 under a key made
here (``settings.contract_code_key``) plus its last characters; databases, lines and boxes keep
their links. A uuid is stored trimmed and lower case; when two registered uuids differ only in
case, the one already canonical (else the oldest) takes the canonical form and the others are
left as they are — no request can reach them any more — with a warning in the log.

This step cannot be undone: the contract codes are no longer stored.

Revision ID: 0004
Revises: 0003
"""

import hashlib
import hmac
import logging
import secrets
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from cryptography import x509
from cryptography.x509.oid import NameOID

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")
TS = sa.DateTime(timezone=True)
CODE_KEY_SETTING = "contract_code_key"


def _canonical(uuid: str) -> str:
    return uuid.strip().lower()


def _hint(code: str) -> str:
    return code[-4:] if len(code) >= 8 else ""


def _subject_cn(chain_pem: str, names: str) -> str:
    try:
        leaf = x509.load_pem_x509_certificate(chain_pem.encode("ascii"))
        cns = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if cns and isinstance(cns[0].value, str):
            return cns[0].value[:255]
    except ValueError:
        pass
    return (names.split() or [""])[0][:255]


def _canonical_uuids(rows: Sequence[Any]) -> dict[str, str]:
    """old uuid → the uuid it keeps; canonical rows first, then by age."""
    taken: set[str] = set()
    renamed: dict[str, str] = {}
    ordered = sorted(rows, key=lambda r: (r.uuid != _canonical(r.uuid), r.created_at, r.uuid))
    for row in ordered:
        canonical = _canonical(row.uuid)
        if canonical in taken:
            log.warning(
                "database %r differs from %r only in case: left unreachable", row.uuid, canonical
            )
            renamed[row.uuid] = row.uuid
            continue
        taken.add(canonical)
        renamed[row.uuid] = canonical
    return renamed


def upgrade() -> None:
    bind = op.get_bind()
    settings = sa.table("settings", sa.column("key", sa.String), sa.column("value", sa.Text))
    key_hex = bind.scalar(sa.select(settings.c.value).where(settings.c.key == CODE_KEY_SETTING))
    if key_hex is None:
        key_hex = secrets.token_hex(32)
        bind.execute(settings.insert().values(key=CODE_KEY_SETTING, value=key_hex))
    key = bytes.fromhex(key_hex)

    old_subscriptions = sa.table(
        "subscriptions",
        sa.column("code", sa.String),
        sa.column("state", sa.String),
        sa.column("created_at", TS),
    )
    old_lines = sa.table(
        "subscription_lines",
        sa.column("id", sa.Integer),
        sa.column("subscription_code", sa.String),
        sa.column("product_name", sa.String),
    )
    old_databases = sa.table(
        "databases",
        sa.column("uuid", sa.String),
        sa.column("kind", sa.String),
        sa.column("subscription_code", sa.String),
        sa.column("created_at", TS),
    )
    subscriptions = bind.execute(
        sa.select(old_subscriptions).order_by(old_subscriptions.c.created_at)
    ).all()
    lines = bind.execute(sa.select(old_lines).order_by(old_lines.c.id)).all()
    databases = bind.execute(sa.select(old_databases)).all()

    if bind.dialect.name == "sqlite":
        # Overwrite the pages the dropped rows free, so no code stays readable in the file.
        bind.exec_driver_sql("PRAGMA secure_delete = ON")
    op.drop_table("subscription_lines")
    op.drop_table("databases")
    op.drop_table("subscriptions")
    new_subscriptions = op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("code_digest", sa.String(64), nullable=False),
        sa.Column("code_hint", sa.String(8), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_subscriptions_code_digest", "subscriptions", ["code_digest"], unique=True)
    new_lines = op.create_table(
        "subscription_lines",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "subscription_id",
            sa.Integer,
            sa.ForeignKey("subscriptions.id"),
            nullable=False,
            index=True,
        ),
        sa.Column("product_name", sa.String(256), nullable=False),
    )
    new_databases = op.create_table(
        "databases",
        sa.Column("uuid", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column(
            "subscription_id",
            sa.Integer,
            sa.ForeignKey("subscriptions.id"),
            nullable=False,
            index=True,
        ),
        sa.Column("created_at", TS, nullable=False),
    )
    assert new_subscriptions is not None and new_lines is not None and new_databases is not None

    ids: dict[str, int] = {}
    for sub in subscriptions:
        digest = hmac.new(key, sub.code.encode("utf-8"), hashlib.sha256).hexdigest()
        result = bind.execute(
            new_subscriptions.insert().values(
                code_digest=digest,
                code_hint=_hint(sub.code),
                state=sub.state,
                created_at=sub.created_at,
            )
        )
        inserted = result.inserted_primary_key
        assert inserted is not None
        ids[sub.code] = int(inserted[0])
    for line in lines:
        bind.execute(
            new_lines.insert().values(
                subscription_id=ids[line.subscription_code], product_name=line.product_name
            )
        )
    renamed = _canonical_uuids(databases)
    for database in databases:
        bind.execute(
            new_databases.insert().values(
                uuid=renamed[database.uuid],
                kind=database.kind,
                subscription_id=ids[database.subscription_code],
                created_at=database.created_at,
            )
        )
    for table in ("boxes", "certificates"):
        rows = sa.table(table, sa.column("db_uuid", sa.String))
        for old, new in renamed.items():
            if old != new:
                bind.execute(rows.update().where(rows.c.db_uuid == old).values(db_uuid=new))

    with op.batch_alter_table("certificates") as batch:
        batch.add_column(sa.Column("subject_cn", sa.String(255), nullable=True))
    certificates = sa.table(
        "certificates",
        sa.column("id", sa.Integer),
        sa.column("names", sa.Text),
        sa.column("chain_pem", sa.Text),
        sa.column("subject_cn", sa.String),
    )
    for cert in bind.execute(
        sa.select(certificates.c.id, certificates.c.names, certificates.c.chain_pem)
    ).all():
        bind.execute(
            certificates.update()
            .where(certificates.c.id == cert.id)
            .values(subject_cn=_subject_cn(cert.chain_pem, cert.names))
        )
    with op.batch_alter_table("certificates") as batch:
        batch.alter_column("subject_cn", existing_type=sa.String(255), nullable=False)

    op.create_table(
        "ca_pauses",
        sa.Column("ca_name", sa.String(32), primary_key=True),
        sa.Column("registered_domain", sa.String(255), primary_key=True),
        sa.Column("until", TS, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("0004 cannot be undone: contract codes are kept only as hashes")
