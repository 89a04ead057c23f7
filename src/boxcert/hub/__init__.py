"""The hub: the customer's server that boxes connect to.

It pairs boxes by one-time token (handing each the database UUID, the contract code, the
issuer, the zone and a secret of its own), takes their reports, and shows the admin every box
with its HTTPS URL, certificate end date and status. Modules:

- ``service`` — configuration, pairing, reports, the admin account (the core, synchronous);
- ``store``/``models``/``db``/``migrations`` — its SQL database and schema;
- ``view`` — what a box looks like on a page (days left, silent, remedy), pure;
- ``app`` — the HTTP boundary (box endpoints, pages, JSON API); ``server`` runs it;
- ``issuer_info`` — reading the zone from the issuer; ``issuer_report`` — the signed report
  of the database and this installation's fingerprint, at start and daily;
  ``cli`` — ``boxcert hub …``.

The protocol with boxes lives in :mod:`boxcert.wire.hub`; the pages use :mod:`boxcert.web`.
"""
