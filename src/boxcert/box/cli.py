"""``boxcert box …``: configure the agent, show its status, ensure a certificate, run it."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from pathlib import Path

import click

from boxcert import naming
from boxcert.box.agent import BoxAgent
from boxcert.box.client import check_issuer_url
from boxcert.box.config import BoxPaths, configured, home_from, load_config, save_config
from boxcert.box.status import CertStatus, StatusReport


def _attach_log(paths: BoxPaths) -> None:
    paths.home.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(paths.log)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("boxcert")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


@click.group("box")
@click.option("--home", envvar="BOXCERT_HOME", type=click.Path(file_okay=False),
              help="Directory with the box's key, certificate and settings "
                   "[env BOXCERT_HOME; default ~/.boxcert].")
@click.pass_context
def box_group(ctx: click.Context, home: str | None) -> None:
    """The agent on the IoT box."""
    paths = home_from(home)
    ctx.obj = paths
    _attach_log(paths)


def _agent(ctx: click.Context) -> BoxAgent:
    paths = ctx.obj
    assert isinstance(paths, BoxPaths)
    return BoxAgent(paths)


def print_report(report: StatusReport, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        mark = {CertStatus.OK: "OK", CertStatus.NEED_REFRESH: "NEEDS REFRESH",
                CertStatus.ERROR: "ERROR"}[report.status]
        click.echo(f"HTTPS certificate: {mark}")
        if report.error is not None:
            click.echo(f"  code:    {report.error_code}")
            click.echo(f"  meaning: {report.error.cause}")
            click.echo(f"  do:      {report.error.remedy}")
        click.echo(f"  detail:  {report.detail}")
        cert = report.certificate
        if cert is not None:
            click.echo(f"  url:     {cert.url}")
            click.echo(f"  names:   {', '.join(cert.sans)}")
            click.echo(f"  issuer:  {cert.issuer}")
            click.echo(f"  valid:   {cert.not_before} .. {cert.not_after}")
            click.echo(f"  sha256:  {cert.fingerprint_sha256}")


def _exit_for(report: StatusReport) -> None:
    sys.exit(0 if report.status is CertStatus.OK else 1)


@box_group.command("configure")
@click.option("--server", help="URL of the server (hub) the box belongs to.")
@click.option("--db-uuid", help="UUID of the customer's database.")
@click.option("--enterprise-code", help="Contract code of the database's subscription.")
@click.option("--issuer", help="Base URL of the certificate service.")
@click.option("--issuer-ca", type=click.Path(dir_okay=False, exists=True),
              help="PEM bundle that verifies the certificate service's own TLS.")
@click.option("--trust-ca", multiple=True, type=click.Path(dir_okay=False, exists=True),
              help="Extra root (PEM) that delivered certificates may chain to; repeatable.")
@click.option("--zone", help=f"The IoT zone (default {naming.DEFAULT_ZONE}).")
@click.option("--lan-ip", help="The box's LAN address, when detection picks the wrong one.")
@click.option("--https-port", type=click.IntRange(1, 65535), help="Port the box serves HTTPS on.")
@click.option("--identifier", help="The box's identifier (serial number or MAC).")
@click.pass_context
def configure_command(
    ctx: click.Context, server: str | None, db_uuid: str | None, enterprise_code: str | None,
    issuer: str | None, issuer_ca: str | None, trust_ca: tuple[str, ...], zone: str | None,
    lan_ip: str | None, https_port: int | None, identifier: str | None,
) -> None:
    """Change the box's settings; options not given are left as they are."""
    paths: BoxPaths = ctx.obj
    try:
        config = load_config(paths)
        if issuer:
            check_issuer_url(issuer)
        if zone:
            zone = naming.normalize_zone(zone)
        if lan_ip:
            import ipaddress

            ipaddress.ip_address(lan_ip)
    except ValueError as err:
        raise click.BadParameter(str(err)) from err
    config = configured(
        config, server=server, db_uuid=db_uuid, enterprise_code=enterprise_code, issuer=issuer,
        issuer_ca=str(Path(issuer_ca).resolve()) if issuer_ca else None,
        trust_ca=[str(Path(p).resolve()) for p in trust_ca] if trust_ca else None,
        zone=zone, lan_ip=lan_ip, https_port=https_port, identifier=identifier,
    )
    save_config(paths, config)
    click.echo(json.dumps(config.public_view(), indent=2))


@box_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def status_command(ctx: click.Context, as_json: bool) -> None:
    """Show the certificate status without contacting anything (exit 0 when ok)."""
    report = _report(ctx, ensure=False)
    print_report(report, as_json)
    _exit_for(report)


@box_group.command("ensure")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def ensure_command(ctx: click.Context, as_json: bool) -> None:
    """Check the certificate and get a new one when needed (exit 0 when ok)."""
    report = _report(ctx, ensure=True)
    print_report(report, as_json)
    _exit_for(report)


def _report(ctx: click.Context, *, ensure: bool) -> StatusReport:
    agent = _agent(ctx)
    try:
        return agent.ensure() if ensure else agent.status()
    except ValueError as err:  # damaged config.json
        raise click.ClickException(str(err)) from err


@box_group.command("run")
@click.option("--iterations", type=click.IntRange(1), default=None, hidden=True)
@click.pass_context
def run_command(ctx: click.Context, iterations: int | None) -> None:
    """Ensure now, then keep the certificate valid on a schedule (Ctrl-C to stop)."""
    with contextlib.suppress(KeyboardInterrupt):
        _agent(ctx).run(iterations=iterations)
