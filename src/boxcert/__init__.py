"""boxcert: browser-trusted HTTPS certificates for IoT boxes on private LANs.

Roles live in subpackages: :mod:`boxcert.box` (the device agent), :mod:`boxcert.issuer`
(the vendor's certificate service), :mod:`boxcert.dns` (the IoT zone's authoritative
server) and :mod:`boxcert.hub` (the customer's server). Shared modules: :mod:`boxcert.codes`
(error codes), :mod:`boxcert.naming` (labels and IP-in-name), :mod:`boxcert.wire`
(the box-issuer exchange) and :mod:`boxcert.pki` (X.509 helpers).
"""

__version__ = "0.1.0"
