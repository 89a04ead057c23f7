"""A local certificate authority: a root and an intermediate kept in the issuer's data dir.

Trusted only by devices that add its root (``boxcert issuer ca-bundle``); meant for demos,
tests and closed fleets. The intermediate is name-constrained to the IoT zone, so adding the
root to a trust store cannot vouch for any other name.

Revocation: when ``crl_url`` is set, every leaf names it as its CRL distribution point, and
:meth:`LocalCA.revocation_list` signs the CRL the issuer serves there (the revoked
certificates themselves are kept in the issuer's store, which every issuer shares).
"""

from __future__ import annotations

import fcntl
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from boxcert import pki
from boxcert.clock import Clock, system_clock
from boxcert.issuer.ca import IssuedCertificate, RevokedEntry
from boxcert.issuer.errors import CertificateAuthorityError

BACKDATE = timedelta(hours=1)  # tolerate boxes whose clock runs a little behind
CRL_LIFETIME = timedelta(days=1)  # nextUpdate: clients fetch a fresh list at least daily


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "boxcert local CA"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


class LocalCA:
    name = "local"
    limits_per_domain = False  # our own CA: no weekly limit to stay under

    def __init__(
        self,
        directory: Path,
        zone: str,
        *,
        leaf_lifetime: timedelta = timedelta(days=90),
        clock: Clock = system_clock,
        crl_url: str | None = None,
        create: bool = True,
    ) -> None:
        """Load the CA in ``directory``; make it first when there is none and ``create``.

        Raises CertificateAuthorityError when there is none and not ``create`` (commands that
        only read, such as ``ca-bundle`` and ``revoke``, never make a CA), and when its
        intermediate is name-constrained to another zone than ``zone`` (every box would refuse
        what it issues).
        """
        self.directory = directory
        self.create = create
        self.zone = zone
        self.leaf_lifetime = leaf_lifetime
        self.clock = clock
        # Where the issuer publishes this CA's CRL; may be set once the server's URL is known.
        self.crl_url = crl_url
        self._root, self._intermediate, self._intermediate_key = self._load_or_create()
        self._check_zone()

    @property
    def root_pem(self) -> str:
        return pki.chain_pem([self._root])

    @property
    def intermediate(self) -> x509.Certificate:
        return self._intermediate

    def _load_or_create(
        self,
    ) -> tuple[x509.Certificate, x509.Certificate, pki.PrivateKey]:
        d = self.directory
        d.mkdir(parents=True, exist_ok=True)
        with open(d / ".lock", "a") as lock:
            # Two issuers starting on one data dir must not both create a CA.
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (d / "intermediate.pem").exists():
                if not self.create:
                    raise CertificateAuthorityError(
                        f"there is no local CA in {d}: `boxcert issuer serve --data "
                        f"{d.parent}` makes it at its first start (is --data right?)"
                    )
                self._create(d)
            try:
                root = x509.load_pem_x509_certificate((d / "root.pem").read_bytes())
                inter = x509.load_pem_x509_certificate((d / "intermediate.pem").read_bytes())
                key = pki.load_private_key((d / "intermediate.key").read_bytes())
            except (OSError, ValueError) as err:
                raise CertificateAuthorityError(f"local CA files in {d} unusable: {err}") from err
        return root, inter, key

    def permitted_zones(self) -> list[str]:
        """The DNS subtrees the intermediate may issue for (its name constraint)."""
        try:
            constraints = self._intermediate.extensions.get_extension_for_class(
                x509.NameConstraints
            ).value
        except x509.ExtensionNotFound:
            return []
        return [
            str(n.value).lower().lstrip(".")
            for n in constraints.permitted_subtrees or []
            if isinstance(n, x509.DNSName)
        ]

    def _check_zone(self) -> None:
        zones = self.permitted_zones()
        if not zones or any(self.zone == z or self.zone.endswith("." + z) for z in zones):
            return
        raise CertificateAuthorityError(
            f"the local CA in {self.directory} may only issue under {', '.join(zones)}, not "
            f"{self.zone}: boxes would refuse every certificate. Use --zone {zones[0]}, or "
            "another --data directory for the new zone."
        )

    def _create(self, d: Path) -> None:
        now = self.clock()
        root_key = ec.generate_private_key(ec.SECP256R1())
        root_name = _name(f"boxcert root {secrets.token_hex(4)}")
        root = (
            x509.CertificateBuilder()
            .subject_name(root_name)
            .issuer_name(root_name)
            .public_key(root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), False)
            .sign(root_key, hashes.SHA256())
        )
        inter_key = ec.generate_private_key(ec.SECP256R1())
        inter = (
            x509.CertificateBuilder()
            .subject_name(_name("boxcert intermediate"))
            .issuer_name(root_name)
            .public_key(inter_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + timedelta(days=1825))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
            )
            .add_extension(
                x509.NameConstraints(
                    permitted_subtrees=[x509.DNSName(self.zone)], excluded_subtrees=None
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(inter_key.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False
            )
            .sign(root_key, hashes.SHA256())
        )
        # The root key signs only the intermediate; it is kept so the CA can be re-chained.
        pki.atomic_write(d / "root.key", pki.private_key_pem(root_key), 0o600)
        pki.atomic_write(d / "intermediate.key", pki.private_key_pem(inter_key), 0o600)
        pki.atomic_write(d / "root.pem", pki.chain_pem([root]).encode())
        pki.atomic_write(d / "intermediate.pem", pki.chain_pem([inter]).encode())

    async def issue(
        self,
        csr: x509.CertificateSigningRequest,
        names: tuple[str, ...],
        replaces: str | None = None,
    ) -> IssuedCertificate:
        return self.sign(csr, names, replaces)

    def sign(
        self,
        csr: x509.CertificateSigningRequest,
        names: tuple[str, ...],
        replaces: str | None = None,
    ) -> IssuedCertificate:
        """:meth:`issue` without the wait: a signature here, in well under a millisecond."""
        public_key = csr.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            raise CertificateAuthorityError("unsupported key type")
        now = self.clock()
        not_before = now - BACKDATE
        not_after = now + self.leaf_lifetime
        usage = x509.KeyUsage(
            digital_signature=True,
            content_commitment=False,
            key_encipherment=isinstance(public_key, rsa.RSAPublicKey),
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=False,
            crl_sign=False,
            encipher_only=False,
            decipher_only=False,
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self._intermediate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self._intermediate_key.public_key()
                ),
                False,
            )
        )
        if self.crl_url:
            point = x509.DistributionPoint(
                full_name=[x509.UniformResourceIdentifier(self.crl_url)],
                relative_name=None,
                reasons=None,
                crl_issuer=None,
            )
            builder = builder.add_extension(x509.CRLDistributionPoints([point]), False)
        leaf = builder.sign(self._intermediate_key, hashes.SHA256())
        return IssuedCertificate(
            chain_pem=pki.chain_pem([leaf, self._intermediate]),
            serial_hex=format(leaf.serial_number, "x"),
            not_before=leaf.not_valid_before_utc,
            not_after=leaf.not_valid_after_utc,
            subject_cn=names[0],
        )

    async def revoke(
        self, chain_pem: str, reason: x509.ReasonFlags = x509.ReasonFlags.unspecified
    ) -> None:
        """Nothing to do here: the issuer's store records it, and the CRL lists it."""

    def revocation_list(self, revoked: Sequence[RevokedEntry], now: datetime) -> bytes:
        """The intermediate's CRL (DER) listing ``revoked``, valid for a day."""
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self._intermediate.subject)
            .last_update(now - BACKDATE)
            .next_update(now + CRL_LIFETIME)
            .add_extension(x509.CRLNumber(int(now.timestamp() * 1000)), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self._intermediate_key.public_key()
                ),
                False,
            )
        )
        for entry in revoked:
            item = (
                x509.RevokedCertificateBuilder()
                .serial_number(int(entry.serial_hex, 16))
                .revocation_date(entry.revoked_at)
            )
            if entry.reason is not x509.ReasonFlags.unspecified:  # RFC 5280 §5.3.1
                item = item.add_extension(x509.CRLReason(entry.reason), False)
            builder = builder.add_revoked_certificate(item.build())
        crl = builder.sign(self._intermediate_key, hashes.SHA256())
        return crl.public_bytes(serialization.Encoding.DER)

    async def suggested_renewal(self, chain_pem: str) -> datetime | None:
        return None

    async def close(self) -> None:
        return None


def read_root_pem(directory: Path) -> str:
    """The root certificate of the local CA in ``directory``, without loading or making keys."""
    try:
        pem = (directory / "root.pem").read_text(encoding="ascii")
    except FileNotFoundError as err:
        raise CertificateAuthorityError(
            f"there is no local CA in {directory}: `boxcert issuer serve --data "
            f"{directory.parent}` makes it at its first start (is --data right?)"
        ) from err
    except (OSError, UnicodeDecodeError) as err:
        raise CertificateAuthorityError(f"cannot read {directory / 'root.pem'}: {err}") from err
    pki.load_chain(pem)  # a damaged file is an error here, not a surprise on the box
    return pem
