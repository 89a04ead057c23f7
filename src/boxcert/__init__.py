"""boxcert: browser-trusted HTTPS certificates for IoT boxes on private LANs.

Roles live in subpackages: :mod:`boxcert.box` (the device agent), :mod:`boxcert.issuer` (the
vendor's certificate service), :mod:`boxcert.dns` (the IoT zone's authoritative server) and
:mod:`boxcert.hub` (the customer's server); no role imports another's. What they share:
:mod:`boxcert.codes` (the error-code table), :mod:`boxcert.naming` (labels and IP-in-name),
:mod:`boxcert.wire` (every message between roles: box-issuer, box-hub, hub-issuer, standing),
:mod:`boxcert.pki` (X.509 helpers), :mod:`boxcert.storage` (engines and migrations),
:mod:`boxcert.web` (sessions, CSRF, login throttle, headers), :mod:`boxcert.httpserver`,
:mod:`boxcert.secrets`, :mod:`boxcert.renewal` and :mod:`boxcert.clock`. See
docs/architecture.md for the module map.
"""

__version__ = "0.1.0"
