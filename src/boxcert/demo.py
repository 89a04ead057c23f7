"""``boxcert demo``: the whole system on one machine, with nothing set up beforehand.

``--ca local`` (default): an issuer with its own local CA. ``--ca acme``: our DNS server,
Debian's Pebble (Let's Encrypt's test CA) and an issuer that orders by DNS-01 through them.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

import click
import dns.message
import dns.query

from boxcert import devstack, naming
from boxcert.box.agent import BoxAgent
from boxcert.box.cli import print_report
from boxcert.box.config import BoxConfig, save_config
from boxcert.box.files import BoxPaths
from boxcert.box.status import BoxStatus, CertState

ZONE = naming.DEFAULT_ZONE


def register_database(issuer_dir: Path) -> tuple[str, str]:
    """An eligible database with a fresh uuid and contract code."""
    db_uuid, code = str(uuid.uuid4()), f"DEMO-{uuid.uuid4().hex[:12].upper()}"
    devstack.add_eligible_database(issuer_dir, db_uuid, code)
    return db_uuid, code


def resolve(server: tuple[str, int], name: str) -> str:
    """What our DNS server answers for ``name`` (A), for the demo's printout."""
    try:
        answer = dns.query.udp(dns.message.make_query(name, "A"), server[0], port=server[1],
                               timeout=2)
    except Exception as err:  # shown to the user, never fatal
        return f"no answer ({err})"
    return ", ".join(str(r) for rrset in answer.answer for r in rrset) or "no address"


@click.command("demo")
@click.option("--once", is_flag=True, help="Exit after the first ensure (0 when the box is ok).")
@click.option("--ca", "ca_name", type=click.Choice(["local", "acme"]), default="local",
              show_default=True, help="acme needs Debian's pebble package.")
@click.option("--dir", "work_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where to keep the demo's state (default: a new temporary directory).")
def demo_command(once: bool, ca_name: str, work_dir: Path | None) -> None:
    """Run an issuer and a box on this machine and get the box its certificate."""
    work = work_dir or Path(tempfile.mkdtemp(prefix="boxcert-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    stops: list[Callable[[], None]] = []
    try:
        if ca_name == "acme":
            try:
                stack = devstack.start_acme_stack(work, ZONE)
            except devstack.StackError as err:
                raise click.ClickException(str(err)) from err
            stops.append(stack.stop)
            issuer_dir, url, root = stack.data_dir, stack.issuer_url, stack.root_path
            dns_server: tuple[str, int] | None = stack.dns_address
            host, port = stack.dns_address
            click.echo(f"pebble:   {stack.pebble.directory_url} (Let's Encrypt's test CA)")
            click.echo(f"dns:      {host}:{port} (authoritative for {ZONE})")
        else:
            issuer_dir = work / "issuer"
            process, url = devstack.start_issuer(issuer_dir, "--zone", ZONE)
            stops.append(process.stop)
            root, dns_server = issuer_dir / "ca" / "root.pem", None
        db_uuid, code = register_database(issuer_dir)
        click.echo(f"issuer:   {url} (state in {issuer_dir})")
        report, agent = _run_box(work / "box", url, root, db_uuid, code)
        if dns_server is not None and report.url is not None:
            host = report.url.removeprefix("https://").split(":")[0]
            click.echo(f"  dns:     {host} -> {resolve(dns_server, host)}")
        click.echo(f"\nInspect it with: boxcert box --home {work / 'box'} status")
        if once:
            sys.exit(0 if report.state is CertState.OK else 1)
        click.echo("The box keeps its certificate valid from now on; Ctrl-C stops the demo.")
        with contextlib.suppress(KeyboardInterrupt):
            agent.run()
        click.echo("\nstopped")
    finally:
        for stop in reversed(stops):
            stop()


def _run_box(
    home: Path, issuer_url: str, root: Path, db_uuid: str, code: str
) -> tuple[BoxStatus, BoxAgent]:
    paths = BoxPaths(home)
    save_config(paths, BoxConfig(
        server="http://127.0.0.1:8069", db_uuid=db_uuid, enterprise_code=code,
        issuer=issuer_url, trust_ca=[str(root)], zone=ZONE, identifier="demo-box-1",
    ))
    click.echo(f"box home: {home}")
    agent = BoxAgent(paths)
    report = agent.ensure()
    print_report(report, as_json=False)
    return report, agent
