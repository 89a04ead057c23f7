"""``boxcert demo``: the whole system on one machine, with nothing set up beforehand."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import click

from boxcert.box.agent import BoxAgent
from boxcert.box.cli import print_report
from boxcert.box.config import BoxConfig, BoxPaths, save_config
from boxcert.box.status import CertStatus
from boxcert.clock import system_clock
from boxcert.issuer import store
from boxcert.issuer.db import database_url, open_engine, session_factory
from boxcert.issuer.models import IOT_BOX_LINE, DatabaseKind, SubscriptionState
from boxcert.naming import DEFAULT_ZONE


def start_issuer(data_dir: Path, extra: list[str]) -> tuple[subprocess.Popen[str], str]:
    """Start ``boxcert issuer serve`` on a free loopback port; return it and its URL."""
    cmd = [sys.executable, "-m", "boxcert", "issuer", "serve", "--data", str(data_dir),
           "--listen", "127.0.0.1:0", *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("issuer: listening on "):
            return proc, line.split()[3]
    proc.wait()
    raise click.ClickException(f"the issuer did not start (exit {proc.returncode})")


@click.command("demo")
@click.option("--once", is_flag=True, help="Exit after the first ensure (0 when the box is ok).")
@click.option("--dir", "work_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where to keep the demo's state (default: a new temporary directory).")
def demo_command(once: bool, work_dir: Path | None) -> None:
    """Run an issuer and a box on this machine and get the box its certificate."""
    work = work_dir or Path(tempfile.mkdtemp(prefix="boxcert-demo-"))
    issuer_dir, box_home = work / "issuer", work / "box"
    issuer_dir.mkdir(parents=True, exist_ok=True)

    db_uuid, code = str(uuid.uuid4()), f"DEMO-{uuid.uuid4().hex[:12].upper()}"
    engine = open_engine(database_url(issuer_dir, None))
    with session_factory(engine).begin() as s:
        now = system_clock()
        store.add_subscription(s, code, SubscriptionState.IN_PROGRESS, [IOT_BOX_LINE], now)
        store.add_database(s, db_uuid, DatabaseKind.PRODUCTION, code, now)
    engine.dispose()

    proc, url = start_issuer(issuer_dir, [])
    try:
        click.echo(f"issuer:   {url} (state in {issuer_dir})")
        paths = BoxPaths(box_home)
        save_config(paths, BoxConfig(
            server="http://127.0.0.1:8069", db_uuid=db_uuid, enterprise_code=code, issuer=url,
            trust_ca=[str(issuer_dir / "ca" / "root.pem")], zone=DEFAULT_ZONE,
            identifier="demo-box-1",
        ))
        click.echo(f"box home: {box_home}")
        agent = BoxAgent(paths)
        report = agent.ensure()
        print_report(report, as_json=False)
        click.echo(f"\nInspect it with: boxcert box --home {box_home} status")
        if once:
            sys.exit(0 if report.status is CertStatus.OK else 1)
        click.echo("The box keeps its certificate valid from now on; Ctrl-C stops the demo.")
        try:
            agent.run()
        except KeyboardInterrupt:
            click.echo("\nstopped")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
