"""ACME (RFC 8555) backend: any ACME CA, DNS-01 answered by our own authoritative DNS server.

Uses certbot's ``acme`` library (synchronous); each order runs in a worker thread. The account
key is made once and stored 0600 in the data dir; on restart the CA finds the account again
from the key (RFC 8555 §7.3.1), so nothing else needs keeping.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from acme import challenges, client, errors, messages
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from josepy.errors import DeserializationError
from josepy.jwa import ES256
from josepy.jwk import JWKEC

from boxcert import pki
from boxcert.issuer.ca import REASON_CODES, IssuedCertificate, RevokedEntry
from boxcert.issuer.ca.acme_client import (
    NewOrderReplacing,
    PatientNetwork,
    ari_cert_id,
    offers_ari,
    retry_after_of,
)
from boxcert.issuer.ca.dns01 import TxtStore, wait_until_served
from boxcert.issuer.errors import CertificateAuthorityError, RateLimited

log = logging.getLogger(__name__)
USER_AGENT = "boxcert-issuer"


@dataclass(frozen=True)
class AcmeOptions:
    directory_url: str
    ca_bundle: str | None = None  # verifies the ACME server's TLS; None: system store
    email: str | None = None
    dns_servers: Sequence[tuple[str, int]] = field(default_factory=tuple)
    propagation_timeout: float = 60.0
    order_timeout: float = 120.0


def _directory_tag(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:12]


class AcmeCA:
    limits_per_domain = True  # public ACME CAs count certificates per registered domain

    def __init__(self, state_dir: Path, options: AcmeOptions, txt: TxtStore) -> None:
        # One name per directory URL: moving from a staging CA to production must not keep
        # serving the staging CA's cached certificates.
        self.name = f"acme-{_directory_tag(options.directory_url)}"
        self.state_dir = state_dir
        self.options = options
        self.txt = txt
        self._directory: messages.Directory | None = None
        self._account: messages.RegistrationResource | None = None
        self._key = self._load_or_create_key()

    # --- account ------------------------------------------------------------------------

    def _key_path(self) -> Path:
        return self.state_dir / f"account-{_directory_tag(self.options.directory_url)}.json"

    def _load_or_create_key(self) -> JWKEC:
        path = self._key_path()
        try:
            return JWKEC.json_loads(path.read_text())
        except FileNotFoundError:
            pass
        except (OSError, ValueError, DeserializationError) as err:
            raise CertificateAuthorityError(f"ACME account key {path} unusable: {err}") from err
        key = JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
        pki.atomic_write(path, json.dumps(key.to_json()).encode(), 0o600)
        return key

    def _client(self) -> client.ClientV2:
        net = PatientNetwork(self._key, alg=ES256, user_agent=USER_AGENT, timeout=30)
        # requests takes a CA bundle path where the library's signature says bool.
        net.verify_ssl = self.options.ca_bundle or True  # type: ignore[assignment]
        if self._directory is None:
            self._directory = client.ClientV2.get_directory(self.options.directory_url, net)
        acme_client = client.ClientV2(self._directory, net)
        if self._account is None:
            registration = messages.NewRegistration.from_data(
                email=self.options.email, terms_of_service_agreed=True
            )
            try:
                self._account = acme_client.new_account(registration)
            except errors.ConflictError as existing:
                # The key already has an account: RFC 8555 §7.3.1 answers with its URL.
                self._account = messages.RegistrationResource(
                    uri=existing.location, body=messages.Registration()
                )
            log.info("ACME account %s", self._account.uri)
        net.account = self._account
        return acme_client

    # --- issuance -----------------------------------------------------------------------

    async def issue(
        self,
        csr: x509.CertificateSigningRequest,
        names: tuple[str, ...],
        replaces: str | None = None,
    ) -> IssuedCertificate:
        return await asyncio.to_thread(self._translated, self._issue, csr, names, replaces)

    def _translated(self, fn: Any, *args: Any) -> Any:
        """Run ``fn`` and turn the library's exceptions into ours."""
        net: list[PatientNetwork] = []
        try:
            return fn(net, *args)
        except messages.Error as err:
            if err.code == "rateLimited":
                raise RateLimited(str(err.detail or err), retry_after_of(net)) from err
            raise CertificateAuthorityError(f"{err.code or 'error'}: {err.detail or err}") from err
        except errors.ValidationError as err:
            reasons = [
                str(ch.error.detail)
                for authz in err.failed_authzrs
                for ch in authz.body.challenges
                if ch.error is not None
            ]
            raise CertificateAuthorityError(
                "the CA could not validate: " + ("; ".join(reasons) or "no reason given")
            ) from err
        except errors.TimeoutError as err:
            raise CertificateAuthorityError(
                f"the CA did not finish the order within {self.options.order_timeout:.0f} s"
            ) from err
        except requests.RequestException as err:
            raise CertificateAuthorityError(f"the CA is unreachable: {err}") from err
        except errors.Error as err:
            raise CertificateAuthorityError(f"ACME error: {err}") from err
        except CertificateAuthorityError:
            raise
        except Exception as err:
            # Whatever else goes wrong in an order is the CA path failing, not the request:
            # the box gets a refusal that says so, and the traceback goes to our log.
            log.exception("ACME order failed")
            raise CertificateAuthorityError(f"ACME order failed: {type(err).__name__}") from err

    def _issue(
        self,
        net_out: list[PatientNetwork],
        csr: x509.CertificateSigningRequest,
        names: tuple[str, ...],
        replaces: str | None,
    ) -> IssuedCertificate:
        acme_client = self._client()
        assert isinstance(acme_client.net, PatientNetwork)
        net_out.append(acme_client.net)
        csr_pem = csr.public_bytes(serialization.Encoding.PEM)
        order = self._new_order(acme_client, csr_pem, replaces)
        published: list[tuple[str, str]] = []
        try:
            answers = []
            for authz in order.authorizations:
                if authz.body.status == messages.STATUS_VALID:
                    continue  # reused authorization
                challb = next(
                    (c for c in authz.body.challenges if isinstance(c.chall, challenges.DNS01)),
                    None,
                )
                if challb is None:
                    raise CertificateAuthorityError("the CA offered no dns-01 challenge")
                name = challb.chall.validation_domain_name(authz.body.identifier.value)
                value = challb.chall.validation(self._key)
                self.txt.publish(name, value)
                published.append((name, value))
                answers.append(challb)
            self._wait_for_dns(published)
            for challb in answers:
                acme_client.answer_challenge(challb, challb.response(self._key))
            deadline = dt.datetime.now() + dt.timedelta(seconds=self.options.order_timeout)
            order = acme_client.poll_and_finalize(order, deadline)
        finally:
            for name, value in published:
                try:
                    self.txt.remove(name, value)
                except Exception:  # clean-up must not hide the real outcome
                    log.exception("could not remove TXT %s", name)
        chain = pki.load_chain(order.fullchain_pem)
        leaf = chain[0]
        return IssuedCertificate(
            chain_pem=pki.chain_pem(chain),
            serial_hex=format(leaf.serial_number, "x"),
            not_before=leaf.not_valid_before_utc,
            not_after=leaf.not_valid_after_utc,
            renew_after=self._suggested_renewal(acme_client, order.fullchain_pem),
            ari_id=ari_cert_id(leaf),
        )

    def _new_order(
        self, acme_client: client.ClientV2, csr_pem: bytes, replaces: str | None
    ) -> messages.OrderResource:
        """newOrder, with ARI's ``replaces`` (RFC 9773 §5) when renewing at a CA that offers
        ARI; certbot's ``new_order`` has no such field, so the order is posted here through
        the client's public network and authorization calls."""
        if not replaces or not offers_ari(acme_client):
            return acme_client.new_order(csr_pem)
        csr = x509.load_pem_x509_csr(csr_pem)
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        identifiers = [
            messages.Identifier(typ=messages.IDENTIFIER_FQDN, value=n)
            for n in san.get_values_for_type(x509.DNSName)
        ]
        directory = acme_client.directory
        response = acme_client.net.post(
            directory["newOrder"],
            NewOrderReplacing(identifiers=identifiers, replaces=replaces),
            new_nonce_url=directory["newNonce"],
        )
        order = messages.Order.from_json(response.json())
        authorizations = [
            acme_client.poll(
                messages.AuthorizationResource(uri=url, body=messages.Authorization())
            )[0]
            for url in order.authorizations
        ]
        return messages.OrderResource(
            body=order,
            uri=response.headers.get("Location"),
            authorizations=authorizations,
            csr_pem=csr_pem,
        )

    def _wait_for_dns(self, published: list[tuple[str, str]]) -> None:
        if not self.options.dns_servers:
            return
        by_name: dict[str, set[str]] = {}
        for name, value in published:
            by_name.setdefault(name, set()).add(value)
        for name, values in by_name.items():
            served = wait_until_served(
                self.options.dns_servers, name, values, timeout=self.options.propagation_timeout
            )
            if not served:
                raise CertificateAuthorityError(
                    f"our DNS servers did not serve {name} within "
                    f"{self.options.propagation_timeout:.0f} s"
                )

    def _suggested_renewal(self, acme_client: client.ClientV2, pem: str) -> dt.datetime | None:
        if not offers_ari(acme_client):
            return None
        try:
            when, _ = acme_client.renewal_time(pem.encode())
        except errors.ARIError as err:
            log.info("no renewal info: %s", err)
            return None
        if when is None:
            return None
        return when if when.tzinfo else when.replace(tzinfo=dt.UTC)

    async def suggested_renewal(self, chain_pem: str) -> dt.datetime | None:
        def fetch(net_out: list[PatientNetwork]) -> dt.datetime | None:
            return self._suggested_renewal(self._client(), chain_pem)

        result: dt.datetime | None = await asyncio.to_thread(self._translated, fetch)
        return result

    async def revoke(
        self, chain_pem: str, reason: x509.ReasonFlags = x509.ReasonFlags.unspecified
    ) -> None:
        def run(net_out: list[PatientNetwork]) -> None:
            leaf = pki.load_chain(chain_pem)[0]
            try:
                self._client().revoke(leaf, REASON_CODES[reason])
            except messages.Error as err:
                if err.code != "alreadyRevoked":
                    raise

        await asyncio.to_thread(self._translated, run)

    def revocation_list(self, revoked: Sequence[RevokedEntry], now: dt.datetime) -> bytes | None:
        return None  # the ACME CA publishes its own revocation information

    async def close(self) -> None:
        return None
