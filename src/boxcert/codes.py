"""The error codes a box shows, with their explanations.

One table, read by the CLI, the box homepage and the documentation (``docs/errors/<CODE>.md``
is checked against it by the tests). The six ``ERR_IOT_HTTPS_*`` strings of the vendor's
troubleshooting guide are kept exactly; :data:`LOAD_INVALID_CERT` (a delivered certificate the
box refused), :data:`CHECK_CLOCK_SKEW` (the box's clock is wrong) and :data:`LOAD_ZONE_MISMATCH`
(box and issuer disagree on the zone) are ours.

:data:`DNS_FINDINGS` holds the DNS diagnosis (``boxcert box diagnose``, the homepage's DNS row):
findings, not error codes, since the certificate can be fine while the name does not resolve.
Their texts may name the zone: ``{zone}`` is filled in when shown.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ErrorCode:
    """A code the box can show, with what it means and what to do about it."""

    code: str
    title: str
    cause: str
    remedy: str

    @property
    def doc_path(self) -> str:
        return f"docs/errors/{self.code}.md"


CHECK_NO_SERVER = ErrorCode(
    "ERR_IOT_HTTPS_CHECK_NO_SERVER",
    "Not connected to a server",
    "The box has no server (hub) configured, so it does not know which customer it works for.",
    "Pair the box with its server, or set one with `boxcert box configure --server URL`.",
)
CHECK_CERT_READ_EXCEPTION = ErrorCode(
    "ERR_IOT_HTTPS_CHECK_CERT_READ_EXCEPTION",
    "Certificate files unreadable",
    "The certificate or private key stored on the box could not be read or parsed.",
    "Check the files named in the detail (permissions, disk). A damaged certificate is "
    "replaced by the next `ensure`; a damaged key must be removed, after which the box makes "
    "a new one and gets a new name.",
)
LOAD_NO_CREDENTIAL = ErrorCode(
    "ERR_IOT_HTTPS_LOAD_NO_CREDENTIAL",
    "Credentials missing",
    "The database UUID or the contract code is not set on the box.",
    "Set both with `boxcert box configure --db-uuid U --enterprise-code C`, or pair the box "
    "with its server again.",
)
LOAD_REQUEST_EXCEPTION = ErrorCode(
    "ERR_IOT_HTTPS_LOAD_REQUEST_EXCEPTION",
    "Certificate service unreachable",
    "The box could not complete a request to the certificate service: no internet access, a "
    "firewall, proxy or VPN in the way, a name that does not resolve, a TLS failure (often a "
    "wrong clock) or a timeout.",
    "Read the short cause in the detail and the full error in the box log; check the box's "
    "internet access, clock and DNS with your network administrator.",
)
LOAD_REQUEST_STATUS = ErrorCode(
    "ERR_IOT_HTTPS_LOAD_REQUEST_STATUS",
    "Unexpected answer from the certificate service",
    "The certificate service answered with an HTTP status other than 200; the status follows "
    "the code (for example 404 or 503).",
    "A 5xx usually means maintenance: wait and retry. Otherwise contact support and quote the "
    "three-digit status.",
)
LOAD_REQUEST_NO_RESULT = ErrorCode(
    "ERR_IOT_HTTPS_LOAD_REQUEST_NO_RESULT",
    "Certificate refused",
    "The certificate service answered but did not deliver a certificate: the box or its "
    "database is not eligible. The detail gives the reason the service stated.",
    "Check eligibility: a production database, a subscription in progress with an IoT Box "
    "line, and the right contract code on the box.",
)
LOAD_INVALID_CERT = ErrorCode(
    "ERR_IOT_HTTPS_LOAD_INVALID_CERT",
    "Delivered certificate rejected",
    "The certificate service sent a certificate the box refused to install: unparsable, for "
    "another key or other names, expired, or not chaining to a trusted root.",
    "Nothing changed on the box: the previous certificate keeps serving. Report the detail to "
    "support; if it persists, something between the box and the service may alter traffic.",
)

CHECK_CLOCK_SKEW = ErrorCode(
    "ERR_IOT_HTTPS_CHECK_CLOCK_SKEW",
    "Box clock wrong",
    "The box's clock differs by more than 5 minutes from a time source it trusts (its NTP "
    "server or the certificate service). Certificates then look expired or not yet valid to "
    "the box, and its secure connections fail.",
    "Let the box set its clock: give it an NTP server it can reach (`boxcert box configure "
    "--ntp-server HOST`) or open UDP port 123 to the internet. Nothing is switched off "
    "meanwhile: the box keeps its certificate and retries once its clock is right.",
)
LOAD_ZONE_MISMATCH = ErrorCode(
    "ERR_IOT_HTTPS_LOAD_ZONE_MISMATCH",
    "Box and certificate service use different zones",
    "The box is set to one IoT zone and the certificate service issues names in another, so "
    "it cannot give the box a certificate. The detail names both zones.",
    "Remove the box's zone setting so it uses the service's zone (`boxcert box configure "
    "--zone ''`), or set it to the zone the detail names.",
)

ALL_CODES: tuple[ErrorCode, ...] = (
    CHECK_NO_SERVER,
    CHECK_CERT_READ_EXCEPTION,
    LOAD_NO_CREDENTIAL,
    LOAD_REQUEST_EXCEPTION,
    LOAD_REQUEST_STATUS,
    LOAD_REQUEST_NO_RESULT,
    LOAD_INVALID_CERT,
    CHECK_CLOCK_SKEW,
    LOAD_ZONE_MISMATCH,
)

BY_CODE: dict[str, ErrorCode] = {c.code: c for c in ALL_CODES}


def lookup(shown: str) -> ErrorCode | None:
    """Find the table entry for a shown code, which may carry a suffix (``… 404``)."""
    return BY_CODE.get(shown.split(" ", 1)[0])


@dataclass(frozen=True, slots=True)
class Finding:
    """A DNS diagnosis as the box explains it; ``key`` is the verdict's value."""

    key: str
    ok: bool
    title: str
    cause: str
    remedy: str

    @property
    def doc_path(self) -> str:
        return f"docs/diagnosis/{self.key}.md"

    def render(self, zone: str) -> tuple[str, str, str]:
        """Title, cause and remedy with the zone filled in."""
        return (self.title, self.cause.format(zone=zone), self.remedy.format(zone=zone))


