"""Alembic environment: migrations run in-process on a connection handed in by the hub.

The hub's revisions are recorded in ``hub_alembic_version``, so a database shared with another
role (which keeps its own ``alembic_version``) never mixes the two histories.
"""

from alembic import context

from boxcert.hub.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,
    version_table="hub_alembic_version",
)
with context.begin_transaction():
    context.run_migrations()
