"""A TXT store on someone else's DNS server: RFC 2136 dynamic updates signed with TSIG.

For vendors whose IoT zone lives on DNS servers they already run (PowerDNS, BIND, Knot):
``publish``/``remove`` send an UPDATE for ``_acme-challenge.<label>.<zone>`` to the zone's
primary (RFC 2136 §2.5.1 "add to an RRset", §2.5.4 "delete an RR from an RRset"), signed with a
TSIG key (RFC 8945) the server allows to update the zone. Both are idempotent by the RFC's own
rules: adding an RR that exists, or deleting one that does not, changes nothing.
Contract: see :class:`boxcert.issuer.ca.dns01.TxtStore`; failures raise :class:`TxtUpdateError`.

The key file is BIND's format, as ``tsig-keygen`` writes it::

    key "boxcert" {
        algorithm hmac-sha256;
        secret "base64…";
    };
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.tsig
import dns.tsigkeyring
import dns.update

from boxcert import naming
from boxcert.issuer.errors import CertificateAuthorityError

_KEY_RE = re.compile(
    r'key\s+"?(?P<name>[^"\s{]+)"?\s*\{(?P<body>.*?)\}\s*;', re.DOTALL | re.IGNORECASE
)
_FIELD_RE = re.compile(
    r'(?P<field>algorithm|secret)\s+(?:"(?P<quoted>[^"]*)"|(?P<bare>[^;\s]+))\s*;', re.I
)
ALGORITHMS = {
    "hmac-sha256": dns.tsig.HMAC_SHA256,
    "hmac-sha384": dns.tsig.HMAC_SHA384,
    "hmac-sha512": dns.tsig.HMAC_SHA512,
}


class TxtUpdateError(CertificateAuthorityError):
    """The zone's DNS server did not take a TXT update (refused, not authorized, unreachable)."""


@dataclass(frozen=True, slots=True)
class TsigKey:
    name: str
    algorithm: str  # one of ALGORITHMS
    secret: bytes

    def __repr__(self) -> str:  # never print the secret
        return f"TsigKey(name={self.name!r}, algorithm={self.algorithm!r})"


def parse_tsig_key(text: str) -> TsigKey:
    """The first key of a BIND key file; ValueError saying what is missing."""
    match = _KEY_RE.search(text)
    if match is None:
        raise ValueError('no `key "name" { algorithm …; secret "…"; };` block found')
    fields = {
        m["field"].lower(): m["quoted"] if m["quoted"] is not None else m["bare"]
        for m in _FIELD_RE.finditer(match["body"])
    }
    algorithm = fields.get("algorithm", "").lower()
    if algorithm not in ALGORITHMS:
        raise ValueError(
            f"TSIG algorithm {algorithm or '(none)'} is not one of {', '.join(ALGORITHMS)}"
        )
    try:
        secret = base64.b64decode(fields.get("secret", ""), validate=True)
    except (binascii.Error, ValueError) as err:
        raise ValueError("the TSIG secret is not base64") from err
    if len(secret) < 16:
        raise ValueError("the TSIG secret is missing or shorter than 128 bits")
    return TsigKey(match["name"].rstrip("."), algorithm, secret)


def load_tsig_key(path: Path) -> TsigKey:
    try:
        return parse_tsig_key(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ValueError(f"cannot read TSIG key file {path}: {err.strerror or err}") from err
    except ValueError as err:
        raise ValueError(f"TSIG key file {path}: {err}") from err


class Rfc2136TxtStore:
    def __init__(
        self,
        server: tuple[str, int],
        zone: str,
        key: TsigKey,
        *,
        ttl: int = 60,
        timeout: float = 5.0,
    ) -> None:
        self.server = server
        self.zone = dns.name.from_text(naming.normalize_zone(zone))
        self.key = key
        self.ttl = ttl
        self.timeout = timeout
        self._keyring = {
            dns.name.from_text(key.name): dns.tsig.Key(
                key.name, key.secret, ALGORITHMS[key.algorithm]
            )
        }

    def _update(self) -> dns.update.UpdateMessage:
        return dns.update.UpdateMessage(self.zone, keyring=self._keyring)

    @staticmethod
    def _rdata(value: str) -> dns.rdtypes.ANY.TXT.TXT:
        return dns.rdtypes.ANY.TXT.TXT(
            dns.rdataclass.IN, dns.rdatatype.TXT, [value.encode("utf-8")]
        )

    def _send(self, update: dns.update.UpdateMessage, what: str) -> None:
        host, port = self.server
        try:
            response = dns.query.tcp(update, host, port=port, timeout=self.timeout)
        except (dns.message.UnknownTSIGKey, dns.tsig.PeerError, dns.tsig.BadSignature) as err:
            raise TxtUpdateError(self._key_refused(what)) from err
        except dns.exception.FormError as err:
            if "TSIG" not in str(err):
                raise TxtUpdateError(f"{host}:{port} sent a malformed answer ({what})") from err
            # The server answered unsigned: it did not know our key or its secret.
            raise TxtUpdateError(self._key_refused(what)) from err
        except (OSError, dns.exception.DNSException) as err:
            raise TxtUpdateError(
                f"the zone's DNS server {host}:{port} did not take the update ({what}): {err}"
            ) from err
        rcode = response.rcode()
        if rcode != dns.rcode.NOERROR:
            raise TxtUpdateError(
                f"the zone's DNS server {host}:{port} refused the update ({what}): "
                f"{dns.rcode.to_text(rcode)}"
            )

    def _key_refused(self, what: str) -> str:
        host, port = self.server
        return (
            f"the zone's DNS server {host}:{port} refused the update ({what}): it does not "
            f"accept the TSIG key {self.key.name!r} (wrong secret, or the key is not allowed "
            "to update the zone)"
        )

    def _relative(self, name: str) -> dns.name.Name:
        absolute = dns.name.from_text(name.rstrip(".") + ".")
        if not absolute.is_subdomain(self.zone):
            raise TxtUpdateError(f"{name} is not in the zone {self.zone}")
        return absolute.relativize(self.zone)

    def publish(self, name: str, value: str) -> None:
        update = self._update()
        update.add(self._relative(name), self.ttl, self._rdata(value))
        self._send(update, f"add TXT at {name}")

    def remove(self, name: str, value: str) -> None:
        update = self._update()
        update.delete(self._relative(name), self._rdata(value))
        self._send(update, f"delete TXT at {name}")