DNS_FINDINGS: dict[str, Finding] = {
    f.key: f
    for f in (
        Finding(
            "ok",
            True,
            "Name found on this network",
            "Phones, PCs and terminals on this network find the box by its name.",
            "Nothing to do.",
        ),
        Finding(
            "rebinding_suspected",
            False,
            "The router hides the box's name",
            "The vendor's DNS answers the box's name with its local address, but this "
            "network's DNS server (usually the router) drops that answer. Many routers do so to "
            'protect against "DNS rebinding": they refuse public names that point into the '
            "local network, which is exactly what the box's name does. Browsers then cannot "
            "find the box by name, so they cannot show the padlock.",
            'Tell the router to accept the zone {zone}: look for "DNS rebind protection" '
            'and its exception list ("domain whitelist", "host name exceptions" or '
            '"private domains") and add {zone}. With dnsmasq that is '
            '`rebind-domain-ok=/{zone}/`; with unbound, `private-domain: "{zone}"`. If the '
            "router has no such setting, give the network DNS servers that do not filter (in "
            "the router's DHCP settings), such as your internet provider's.",
        ),
        Finding(
            "wrong_address",
            False,
            "The network gives another address for the box",
            "This network's DNS answers the box's name with an address that is not the box's: "
            "an old answer kept after the box changed address, or local DNS entries that "
            "override the vendor's (split DNS).",
            "Wait a few minutes for the old answer to expire, or restart the router. If the "
            "network has DNS entries of its own under {zone}, remove them.",
        ),
        Finding(
            "lan_resolver_unreachable",
            False,
            "This network's DNS server does not answer",
            "The DNS server this network uses (usually the router) did not answer the box. "
            "Devices here probably cannot look up any name.",
            "Check that the router is on and that its DNS service works; restart it if "
            "needed. If the box was given a DNS server by hand, check that setting.",
        ),
        Finding(
            "zone_unreachable",
            False,
            "The vendor's DNS servers do not answer",
            "Neither this network's DNS nor the box could get an answer from the DNS servers "
            "of the zone {zone}.",
            "Check the box's internet access. If it works, the vendor's DNS may be down for "
            "a while; the box checks again by itself. Contact support if it lasts.",
        ),
        Finding(
            "name_not_served",
            False,
            "The vendor's DNS does not know this name",
            "The zone {zone} gives no address for the box's name. Either the box's address "
            "is not a local-network address (only those get a name), or the box and the "
            "vendor do not use the same zone.",
            "Give the box a local address (192.168.x.x, 10.x.x.x or 172.16-31.x.x). If it "
            "has one, check the zone shown on the box against the vendor's.",
        ),
    )
}
