"""Certificate authority backends behind one small interface.

Contract of :class:`CertificateAuthority`:

- ``issue(csr, names, replaces)`` returns a certificate for exactly ``names`` and the CSR's
  public key, with the chain up to (not including) the root, leaf first. It may take seconds
  (an ACME order) and is awaited; it raises :class:`~boxcert.issuer.errors.RateLimited` when the
  CA says "not now" and :class:`~boxcert.issuer.errors.CertificateAuthorityError` on any other
  failure, never hangs past its own deadline. ``replaces`` names the certificate being renewed,
  for CAs that exempt renewals from limits (ACME ARI ``replaces``).
- ``revoke(chain_pem)`` revokes a certificate this CA issued; idempotent.
- ``suggested_renewal(chain_pem)`` returns the CA's suggested renewal start (ARI), or None when it
  offers none, in which case the caller applies the last-third rule.
- ``limits_per_domain`` is True when the CA limits new certificates per registered domain (a
  public ACME CA such as Let's Encrypt): the issuer then applies its own weekly cap first, so
  boxes are refused by us before the CA refuses us. A private CA has no such limit.
- ``name`` identifies the backend and its CA in stored rows (certificates, pauses).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from cryptography import x509


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    chain_pem: str
    serial_hex: str
    not_before: datetime
    not_after: datetime
    renew_after: datetime | None = None
    ari_id: str | None = None


class CertificateAuthority(Protocol):
    name: str
    limits_per_domain: bool

    async def issue(
        self,
        csr: x509.CertificateSigningRequest,
        names: tuple[str, ...],
        replaces: str | None = None,
    ) -> IssuedCertificate: ...

    async def revoke(self, chain_pem: str) -> None: ...

    async def suggested_renewal(self, chain_pem: str) -> datetime | None: ...

    async def close(self) -> None: ...
