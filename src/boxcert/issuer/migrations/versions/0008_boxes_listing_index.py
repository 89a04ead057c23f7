"""Boxes indexed in the order the admin API lists them: ``(db_uuid, first_seen, label)``.

A listing of a fleet comes a page at a time, each page the boxes past the last one's key
(:func:`boxcert.issuer.store.removals.list_boxes`): with this index a page is a range read,
not a sort of every box. It replaces the index on ``db_uuid`` alone, whose lookups (a
database's boxes, their count under the cap) it serves as well, so a new box still updates
one index. Plain ``CREATE``/``DROP INDEX``: no batch copy, the triggers of 0006 stay.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_boxes_listing", "boxes", ["db_uuid", "first_seen", "label"])
    op.drop_index("ix_boxes_db_uuid", table_name="boxes")


def downgrade() -> None:
    op.create_index("ix_boxes_db_uuid", "boxes", ["db_uuid"])
    op.drop_index("ix_boxes_listing", table_name="boxes")
