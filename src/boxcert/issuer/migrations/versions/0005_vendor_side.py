"""The vendor's side: revocation reasons, entitlement lapses, hub sightings and duplicates,
the audit log, admin API tokens, portal accounts and sessions, the hubs' report key.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("certificates") as batch:
        batch.add_column(sa.Column("revocation_reason", sa.String(32), nullable=True))
        batch.add_column(sa.Column("revocation_code", sa.String(64), nullable=True))
        batch.add_column(sa.Column("revocation_message", sa.Text, nullable=True))
    op.create_index("ix_certificates_serial", "certificates", ["serial_hex"])
    with op.batch_alter_table("databases") as batch:
        batch.add_column(sa.Column("duplicate_since", TS, nullable=True))
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(sa.Column("report_key_sealed", sa.String(200), nullable=True))
    op.create_table(
        "entitlement_lapses",
        sa.Column("db_uuid", sa.String(64), primary_key=True),
        sa.Column("since", TS, nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
    )
    op.create_table(
        "hub_sightings",
        sa.Column("db_uuid", sa.String(64), primary_key=True),
        sa.Column("fingerprint", sa.String(64), primary_key=True),
        sa.Column("first_seen", TS, nullable=False),
        sa.Column("last_seen", TS, nullable=False),
        sa.Column("last_reported_at", TS, nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", TS, nullable=False, index=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("db_uuid", sa.String(64), nullable=True),
        sa.Column("subscription_id", sa.Integer, nullable=True, index=True),
        sa.Column("code", sa.String(64), nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_log_db_at", "audit_log", ["db_uuid", "at"])
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("secret_hash", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_used_at", TS, nullable=True),
    )
    op.create_table(
        "portal_accounts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(254), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "portal_account_subscriptions",
        sa.Column("account_id", sa.Integer, sa.ForeignKey("portal_accounts.id"), primary_key=True),
        sa.Column(
            "subscription_id",
            sa.Integer,
            sa.ForeignKey("subscriptions.id"),
            primary_key=True,
            index=True,
        ),
    )
    op.create_table(
        "portal_sessions",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("account_id", sa.String(64), nullable=False, index=True),
        sa.Column("stamp", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_seen", TS, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "portal_sessions",
        "portal_account_subscriptions",
        "portal_accounts",
        "api_tokens",
        "audit_log",
        "hub_sightings",
        "entitlement_lapses",
    ):
        op.drop_table(table)
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("report_key_sealed")
    with op.batch_alter_table("databases") as batch:
        batch.drop_column("duplicate_since")
    op.drop_index("ix_certificates_serial", "certificates")
    with op.batch_alter_table("certificates") as batch:
        batch.drop_column("revocation_message")
        batch.drop_column("revocation_code")
        batch.drop_column("revocation_reason")
