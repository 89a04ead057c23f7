"""Alembic migrations of the hub's database (script location ``boxcert.hub:migrations``)."""
