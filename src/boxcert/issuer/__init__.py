"""The issuer: the vendor's certificate service.

It authenticates a box's database credentials, checks eligibility against subscriptions,
obtains certificates from a certificate authority backend, caches them, and revokes them.

Request path (``POST /iot/x509``)::

    app ──► service ──► eligibility (pure) ──► csr ──► registration ──► obtain ──► ca/
              │            (credentials first: nothing else runs for a wrong code)   │
              └──────────────► events (EventBus) ◄── limits ◄─────────────────────────┘

- :mod:`.app` — HTTP boundary (Starlette): JSON in and out, every error translated here.
- :mod:`.service` — the coordinator: the order of the steps above, nothing else.
- :mod:`.eligibility` — who may have a certificate: a pure function of the stored facts.
- :mod:`.csr` — checks on a box's CSR; every parse error a 400.
- :mod:`.registration` — boxes per database: the cap, and a box never moving database.
- :mod:`.obtain` — cached certificate or one CA order per holder (locks, look again, store).
- :mod:`.limits` — the CA's pauses (stored, shared by issuers) and our weekly cap.
- :mod:`.revocation` — revoking a certificate once, under the holder's issuance lock, with a
  reason (operator, admin API, lifecycle).
- :mod:`.lifecycle` — the job in ``serve``: certificates follow the subscription (grace period,
  revocation, restore); :mod:`.crl` — the local CA's CRL at ``/ca/crl``.
- :mod:`.standing` — a box's "does my certificate still stand?"; :mod:`.duplicates` — hubs'
  signed reports, duplicate marking and resolution.
- :mod:`.audit` — the audit log (event bus → ``audit_log``).
- :mod:`.site` — one port, three apps: :mod:`.app` (boxes, hubs), :mod:`.admin_api` with
  :mod:`.admin_schema` (``/api/v1``, ``/openapi.json``; :mod:`.tokens`) and :mod:`.portal`
  (``/my/…``); :mod:`.views` — what the portal and the API show of a database.
- :mod:`.events` — typed events and their bus: the service and the lifecycle jobs
  publish; audit, metrics and the CRL cache (:mod:`.crl`) subscribe.
- :mod:`.locks` — the issuance lock in the database, for a cluster of issuers.
- :mod:`.store` — every SQL statement; typed rows out. :mod:`.models` — the tables;
  :mod:`.migrations` — their history. :mod:`.db` — engine, sessions, running SQL off the loop.
- :mod:`.contract_codes` — contract codes as keyed hashes.
- :mod:`.ca` — CA backends behind one Protocol (local CA, ACME with DNS-01).
- :mod:`.config` — settings that shape decisions; :mod:`.server` — assembling and serving;
  :mod:`.cli`, :mod:`.cli_admin`, :mod:`.cli_access` — ``boxcert issuer …``;
  :mod:`.errors` — the exception tree.
"""
