"""A database's own box cap: ``databases.max_boxes`` (None: the issuer's ``--max-boxes``).

A plain ``ADD COLUMN`` (no batch copy), so the change-feed triggers of migration 0006 on
``databases`` stay in place. The cap is not one of the facts the hot cache keeps: a new box
reads it under the database's row lock, in the transaction that counts and inserts (see
:mod:`boxcert.issuer.registration`), so a changed cap applies to the next new box on every
issuer at once.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("databases", sa.Column("max_boxes", sa.Integer, nullable=True))


def downgrade() -> None:
    # Not a batch copy, which would drop the table's triggers; SQLite has DROP COLUMN
    # since 3.35.
    op.execute("ALTER TABLE databases DROP COLUMN max_boxes")
