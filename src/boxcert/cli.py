"""The ``boxcert`` command: one entry point, a group per role."""

from __future__ import annotations

import logging

import click

from boxcert import __version__
from boxcert.box.cli import box_group
from boxcert.demo import demo_command
from boxcert.dns.cli import dns_group
from boxcert.issuer.cli import issuer_group


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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


main.add_command(box_group)
main.add_command(issuer_group)
main.add_command(dns_group)
main.add_command(demo_command)
