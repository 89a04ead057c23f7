"""``boxcert dns …`` (placeholder until the DNS server lands)."""

import click


@click.group("dns")
def dns_group() -> None:
    """The IoT zone's authoritative DNS server."""
