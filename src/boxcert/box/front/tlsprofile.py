"""The TLS settings every server context of the front gets: Mozilla's "intermediate" profile.

TLS 1.2 and 1.3 only; for TLS 1.2 the AEAD suites with forward secrecy that the profile lists
(its current version dropped the finite-field DHE suites, and so do we: they need DH parameters
and no client we serve lacks ECDHE); TLS 1.3 keeps OpenSSL's suites, which are the profile's.
The client's preference order is honoured, as the profile says. ALPN offers ``http/1.1``.
"""

from __future__ import annotations

import ssl

INTERMEDIATE_TLS12_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
)
ALPN = ("http/1.1",)


def server_context() -> ssl.SSLContext:
    """A server context with the profile and no certificate yet."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(":".join(INTERMEDIATE_TLS12_CIPHERS))
    context.set_alpn_protocols(list(ALPN))
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    return context
