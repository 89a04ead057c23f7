"""The certificate check: what is installed, and is it good for now?

Reads files and the clock it is given; sends nothing and resolves no names.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from cryptography import x509

from boxcert import codes, naming, pki, renewal
from boxcert.box.config import BoxConfig, BoxPaths
from boxcert.box.status import CertificateInfo, CertStatus, StatusReport


@dataclass(frozen=True, slots=True)
class CheckResult:
    report: StatusReport
    # True when loading a new certificate can fix the error (a damaged certificate file).
    repairable: bool = False
    renew_at: datetime | None = None


def lan_address(config: BoxConfig) -> naming.IPAddress:
    """The box's address on the LAN: configured, else the one routing to its server."""
    if config.lan_ip:
        try:
            return ipaddress.ip_address(config.lan_ip)
        except ValueError:
            pass  # a hand-edited config: fall back to detection rather than fail the check
    # Route towards the server when its address is literal; else towards a private address.
    # No name is resolved here: a status must answer at once even when the LAN's DNS is broken.
    host = urlsplit(config.server).hostname or ""
    try:
        target = ipaddress.ip_address(host)
    except ValueError:
        target = ipaddress.IPv4Address("10.255.255.254")
    family = socket.AF_INET6 if target.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect((str(target), 9))  # UDP connect sends nothing; it only picks the route
            return ipaddress.ip_address(s.getsockname()[0])
    except OSError:
        return ipaddress.IPv4Address("127.0.0.1")


def box_names(key: pki.PrivateKey, zone: str) -> tuple[str, str]:
    return naming.certificate_names(naming.box_label(pki.spki_der(key.public_key())), zone)


def certificate_info(
    chain: list[x509.Certificate], config: BoxConfig, key: pki.PrivateKey | None
) -> CertificateInfo:
    leaf = chain[0]
    url = ""
    if key is not None:
        label = naming.box_label(pki.spki_der(key.public_key()))
        url = naming.box_url(lan_address(config), label, config.zone, config.https_port)
    return CertificateInfo(
        subject_cn=pki.common_name(leaf.subject),
        sans=pki.dns_names(leaf),
        issuer=pki.common_name(leaf.issuer) or leaf.issuer.rfc4514_string(),
        not_before=leaf.not_valid_before_utc.isoformat(),
        not_after=leaf.not_valid_after_utc.isoformat(),
        fingerprint_sha256=pki.fingerprint_sha256(leaf),
        url=url,
    )


def _error(code: codes.ErrorCode, detail: str, *, repairable: bool = False) -> CheckResult:
    return CheckResult(StatusReport(CertStatus.ERROR, code, detail, None), repairable)


def read_key(paths: BoxPaths) -> pki.PrivateKey | None:
    """The box's key, None when it has none yet; raises OSError or PemError when damaged."""
    try:
        data = paths.key.read_bytes()
    except FileNotFoundError:
        return None
    return pki.load_private_key(data)


def check(config: BoxConfig, paths: BoxPaths, now: datetime) -> CheckResult:
    try:
        return _check(config, paths, now)
    except (ValueError, TypeError) as err:
        # A certificate that parses but has a malformed extension fails only when read.
        return _error(
            codes.CHECK_CERT_READ_EXCEPTION, f"certificate file {paths.cert}: {err}",
            repairable=True,
        )


def _check(config: BoxConfig, paths: BoxPaths, now: datetime) -> CheckResult:
    if not config.server:
        return _error(codes.CHECK_NO_SERVER, "No server is configured on this box.")
    try:
        key = read_key(paths)
    except (OSError, pki.PemError) as err:
        return _error(codes.CHECK_CERT_READ_EXCEPTION, f"key file {paths.key}: {err}")
    try:
        chain = pki.load_chain(paths.cert.read_bytes())
    except FileNotFoundError:
        return CheckResult(
            StatusReport(CertStatus.NEED_REFRESH, None, "No certificate is installed yet.", None)
        )
    except (OSError, pki.PemError) as err:
        return _error(
            codes.CHECK_CERT_READ_EXCEPTION, f"certificate file {paths.cert}: {err}",
            repairable=True,
        )
    leaf = chain[0]
    info = certificate_info(chain, config, key)

    def refresh(detail: str) -> CheckResult:
        return CheckResult(StatusReport(CertStatus.NEED_REFRESH, None, detail, info))

    if key is None:
        return refresh("The certificate has no key on this box.")
    if pki.is_self_signed(leaf):
        return refresh("The installed certificate is a self-signed placeholder.")
    if not pki.same_public_key(leaf.public_key(), key.public_key()):
        return refresh("The installed certificate does not match the box's key.")
    if set(pki.dns_names(leaf)) != set(box_names(key, config.zone)):
        return refresh("The installed certificate is not for this box's names.")
    decision = renewal.renewal_decision(leaf.not_valid_before_utc, leaf.not_valid_after_utc, now)
    if decision.due:
        why = {
            renewal.Reason.EXPIRED: "The certificate has expired.",
            renewal.Reason.NOT_YET_VALID: "The certificate is not valid yet (check the clock).",
        }.get(decision.reason, "The certificate is in its renewal window.")
        return refresh(why)
    detail = (
        f"Valid until {leaf.not_valid_after_utc:%Y-%m-%d}; "
        f"renewal from {decision.renew_at:%Y-%m-%d}."
    )
    return CheckResult(
        StatusReport(CertStatus.OK, None, detail, info), renew_at=decision.renew_at
    )
