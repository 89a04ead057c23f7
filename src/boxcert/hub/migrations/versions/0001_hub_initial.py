"""The hub's first schema: settings, pairing tokens, boxes (every table named hub_…).

Revision ID: hub_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "hub_0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "hub_settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "hub_pairing_tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("secret_hash", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("used_at", TS, nullable=True),
        sa.Column("used_by", sa.String(128), nullable=True),
    )
    op.create_table(
        "hub_boxes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("identifier", sa.String(128), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("url", sa.String(300), nullable=False),
        sa.Column("certificate_end_date", TS, nullable=True),
        sa.Column("state", sa.String(16), nullable=True),
        sa.Column("error_code", sa.String(100), nullable=True),
        sa.Column("detail", sa.String(500), nullable=False),
        sa.Column("added_at", TS, nullable=False),
        sa.Column("last_seen", TS, nullable=True),
        sa.Column("secret_id", sa.String(32), nullable=True, unique=True),
        sa.Column("secret_hash", sa.String(200), nullable=True),
    )


def downgrade() -> None:
    for table in ("hub_boxes", "hub_pairing_tokens", "hub_settings"):
        op.drop_table(table)
