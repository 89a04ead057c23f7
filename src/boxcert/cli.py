"""The ``boxcert`` command: one entry point, a group per role.

Role groups are imported only when used, so ``boxcert box …`` on a small device does not pay
for the issuer's database and web stack at every start.
"""

from __future__ import annotations

import importlib
import logging

import click

from boxcert import __version__

# command name -> "module:attribute"
COMMANDS = {
    "box": "boxcert.box.cli:box_group",
    "issuer": "boxcert.issuer.cli:issuer_group",
    "dns": "boxcert.dns.cli:dns_group",
    "hub": "boxcert.hub.cli:hub_group",
    "demo": "boxcert.demo:demo_command",
}
HELP = {
    "box": "The agent on the IoT box.",
    "issuer": "The vendor's certificate service.",
    "dns": "The IoT zone's authoritative DNS server.",
    "hub": "The customer's server: pairs boxes and lists their certificates.",
    "demo": "Run an issuer and a box on this machine and get the box its certificate.",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Listing the commands must not import them all.
        with formatter.section("Commands"):
            formatter.write_dl([(name, HELP[name]) for name in sorted(COMMANDS)])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="boxcert")
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages to stderr.")
def main(verbose: bool) -> None:
    """Browser-trusted HTTPS certificates for IoT boxes on private LANs."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for handler in logging.getLogger().handlers:
        # Library chatter stays off the terminal; roles add their own log files or levels.
        handler.setLevel(logging.DEBUG if verbose else logging.WARNING)
