"""Alembic environment: migrations run in-process on a connection handed in by the issuer."""

from alembic import context

from boxcert.issuer.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
