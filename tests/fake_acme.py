"""A small ACME server (RFC 8555) with renewal information (RFC 9773), for the tests.

Debian's Pebble (2.4) and PyPI have no ACME server with ARI, so this one stands in for the
public CA where the tests need what Pebble lacks: ``renewalInfo``, orders that carry
``replaces``, and a ``rateLimited`` answer with Retry-After. It is real enough for certbot's
client: JWS signatures are verified (account key by ``jwk`` then ``kid``), nonces are single
use, ``url`` must match, and dns-01 challenges are validated against the TXT values the test's
``lookup_txt`` returns (the issuer's TXT store), so the issuer's DNS-01 code runs for real.
It serves over real TLS on loopback through :mod:`boxcert.httpserver`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from acme import jws as acme_jws
from cryptography import x509
from josepy.jwk import JWK
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from boxcert import devstack, pki
from boxcert.httpserver import running, tls_context
from tests.helpers import LocalTestCA


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Problem(Exception):
    def __init__(
        self, kind: str, detail: str, status: int = 400, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.kind, self.detail, self.status = kind, detail, status
        self.headers = headers or {}


@dataclass
class Order:
    id: int
    identifiers: list[dict[str, str]]
    authz_ids: list[int]
    replaces: str | None
    status: str = "pending"
    cert_id: int | None = None


@dataclass
class Authz:
    id: int
    identifier: str
    wildcard: bool
    token: str
    status: str = "pending"


@dataclass
class FakeAcme:
    """The CA's state; tests read ``orders`` and switch ``rate_limit_retry_after``."""

    base: str = ""
    lookup_txt: Callable[[str], set[str]] = lambda _name: set()
    window: tuple[timedelta, timedelta] = (timedelta(days=20), timedelta(days=21))
    lifetime: timedelta = timedelta(days=90)
    rate_limit_retry_after: int | None = None  # seconds; not None: every newOrder is refused
    ca: LocalTestCA = field(default_factory=lambda: LocalTestCA.create("fake ACME root"))
    orders: list[Order] = field(default_factory=list)
    authzs: list[Authz] = field(default_factory=list)
    certs: list[x509.Certificate] = field(default_factory=list)
    accounts: dict[str, JWK] = field(default_factory=dict)  # kid -> key
    revoked: set[int] = field(default_factory=set)  # serials
    _nonces: set[str] = field(default_factory=set)

    # --- plumbing -------------------------------------------------------------------------

    def nonce(self) -> str:
        value = b64url(secrets.token_bytes(16))
        self._nonces.add(value)
        return value

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"Replay-Nonce": self.nonce(), "Cache-Control": "no-store", **(extra or {})}

    def answer(
        self,
        body: Any,
        status: int = 200,
        location: str | None = None,
    ) -> Response:
        headers = self._headers({"Location": location} if location else None)
        return JSONResponse(body, status_code=status, headers=headers)

    async def verified(self, request: Request, new_account: bool = False) -> tuple[Any, str]:
        """The JWS body's payload (None for POST-as-GET) and the account kid."""
        jws = acme_jws.JWS.json_loads(await request.body())
        header = jws.signature.combined
        if header.nonce is None or b64url(header.nonce) not in self._nonces:
            raise Problem("badNonce", "unknown or used nonce")
        self._nonces.discard(b64url(header.nonce))
        if header.url != str(request.url):
            raise Problem("unauthorized", f"url {header.url} is not {request.url}")
        key: JWK | None
        if new_account:
            key = header.jwk
            if key is None:
                raise Problem("malformed", "newAccount needs a jwk")
            kid = f"{self.base}/acct/{key.thumbprint().hex()[:16]}"
        else:
            kid = str(header.kid)
            key = self.accounts.get(kid)
            if key is None:
                raise Problem("accountDoesNotExist", "no such account")
        if not jws.verify(key):
            raise Problem("unauthorized", "bad signature", 403)
        self.accounts[kid] = key
        payload = jws.payload
        return (json.loads(payload) if payload else None), kid

    # --- resources ------------------------------------------------------------------------

    def order_json(self, order: Order) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": order.status,
            "expires": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
            "identifiers": order.identifiers,
            "authorizations": [f"{self.base}/authz/{a}" for a in order.authz_ids],
            "finalize": f"{self.base}/order/{order.id}/finalize",
        }
        if order.cert_id is not None:
            body["certificate"] = f"{self.base}/cert/{order.cert_id}"
        if order.replaces:
            body["replaces"] = order.replaces
        return body

    def authz_json(self, authz: Authz) -> dict[str, Any]:
        return {
            "status": authz.status,
            "identifier": {"type": "dns", "value": authz.identifier},
            "wildcard": authz.wildcard,
            "expires": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
            "challenges": [
                {
                    "type": "dns-01",
                    "url": f"{self.base}/chall/{authz.id}",
                    "token": authz.token,
                    "status": "valid" if authz.status == "valid" else "pending",
                }
            ],
        }

    def cert_id_of(self, cert: x509.Certificate) -> str:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        assert aki.key_identifier is not None
        serial = cert.serial_number.to_bytes((cert.serial_number.bit_length() + 8) // 8, "big")
        return f"{b64url(aki.key_identifier)}.{b64url(serial)}"

    def app(self) -> Starlette:
        async def directory(_: Request) -> Response:
            return JSONResponse(
                {
                    "newNonce": f"{self.base}/nonce",
                    "newAccount": f"{self.base}/account",
                    "newOrder": f"{self.base}/order",
                    "revokeCert": f"{self.base}/revoke",
                    "renewalInfo": f"{self.base}/renewal-info",
                    "meta": {},
                }
            )

        async def new_nonce(_: Request) -> Response:
            return Response(status_code=200, headers=self._headers())

        async def account(request: Request) -> Response:
            _, kid = await self.verified(request, new_account=True)
            return self.answer({"status": "valid", "orders": f"{kid}/orders"}, 201, kid)

        async def new_order(request: Request) -> Response:
            payload, _ = await self.verified(request)
            if self.rate_limit_retry_after is not None:
                raise Problem(
                    "rateLimited",
                    "too many new orders for this domain",
                    429,
                    {"Retry-After": str(self.rate_limit_retry_after)},
                )
            authz_ids = []
            for ident in payload["identifiers"]:
                value = ident["value"]
                authz = Authz(
                    len(self.authzs),
                    value.removeprefix("*."),
                    value.startswith("*."),
                    b64url(secrets.token_bytes(16)),
                )
                self.authzs.append(authz)
                authz_ids.append(authz.id)
            order = Order(
                len(self.orders), payload["identifiers"], authz_ids, payload.get("replaces")
            )
            self.orders.append(order)
            return self.answer(self.order_json(order), 201, f"{self.base}/order/{order.id}")

        async def authz(request: Request) -> Response:
            await self.verified(request)
            return self.answer(self.authz_json(self.authzs[int(request.path_params["id"])]))

        async def challenge(request: Request) -> Response:
            _, kid = await self.verified(request)
            authz = self.authzs[int(request.path_params["id"])]
            thumbprint = self.accounts[kid].thumbprint()
            key_authz = f"{authz.token}.{b64url(thumbprint)}"
            expected = b64url(hashlib.sha256(key_authz.encode()).digest())
            if expected in self.lookup_txt(f"_acme-challenge.{authz.identifier}"):
                authz.status = "valid"
            else:
                authz.status = "invalid"
            body = self.authz_json(authz)["challenges"][0]
            response = self.answer(body, 200)
            response.headers["Link"] = f'<{self.base}/authz/{authz.id}>;rel="up"'
            return response

        async def order(request: Request) -> Response:
            await self.verified(request)
            return self.answer(self.order_json(self.orders[int(request.path_params["id"])]))

        async def finalize(request: Request) -> Response:
            payload, _ = await self.verified(request)
            order = self.orders[int(request.path_params["id"])]
            if any(self.authzs[a].status != "valid" for a in order.authz_ids):
                raise Problem("orderNotReady", "authorizations are not valid", 403)
            csr = x509.load_der_x509_csr(unb64url(payload["csr"]))
            names = [i["value"] for i in order.identifiers]
            now = datetime.now(UTC)
            leaf = self.ca.leaf(
                csr.public_key(), dns_names=names, not_before=now, not_after=now + self.lifetime
            )
            self.certs.append(leaf)
            order.cert_id, order.status = len(self.certs) - 1, "valid"
            return self.answer(self.order_json(order), 200, f"{self.base}/order/{order.id}")

        async def certificate(request: Request) -> Response:
            await self.verified(request)
            leaf = self.certs[int(request.path_params["id"])]
            return Response(
                pki.chain_pem([leaf, self.ca.cert]),
                media_type="application/pem-certificate-chain",
                headers=self._headers(),
            )

        async def renewal_info(request: Request) -> Response:
            cert_id = request.path_params["cert_id"]
            cert = next((c for c in self.certs if self.cert_id_of(c) == cert_id), None)
            if cert is None:
                raise Problem("malformed", "no such certificate", 404)
            start = cert.not_valid_before_utc + self.window[0]
            end = cert.not_valid_before_utc + self.window[1]
            return JSONResponse(
                {"suggestedWindow": {"start": start.isoformat(), "end": end.isoformat()}},
                headers={"Retry-After": "21600"},
            )

        async def revoke(request: Request) -> Response:
            payload, _ = await self.verified(request)
            cert = x509.load_der_x509_certificate(unb64url(payload["certificate"]))
            if cert.serial_number in self.revoked:
                raise Problem("alreadyRevoked", "already revoked")
            self.revoked.add(cert.serial_number)
            return self.answer({})

        async def problem(_: Request, exc: Exception) -> Response:
            assert isinstance(exc, Problem)
            return JSONResponse(
                {"type": f"urn:ietf:params:acme:error:{exc.kind}", "detail": exc.detail},
                status_code=exc.status,
                media_type="application/problem+json",
                headers=self._headers(exc.headers),
            )

        return Starlette(
            routes=[
                Route("/dir", directory),
                Route("/nonce", new_nonce, methods=["GET", "HEAD"]),
                Route("/account", account, methods=["POST"]),
                Route("/order", new_order, methods=["POST"]),
                Route("/order/{id:int}", order, methods=["POST"]),
                Route("/order/{id:int}/finalize", finalize, methods=["POST"]),
                Route("/authz/{id:int}", authz, methods=["POST"]),
                Route("/chall/{id:int}", challenge, methods=["POST"]),
                Route("/cert/{id:int}", certificate, methods=["POST"]),
                Route("/renewal-info/{cert_id}", renewal_info),
                Route("/revoke", revoke, methods=["POST"]),
            ],
            exception_handlers={Problem: problem},
        )


@contextmanager
def fake_acme(directory: Path, **kw: Any) -> Iterator[tuple[FakeAcme, str, Path]]:
    """Run a fake ACME CA over TLS on loopback: (its state, directory URL, TLS CA bundle)."""
    ca_bundle, cert, key = devstack.tls_files(directory)
    server = FakeAcme(**kw)
    with running(server.app(), tls=tls_context(cert, key)) as url:
        server.base = url
        yield server, f"{url}/dir", ca_bundle
