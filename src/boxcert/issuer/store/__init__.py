"""The issuer's storage: every SQL statement and every model object is made here.

Each function takes an open :class:`~sqlalchemy.orm.Session` (the caller owns the transaction)
and returns typed rows (:mod:`.rows`), never ORM objects, so nothing outside this package
builds or mutates a model.

- :mod:`.accounts` — subscriptions and databases: administration, and the facts eligibility
  needs (one statement per request).
- :mod:`.boxes` — boxes (keys) and their database.
- :mod:`.certificates` — issued certificates: the cache, the weekly count, revocation.
- :mod:`.locks` — rows of the issuance locks (the waiting is :mod:`boxcert.issuer.locks`).
- :mod:`.pauses` — CA pauses ("not before") per registered domain, shared by every issuer.
- :mod:`.settings` — per-installation secrets (database-label key, contract-code key, the
  portal's CSRF key).
- :mod:`.lapses` — entitlement lapses; :mod:`.sightings` — hub installations per database.
- :mod:`.removals` — removing a database, a subscription or a box (what goes, what stays),
  and the box listing.
- :mod:`.audit` — the audit log; :mod:`.tokens` — admin API tokens; :mod:`.portal` — portal
  accounts and sessions.
"""
