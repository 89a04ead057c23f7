"""Certificate authority backends behind one small interface.

Contract of :class:`CertificateAuthority`:

- ``issue(csr, names, replaces)`` returns a certificate for exactly ``names`` and the CSR's
  public key, with the chain up to (not including) the root, leaf first. It may take seconds
  (an ACME order) and is awaited; it raises :class:`~boxcert.issuer.errors.RateLimited` when the
  CA says "not now" and :class:`~boxcert.issuer.errors.CertificateAuthorityError` on any other
  failure, never hangs past its own deadline. ``replaces`` names the certificate being renewed,
  for CAs that exempt renewals from limits (ACME ARI ``replaces``).
- ``revoke(chain_pem, reason)`` revokes a certificate this CA issued, with an RFC 5280 reason
  (the lifecycle uses ``cessationOfOperation``); idempotent.
- ``revocation_list(revoked, now)`` returns the CA's CRL (DER) listing ``revoked``, signed by
  the CA, for the issuer to publish at the URL its certificates name (CRL distribution point);
  None when the CA publishes its own (a public ACME CA).
- ``suggested_renewal(chain_pem)`` returns the CA's suggested renewal start (ARI), or None when it
  offers none, in which case the caller applies the last-third rule.
- ``limits_per_domain`` is True when the CA limits new certificates per registered domain (a
  public ACME CA such as Let's Encrypt): the issuer then applies its own weekly cap first, so
  boxes are refused by us before the CA refuses us. A private CA has no such limit.
- ``name`` identifies the backend and its CA in stored rows (certificates, pauses).

A CA that signs in this process (the local CA) is also a :class:`SigningAuthority`: ``sign``
is ``issue`` without the wait (no network, no rate limit, well under a millisecond), so the
issuer can order and store in one transaction (:mod:`boxcert.issuer.inline`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from cryptography import x509

# RFC 5280 §5.3.1 CRLReason codes, as ACME's revokeCert takes them (RFC 8555 §7.6).
REASON_CODES: dict[x509.ReasonFlags, int] = {
    x509.ReasonFlags.unspecified: 0,
    x509.ReasonFlags.key_compromise: 1,
    x509.ReasonFlags.ca_compromise: 2,
    x509.ReasonFlags.affiliation_changed: 3,
    x509.ReasonFlags.superseded: 4,
    x509.ReasonFlags.cessation_of_operation: 5,
    x509.ReasonFlags.certificate_hold: 6,
    x509.ReasonFlags.remove_from_crl: 8,
    x509.ReasonFlags.privilege_withdrawn: 9,
    x509.ReasonFlags.aa_compromise: 10,
}


@dataclass(frozen=True, slots=True)
class RevokedEntry:
    """A revoked certificate as a CRL lists it."""

    serial_hex: str
    revoked_at: datetime
    reason: x509.ReasonFlags


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    chain_pem: str
    serial_hex: str
    not_before: datetime
    not_after: datetime
    renew_after: datetime | None = None
    ari_id: str | None = None
    subject_cn: str | None = None  # the leaf's CN when the CA knows it (None: read the chain)


class CertificateAuthority(Protocol):
    name: str
    limits_per_domain: bool

    async def issue(
        self,
        csr: x509.CertificateSigningRequest,
        names: tuple[str, ...],
        replaces: str | None = None,
    ) -> IssuedCertificate: ...

    async def revoke(
        self, chain_pem: str, reason: x509.ReasonFlags = x509.ReasonFlags.unspecified
    ) -> None: ...

    def revocation_list(self, revoked: Sequence[RevokedEntry], now: datetime) -> bytes | None: ...

    async def suggested_renewal(self, chain_pem: str) -> datetime | None: ...

    async def close(self) -> None: ...


@runtime_checkable
class SigningAuthority(CertificateAuthority, Protocol):
    """A CA that signs in this process: ``sign`` returns what ``issue`` would, at once, and
    raises only :class:`~boxcert.issuer.errors.CertificateAuthorityError`."""

    def sign(
        self,
        csr: x509.CertificateSigningRequest,
        names: tuple[str, ...],
        replaces: str | None = None,
    ) -> IssuedCertificate: ...
