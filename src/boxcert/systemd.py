"""``boxcert systemd-unit ROLE``: a hardened systemd service unit for each role.

Every unit runs as a dynamic user (no account to create), sees the file system read-only
except its own state directory, and gets ``CAP_NET_BIND_SERVICE`` only when its role binds a
port below 1024 by default (the DNS server on 53, the box's front on 443 and 80). Settings and
secrets come from ``/etc/boxcert/boxcert.toml`` (``--config``) and an optional environment file
``/etc/boxcert/<role>.env`` (``BOXCERT_…`` variables), never from the unit itself.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from dataclasses import dataclass

import click


@dataclass(frozen=True, slots=True)
class Role:
    description: str
    command: str  # after the executable and the global options
    binds_low_ports: bool
    after: str = "network-online.target"


ROLES: dict[str, Role] = {
    "issuer": Role(
        "boxcert issuer: certificates for IoT boxes",
        "issuer serve --data ${STATE_DIRECTORY}",
        False,
    ),
    "dns": Role("boxcert dns: authoritative DNS server of the IoT zone", "dns serve", True),
    "hub": Role(
        "boxcert hub: pairs the customer's IoT boxes", "hub serve --data ${STATE_DIRECTORY}", False
    ),
    "box": Role(
        "boxcert box: keeps the box's HTTPS certificate valid and serves its homepage",
        "box --home ${STATE_DIRECTORY} run",
        True,
    ),
}

HARDENING = """\
DynamicUser=yes
StateDirectory=boxcert-{role}
StateDirectoryMode=0700
UMask=0077
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
ProcSubset=pid
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
NoNewPrivileges=yes
RemoveIPC=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources
DevicePolicy=closed
"""


def default_executable() -> str:
    found = shutil.which("boxcert")
    return found or f"{sys.executable} -m boxcert"


def unit(role: str, executable: str | None = None) -> str:
    """The unit file text for ``role``."""
    spec = ROLES[role]
    exe = executable or default_executable()
    if spec.binds_low_ports:
        caps = (
            "AmbientCapabilities=CAP_NET_BIND_SERVICE\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE\n"
        )
    else:
        caps = "AmbientCapabilities=\nCapabilityBoundingSet=\n"
    exec_line = f"{exe} --config /etc/boxcert/boxcert.toml {spec.command}"
    return (
        "[Unit]\n"
        f"Description={spec.description}\n"
        "Documentation=https://github.com/boxcert/boxcert\n"
        f"After={spec.after}\n"
        f"Wants={spec.after}\n"
        "\n[Service]\n"
        "Type=exec\n"
        f"ExecStart={exec_line}\n"
        f"EnvironmentFile=-/etc/boxcert/{role}.env\n"
        "Restart=on-failure\n"
        "RestartSec=5s\n"
        "TimeoutStopSec=30s\n" + caps + HARDENING.format(role=role) + "\n[Install]\n"
        "WantedBy=multi-user.target\n"
    )


@click.command("systemd-unit")
@click.argument("role", type=click.Choice(sorted(ROLES)))
@click.option(
    "--exec",
    "executable",
    metavar="PATH",
    help="The boxcert executable the unit runs (default: the one on PATH).",
)
def systemd_unit_command(role: str, executable: str | None) -> None:
    """Print a hardened systemd unit for ROLE (issuer, dns, hub, box).

    Install it with: boxcert systemd-unit ROLE > /etc/systemd/system/boxcert-ROLE.service
    """
    if executable is not None:
        executable = shlex.join([executable])
    click.echo(unit(role, executable), nl=False)
