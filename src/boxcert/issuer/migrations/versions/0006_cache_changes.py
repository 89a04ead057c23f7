"""The change feed that keeps every issuer's in-memory caches true (see
:mod:`boxcert.issuer.hotcache`).

``cache_generation`` holds one counter; ``cache_changes`` says what each step of it changed.
Triggers, not application code, write both, so every writer is covered — the admin API, the
command line, the lifecycle job, duplicate marking, a vendor's own SQL:

=====================  ======================  =============================================
table                  events                  change recorded
=====================  ======================  =============================================
databases              insert, update, delete  the database's facts (``db_uuid``)
subscriptions          update, delete          the facts of every database under it
subscription_lines     insert, update, delete  the facts of every database under it
boxes                  update of db_uuid or    the holder (``holder_label``)
                       label, delete
certificates           update, delete          the holder (a revocation among them)
=====================  ======================  =============================================

An update that changes nothing (``lock_database`` sets ``kind = kind`` to take a row lock) is
not a change. The counter is one row updated in the writer's transaction: on PostgreSQL that
row lock orders the writers, so once a reader sees generation N, every change numbered N or
less is committed (no gaps to wait for); on SQLite writers are serial anyway. Certificates
and boxes that are only inserted need no entry: nothing is cached about a holder before it
exists.

A batch migration (SQLite copies the table) drops a table's triggers: a later migration that
alters one of these tables must create its triggers again.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_NONE = "CAST(NULL AS VARCHAR(32))"


def _dbs_of(subscription: str) -> str:
    # Constant DDL text made from the literals below, never from input.
    where = f"FROM databases WHERE {subscription}"
    return f"SELECT uuid AS db_uuid, {_NONE} AS holder_label {where}"


def _row(db_uuid: str, holder_label: str = _NONE) -> str:
    return f"SELECT {db_uuid} AS db_uuid, {holder_label} AS holder_label"


# (table, event, the rows (db_uuid, holder_label) it records, SQLite WHEN, PostgreSQL WHEN)
_TRIGGERS: list[tuple[str, str, str, str | None, str | None]] = [
    ("databases", "INSERT", _row("NEW.uuid"), None, None),
    (
        "databases",
        "UPDATE",
        f"{_row('NEW.uuid')} UNION {_row('OLD.uuid')}",
        "OLD.kind IS NOT NEW.kind OR OLD.subscription_id IS NOT NEW.subscription_id "
        "OR OLD.duplicate_since IS NOT NEW.duplicate_since OR OLD.uuid IS NOT NEW.uuid",
        "OLD.* IS DISTINCT FROM NEW.*",
    ),
    ("databases", "DELETE", _row("OLD.uuid"), None, None),
    (
        "subscriptions",
        "UPDATE",
        _dbs_of("subscription_id = NEW.id"),
        None,
        "OLD.* IS DISTINCT FROM NEW.*",
    ),
    ("subscriptions", "DELETE", _dbs_of("subscription_id = OLD.id"), None, None),
    ("subscription_lines", "INSERT", _dbs_of("subscription_id = NEW.subscription_id"), None, None),
    (
        "subscription_lines",
        "UPDATE",
        _dbs_of("subscription_id IN (OLD.subscription_id, NEW.subscription_id)"),
        None,
        "OLD.* IS DISTINCT FROM NEW.*",
    ),
    ("subscription_lines", "DELETE", _dbs_of("subscription_id = OLD.subscription_id"), None, None),
    (
        "boxes",
        "UPDATE",
        f"{_row('OLD.db_uuid', 'OLD.label')} UNION {_row('NEW.db_uuid', 'NEW.label')}",
        "OLD.db_uuid IS NOT NEW.db_uuid OR OLD.label IS NOT NEW.label",
        "OLD.db_uuid IS DISTINCT FROM NEW.db_uuid OR OLD.label IS DISTINCT FROM NEW.label",
    ),
    ("boxes", "DELETE", _row("OLD.db_uuid", "OLD.label"), None, None),
    (
        "certificates",
        "UPDATE",
        _row("OLD.db_uuid", "OLD.holder_label")
        + " UNION "
        + _row("NEW.db_uuid", "NEW.holder_label"),
        None,
        None,
    ),
    ("certificates", "DELETE", _row("OLD.db_uuid", "OLD.holder_label"), None, None),
]


def _name(table: str, event: str) -> str:
    return f"cache_{table}_{event.lower()}"


def _body(rows: str) -> str:
    """Count one generation up, then record what changed under the new number."""
    # Constant DDL made from the literals above, never from input.
    count = "UPDATE cache_generation SET value = value + 1 WHERE id = 1; "
    insert = "INSERT INTO cache_changes (generation, db_uuid, holder_label) "
    select = f"SELECT g.value, c.db_uuid, c.holder_label FROM cache_generation g, ({rows}) AS c"  # noqa: S608
    return f"{count}{insert}{select} WHERE g.id = 1;"


def upgrade() -> None:
    op.create_table(
        "cache_generation",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    op.execute("INSERT INTO cache_generation (id, value) VALUES (1, 0)")
    op.create_table(
        "cache_changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("generation", sa.BigInteger, nullable=False, index=True),
        sa.Column("db_uuid", sa.String(64), nullable=True),
        sa.Column("holder_label", sa.String(32), nullable=True),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.now(),
            index=True,
        ),
    )
    # For the metrics' "current certificates" (not replaced by a renewal).
    op.create_index("ix_certificates_replaces_id", "certificates", ["replaces_id"])
    # The SHA-256 of the exact CSR a certificate was ordered with: another issuer process
    # then knows that CSR as verified (the caches' warm-up reads it).
    with op.batch_alter_table("certificates") as batch:
        batch.add_column(sa.Column("csr_sha256", sa.String(64), nullable=True))
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, event, rows, when_sqlite, when_pg in _TRIGGERS:
        name = _name(table, event)
        if postgres:
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN {_body(rows)} RETURN NULL; END $$"
            )
            when = f" WHEN ({when_pg})" if when_pg else ""
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW{when} "
                f"EXECUTE FUNCTION {name}()"
            )
        else:
            when = f" WHEN {when_sqlite}" if when_sqlite else ""
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW{when} "
                f"BEGIN {_body(rows)} END"
            )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, event, *_ in _TRIGGERS:
        name = _name(table, event)
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if postgres else ""))
        if postgres:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    with op.batch_alter_table("certificates") as batch:
        batch.drop_column("csr_sha256")
    op.drop_index("ix_certificates_replaces_id", "certificates")
    op.drop_table("cache_changes")
    op.drop_table("cache_generation")
