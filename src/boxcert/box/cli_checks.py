"""``boxcert box diagnose`` and ``boxcert box check-connection``: what stands between the box
and a padlock, asked now. Registered on the ``box`` group by :mod:`boxcert.box.cli`.

Exit codes: 0 when all is well, 1 when a finding or a probe is not, 3 when the check cannot be
made (no key yet, a bad server option).
"""

from __future__ import annotations

import json

import click

from boxcert import codes
from boxcert.box.config import BoxConfig, load_config
from boxcert.box.errors import BoxError
from boxcert.box.files import BoxPaths


def _config(paths: BoxPaths) -> BoxConfig:
    try:
        return load_config(paths)
    except BoxError as err:
        raise click.ClickException(str(err)) from err


@click.command("diagnose")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--lan-resolver",
    metavar="HOST[:PORT]",
    help="The LAN's DNS server to ask (default: as configured, else this system's).",
)
@click.option(
    "--zone-dns",
    metavar="HOST[:PORT]",
    multiple=True,
    help="A server of the zone to ask (default: as configured, else found by NS); repeatable.",
)
@click.pass_context
def diagnose_command(
    ctx: click.Context, as_json: bool, lan_resolver: str | None, zone_dns: tuple[str, ...]
) -> None:
    """Look the box's name up on the LAN and at the zone's servers; say what stands in the
    way (exit 0 when the name resolves to the box)."""
    from boxcert.box.dnscheck import diagnose_now, help_url, target, to_json

    paths: BoxPaths = ctx.obj
    config = _config(paths)
    found = target(paths, config)
    if found is None:
        raise click.ClickException(
            "the box has no key yet, so no name to look up: run `boxcert box ensure` first"
        )
    try:
        diagnosis = diagnose_now(paths, config, found, lan_resolver=lan_resolver, zone_dns=zone_dns)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--lan-resolver/--zone-dns") from err
    document = to_json(diagnosis, found.zone)
    if as_json:
        click.echo(json.dumps(document, indent=2))
    else:
        finding = codes.DNS_FINDINGS[diagnosis.verdict.value]
        mark = "OK" if finding.ok else "PROBLEM"
        click.echo(f"DNS: {mark}: {document['title']} ({document['verdict']})")
        click.echo(f"  name:    {found.name} (should give {found.expected})")
        click.echo(f"  LAN:     {document['lan']['server']} {document['lan']['said']}")
        click.echo(f"  zone:    {document['zone']['server']} {document['zone']['said']}")
        if not finding.ok:
            click.echo(f"  meaning: {document['cause']}")
            click.echo(f"  do:      {document['remedy']}")
        click.echo(f"  more:    {help_url(diagnosis)} on the box's homepage")
    raise SystemExit(0 if document["ok"] else 1)


@click.command("check-connection")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def check_connection_command(ctx: click.Context, as_json: bool) -> None:
    """Reach the certificate service and the hub now, over verified TLS; say what works
    (exit 0 when both do)."""
    from boxcert.box.connection import check_hub, check_issuer
    from boxcert.clock import system_clock

    paths: BoxPaths = ctx.obj
    config = _config(paths)
    probes = [check_issuer(config, clock=system_clock), check_hub(config)]
    ok = all(p.ok for p in probes)
    if as_json:
        click.echo(json.dumps({"ok": ok, "checks": [p.to_json() for p in probes]}, indent=2))
    else:
        for probe in probes:
            click.echo(f"{probe.what}: {'OK' if probe.ok else 'FAILED'} {probe.url}".rstrip())
            click.echo(f"  {probe.detail}")
            if probe.advice:
                click.echo(f"  do: {probe.advice}")
    raise SystemExit(0 if ok else 1)
