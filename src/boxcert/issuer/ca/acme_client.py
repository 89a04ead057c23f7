"""What our ACME client adds to certbot's ``acme``: patient nonce handling, Retry-After,
and ACME Renewal Information (RFC 9773). Kept apart from the order flow in ``acme.py``."""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import logging
from typing import Any

import requests
from acme import client, messages
from cryptography import x509
from josepy.json_util import field as jose_field

log = logging.getLogger(__name__)
BAD_NONCE_RETRIES = 20  # at 50% rejection (Pebble's stress setting) one in a million fails
MAX_RETRY_AFTER_SECONDS = 7 * 24 * 3600  # a longer pause would outlive certificates


class PatientNetwork(client.ClientNetwork):
    """Retries badNonce more than once (RFC 8555 §6.5: the client should retry), and keeps the
    last response so a rateLimited error can be read together with its Retry-After."""

    last_response: requests.Response | None = None

    def _send_request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        response = super()._send_request(method, url, *args, **kwargs)
        self.last_response = response
        return response

    def post(self, *args: Any, **kwargs: Any) -> Any:
        for attempt in range(BAD_NONCE_RETRIES):
            try:
                return self._post_once(*args, **kwargs)
            except messages.Error as error:
                if error.code != "badNonce" or attempt == BAD_NONCE_RETRIES - 1:
                    raise
                log.info("ACME badNonce, retrying (%d)", attempt + 1)
        raise AssertionError("unreachable")


class NewOrderReplacing(messages.NewOrder):
    """newOrder with the ARI ``replaces`` field (RFC 9773 §5)."""

    replaces: str | None = jose_field("replaces", omitempty=True)


def ari_cert_id(cert: x509.Certificate) -> str | None:
    """The ARI CertID: base64url(AKI keyIdentifier) "." base64url(serial) (RFC 9773 §4.1)."""
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        return None
    if aki.key_identifier is None:
        return None
    serial = cert.serial_number
    serial_bytes = serial.to_bytes((serial.bit_length() + 8) // 8, "big")

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")

    return f"{b64(aki.key_identifier)}.{b64(serial_bytes)}"


def retry_after_of(nets: list[PatientNetwork]) -> dt.datetime | None:
    response = nets[0].last_response if nets else None
    if response is None or "Retry-After" not in response.headers:
        return None
    return parse_retry_after(response.headers["Retry-After"], dt.datetime.now(dt.UTC))


def parse_retry_after(value: str, now: dt.datetime) -> dt.datetime | None:
    """Retry-After as seconds or an HTTP date (RFC 9110 §10.2.3); None when unreadable."""
    value = value.strip()
    if value.isdigit():
        return now + dt.timedelta(seconds=min(int(value), MAX_RETRY_AFTER_SECONDS))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    return min(when, now + dt.timedelta(seconds=MAX_RETRY_AFTER_SECONDS))


def offers_ari(acme_client: client.ClientV2) -> bool:
    """Whether the CA's directory has ARI (RFC 9773); Directory has no ``in`` of its own."""
    try:
        acme_client.directory["renewalInfo"]
    except KeyError:
        return False
    return True
