"""Initial schema: databases, subscriptions, boxes, certificates, TXT records, settings.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("code", sa.String(128), primary_key=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "subscription_lines",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "subscription_code",
            sa.String(128),
            sa.ForeignKey("subscriptions.code"),
            nullable=False,
            index=True,
        ),
        sa.Column("product_name", sa.String(256), nullable=False),
    )
    op.create_table(
        "databases",
        sa.Column("uuid", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column(
            "subscription_code",
            sa.String(128),
            sa.ForeignKey("subscriptions.code"),
            nullable=False,
            index=True,
        ),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "boxes",
        sa.Column("label", sa.String(32), primary_key=True),
        sa.Column("db_uuid", sa.String(64), nullable=False, index=True),
        sa.Column("identifier", sa.String(256), nullable=False),
        sa.Column("first_seen", TS, nullable=False),
        sa.Column("last_seen", TS, nullable=False),
    )
    op.create_table(
        "certificates",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("holder_label", sa.String(32), nullable=False),
        sa.Column("db_uuid", sa.String(64), nullable=False, index=True),
        sa.Column("names", sa.Text, nullable=False),
        sa.Column("chain_pem", sa.Text, nullable=False),
        sa.Column("private_key_pem", sa.Text, nullable=True),
        sa.Column("serial_hex", sa.String(64), nullable=False),
        sa.Column("ca_name", sa.String(32), nullable=False),
        sa.Column("registered_domain", sa.String(255), nullable=False, index=True),
        sa.Column("not_before", TS, nullable=False),
        sa.Column("not_after", TS, nullable=False),
        sa.Column("renew_after", TS, nullable=True),
        sa.Column("ari_id", sa.String(255), nullable=True),
        sa.Column("issued_at", TS, nullable=False, index=True),
        sa.Column("revoked_at", TS, nullable=True),
    )
    op.create_index("ix_certificates_holder", "certificates", ["holder_label", "issued_at"])
    op.create_table(
        "txt_records",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False, index=True),
        sa.Column("value", sa.String(255), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
    )
    op.create_table(
        "settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "settings",
        "txt_records",
        "certificates",
        "boxes",
        "databases",
        "subscription_lines",
        "subscriptions",
    ):
        op.drop_table(table)
