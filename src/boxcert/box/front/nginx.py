"""The nginx front (``--front nginx``): for boxes that already run nginx.

nginx terminates TLS with the box's pair and proxies the box's own pages (``/``,
``/status.json``, ``/box/…``) to the agent's pages on a loopback port, and every other path
(websockets included) to the upstream. Port 80 goes to the agent's pages too, which decide
between the homepage and the redirect to HTTPS exactly as the built-in front does (they trust
``X-Forwarded-Proto`` from loopback only).

:meth:`NginxFront.apply` copies the agent's pair to the files nginx reads (key 0600), writes the
site file, runs ``nginx -t``, and only then ``nginx -s reload`` (graceful: old workers finish
their requests). When the test fails, the site file and the pair are put back as they were
and nginx keeps serving the old pair; the error names nginx's complaint.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from boxcert import pki
from boxcert.box.front.proxy import parse_upstream
from boxcert.box.front.tlsprofile import INTERMEDIATE_TLS12_CIPHERS

log = logging.getLogger(__name__)
TIMEOUT = 60.0


class NginxError(Exception):
    """nginx refused the site or could not be told to reload; the message is one line."""


@dataclass(frozen=True, slots=True)
class NginxCommand:
    """How to run this machine's nginx: the binary and, for a private instance, its
    configuration file and prefix (``-c``, ``-p``) and error log (``-e``)."""

    binary: str = "nginx"
    conf: Path | None = None
    prefix: Path | None = None
    error_log: Path | None = None

    def argv(self, *extra: str) -> list[str]:
        argv = [self.binary]
        if self.prefix is not None:
            argv += ["-p", f"{self.prefix}/"]
        if self.conf is not None:
            argv += ["-c", str(self.conf)]
        if self.error_log is not None:
            argv += ["-e", str(self.error_log)]
        return [*argv, *extra]

    def run(self, *extra: str) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                self.argv(*extra), capture_output=True, text=True, timeout=TIMEOUT, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            raise NginxError(f"cannot run {self.binary}: {err}") from err


@dataclass(frozen=True, slots=True)
class NginxSite:
    """What the box's site file says."""

    site_file: Path  # e.g. /etc/nginx/sites-enabled/boxcert.conf
    pair_dir: Path  # where nginx reads key.pem and cert.pem
    agent_url: str  # the agent's pages, on loopback
    upstream: str | None = None
    https_port: int = 443
    http_port: int | None = 80
    listen: Sequence[str] = field(default_factory=tuple)  # empty: every address

    @property
    def key_file(self) -> Path:
        return self.pair_dir / "key.pem"

    @property
    def cert_file(self) -> Path:
        return self.pair_dir / "cert.pem"


def _listen_lines(addresses: Sequence[str], port: int, extra: str) -> list[str]:
    if not addresses:
        return [f"    listen {port}{extra};", f"    listen [::]:{port}{extra};"]
    shown = [f"[{a}]" if ":" in a and not a.startswith("[") else a for a in addresses]
    return [f"    listen {a}:{port}{extra};" for a in shown]


def render_site(site: NginxSite) -> str:
    """The site file's text: one ``server`` for HTTPS and one for plain HTTP."""
    parse_upstream(site.agent_url)
    upstream = site.upstream or site.agent_url
    parse_upstream(upstream)
    forwarded = [
        "    proxy_set_header Host $host;",
        "    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "    proxy_set_header X-Forwarded-Proto $scheme;",
        "    proxy_set_header X-Forwarded-Host $host;",
        "    proxy_http_version 1.1;",
        "    proxy_buffering off;",
        "    proxy_request_buffering off;",
    ]
    own = [
        f"    location = / {{ proxy_pass {site.agent_url}; }}",
        f"    location = /status.json {{ proxy_pass {site.agent_url}; }}",
        f"    location /box/ {{ proxy_pass {site.agent_url}; }}",
    ]
    lines = [
        "# Written by boxcert (the box's nginx front); changes are overwritten.",
        "map $http_upgrade $boxcert_connection_upgrade {",
        "    default upgrade;",
        "    '' close;",
        "}",
        "server {",
        *_listen_lines(site.listen, site.https_port, " ssl"),
        f"    ssl_certificate {site.cert_file};",
        f"    ssl_certificate_key {site.key_file};",
        "    ssl_protocols TLSv1.2 TLSv1.3;",
        f"    ssl_ciphers {':'.join(INTERMEDIATE_TLS12_CIPHERS)};",
        "    ssl_prefer_server_ciphers off;",
        "    ssl_session_tickets off;",
        *forwarded,
        *own,
        "    location / {",
        f"        proxy_pass {upstream};",
        "        proxy_set_header Upgrade $http_upgrade;",
        "        proxy_set_header Connection $boxcert_connection_upgrade;",
        "        proxy_read_timeout 300s;",
        "    }",
        "}",
    ]
    if site.http_port is not None:
        lines += [
            "server {",
            *_listen_lines(site.listen, site.http_port, ""),
            *forwarded,
            f"    location / {{ proxy_pass {site.agent_url}; }}",
            "}",
        ]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def _restorable(paths: Sequence[Path]) -> Iterator[None]:
    """Put ``paths`` back as they were (or absent) if the block raises."""
    saved = {
        p: (p.read_bytes() if p.exists() else None, p.stat().st_mode if p.exists() else 0)
        for p in paths
    }
    try:
        yield
    except BaseException:
        for path, (data, mode) in saved.items():
            if data is None:
                path.unlink(missing_ok=True)
            else:
                pki.atomic_write(path, data, mode & 0o777)
        raise


class NginxFront:
    def __init__(self, site: NginxSite, command: NginxCommand = NginxCommand()) -> None:
        self.site = site
        self.command = command

    def apply(self, key_pem: bytes, chain_pem: bytes) -> None:
        """Install this pair and the site in nginx; NginxError (and nothing changed) when
        ``nginx -t`` refuses them."""
        text = render_site(self.site).encode()
        with _restorable([self.site.site_file, self.site.key_file, self.site.cert_file]):
            pki.atomic_write(self.site.key_file, key_pem, 0o600)
            pki.atomic_write(self.site.cert_file, chain_pem, 0o644)
            pki.atomic_write(self.site.site_file, text, 0o644)
            tested = self.command.run("-t", "-q")
            if tested.returncode != 0:
                complaint = _last_line(tested.stderr) or f"exit status {tested.returncode}"
                log.warning("nginx refused the new site or pair; rolled back: %s", complaint)
                raise NginxError(f"nginx -t failed, nothing changed: {complaint}")
        reloaded = self.command.run("-s", "reload")
        if reloaded.returncode != 0:
            raise NginxError(f"nginx -s reload failed: {_last_line(reloaded.stderr)}")
        log.info("nginx reloaded with the box's site and pair")

    def apply_files(self, key_path: Path, cert_path: Path) -> None:
        """:meth:`apply` with the agent's pair files."""
        try:
            key_pem, chain_pem = key_path.read_bytes(), cert_path.read_bytes()
        except OSError as err:
            raise NginxError(f"cannot read the box's pair: {err}") from err
        self.apply(key_pem, chain_pem)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    failing = [line for line in lines if "[emerg]" in line or "[alert]" in line]
    return (failing or lines or [""])[-1]
