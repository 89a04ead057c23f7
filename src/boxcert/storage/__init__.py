"""Persistence shared by the roles that keep a database: the issuer, the DNS server, the hub.

- :mod:`boxcert.storage.engine` — opening a database (SQLite file or any SQLAlchemy URL),
  private data directories, running a role's Alembic migrations.
- :mod:`boxcert.storage.types` — column types (aware UTC datetimes on every backend).
- :mod:`boxcert.storage.txt` — the ``txt_records`` table: ACME DNS-01 values the issuer
  publishes and every DNS server of the zone reads.

A role owns its schema through its own migrations; this package never migrates by itself.
"""

from boxcert.storage.engine import StorageError

__all__ = ["StorageError"]
