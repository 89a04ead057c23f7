"""``boxcert demo``: the whole system on one machine, with nothing set up beforehand.

Three services as separate processes, started in the order a vendor and a customer would: the
issuer (``--ca local``: its own local CA; ``--ca acme``: our DNS server, Debian's Pebble and an
issuer ordering by DNS-01 through them), the customer's hub (configured for one eligible
database), and the box, paired with the hub by a one-time token (``boxcert box connect``),
which checks and gets its certificate at once. Then ``boxcert box run`` serves the box's
homepage on free ports, and the demo prints a ``curl`` and a ``chromium`` command line that
open it with a trusted padlock on this machine, and the hub's URL with its admin password.

``--once`` stops after the pairing's first check (exit 0 when the certificate is OK).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click
import dns.message
import dns.query

from boxcert import devstack, naming

ZONE = naming.DEFAULT_ZONE
BOX_ID = "demo-box-1"


def register_database(issuer_dir: Path) -> tuple[str, str]:
    """An eligible database with a fresh uuid and contract code."""
    db_uuid, code = str(uuid.uuid4()), f"DEMO-{uuid.uuid4().hex[:12].upper()}"
    devstack.add_eligible_database(issuer_dir, db_uuid, code)
    return db_uuid, code


def resolve(server: tuple[str, int], name: str) -> str:
    """What our DNS server answers for ``name`` (A), for the demo's printout."""
    query = dns.message.make_query(name, "A")
    try:
        answer = dns.query.udp(query, server[0], port=server[1], timeout=2)
    except Exception as err:  # shown to the user, never fatal
        return f"no answer ({err})"
    return ", ".join(str(r) for rrset in answer.answer for r in rrset) or "no address"


def _boxcert(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "boxcert", *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _must(done: subprocess.CompletedProcess[str], what: str) -> str:
    if done.returncode != 0:
        raise click.ClickException(f"{what} failed: {(done.stderr or done.stdout).strip()}")
    return done.stdout


@dataclass(frozen=True, slots=True)
class Issuer:
    url: str
    data_dir: Path
    root: Path  # what the box's certificates chain to
    dns: tuple[str, int] | None  # our DNS server, with --ca acme


def _start_issuer(work: Path, ca_name: str, stops: list[Callable[[], None]]) -> Issuer:
    if ca_name == "acme":
        try:
            stack = devstack.start_acme_stack(work, ZONE)
        except devstack.StackError as err:
            raise click.ClickException(str(err)) from err
        stops.append(stack.stop)
        host, port = stack.dns_address
        click.echo(f"pebble:   {stack.pebble.directory_url} (Let's Encrypt's test CA)")
        click.echo(f"dns:      {host}:{port} (authoritative for {ZONE})")
        return Issuer(stack.issuer_url, stack.data_dir, stack.root_path, stack.dns_address)
    issuer_dir = work / "issuer"
    process, url = devstack.start_issuer(issuer_dir, "--zone", ZONE)
    stops.append(process.stop)
    return Issuer(url, issuer_dir, issuer_dir / "ca" / "root.pem", None)


def _start_hub(work: Path, issuer: Issuer, stops: list[Callable[[], None]]) -> devstack.HubRun:
    db_uuid, code = register_database(issuer.data_dir)
    hub = devstack.start_hub(work / "hub")
    stops.append(hub.process.stop)
    data = str(work / "hub")
    _must(
        _boxcert(
            "hub", "configure", "--data", data, "--db-uuid", db_uuid, "--enterprise-code", "-",
            "--issuer", issuer.url, "--zone", ZONE, input=code + "\n",
        ),
        "hub configure",
    )  # fmt: skip
    return hub


def _pair_box(home: Path, hub_dir: Path, issuer: Issuer, https_port: int) -> tuple[int, str]:
    """Configure the box, pair it by token: (exit status of `box connect`, its report)."""
    token = _must(_boxcert("hub", "token", "--data", str(hub_dir)), "hub token").split()[0]
    _must(
        _boxcert(
            "box", "--home", str(home), "configure", "--identifier", BOX_ID,
            "--trust-ca", str(issuer.root), "--https-port", str(https_port),
        ),
        "box configure",
    )  # fmt: skip
    done = _boxcert("box", "--home", str(home), "connect", token, "--name", "Demo box")
    if done.returncode not in (0, 1):  # 1: paired, the certificate is not OK (shown)
        raise click.ClickException(f"box connect failed: {done.stderr.strip()}")
    return done.returncode, done.stdout


def trust_store(home: Path, root: Path) -> list[list[str]]:
    """The certutil commands that make an NSS database in ``home`` (a browser's $HOME) trusting
    ``root`` for servers; run here when certutil is installed."""
    db = f"sql:{home / '.pki' / 'nssdb'}"
    commands = [
        ["certutil", "-N", "-d", db, "--empty-password"],
        ["certutil", "-A", "-d", db, "-n", "boxcert demo root", "-t", "C,,", "-i", str(root)],
    ]
    if shutil.which("certutil") is not None:
        (home / ".pki" / "nssdb").mkdir(parents=True, exist_ok=True)
        for command in commands:
            subprocess.run(command, check=True, capture_output=True, timeout=60)
    return commands


def open_commands(url: str, root: Path, browser_home: Path) -> tuple[str, str]:
    """(curl, chromium) command lines that open ``url`` by name, the root trusted, the name
    mapped to this machine."""
    host, port = url.removeprefix("https://").rstrip("/").split(":")
    curl = shlex.join(
        ["curl", "--cacert", str(root), "--resolve", f"{host}:{port}:127.0.0.1", url + "/"]
    )
    chromium = [
        "chromium",
        f"--user-data-dir={browser_home / 'profile'}",
        f"--host-resolver-rules=MAP {host} 127.0.0.1",
        "--no-first-run",
    ]
    if os.geteuid() == 0:
        chromium.append("--no-sandbox")  # chromium refuses to run as root with its sandbox
    return curl, f"HOME={shlex.quote(str(browser_home))} " + shlex.join([*chromium, url + "/"])


@click.command("demo")
@click.option("--once", is_flag=True, help="Exit after the first check (0 when the box is ok).")
@click.option(
    "--ca",
    "ca_name",
    type=click.Choice(["local", "acme"]),
    default="local",
    show_default=True,
    help="acme needs Debian's pebble package.",
)
@click.option(
    "--dir",
    "work_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to keep the demo's state (default: a new temporary directory).",
)
def demo_command(once: bool, ca_name: str, work_dir: Path | None) -> None:
    """Run an issuer, a hub and a box on this machine; pair the box and serve its homepage."""
    work = (work_dir or Path(tempfile.mkdtemp(prefix="boxcert-demo-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    stops: list[Callable[[], None]] = []
    try:
        issuer = _start_issuer(work, ca_name, stops)
        click.echo(f"issuer:   {issuer.url} ({ca_name} CA; state in {issuer.data_dir})")
        hub = _start_hub(work, issuer, stops)
        click.echo(f"hub:      {hub.url}/boxes (state in {work / 'hub'})")
        click.echo(f"          admin password: {hub.password}")
        home = work / "box"
        https_port, http_port = devstack.free_port(), devstack.free_port()
        click.echo(f"box:      state in {home}; pairing it with the hub by token")
        status, report = _pair_box(home, work / "hub", issuer, https_port)
        click.echo(report.rstrip())
        if once:
            sys.exit(status)
        box = devstack.start_box(
            home, "--https-port", str(https_port), "--http-port", str(http_port),
            "--listen", "127.0.0.1",
        )  # fmt: skip
        stops.append(box.process.stop)
        _print_ready(home, issuer, box, work / "browser")
        _wait_for_ctrl_c(box)
        click.echo("\nstopped")
    finally:
        for stop in reversed(stops):
            stop()


def _print_ready(home: Path, issuer: Issuer, box: devstack.BoxRun, browser_home: Path) -> None:
    url = _box_url(home)
    host = url.removeprefix("https://").split(":")[0]
    if issuer.dns is not None:
        click.echo(f"  dns:     {host} -> {resolve(issuer.dns, host)}")
    commands = trust_store(browser_home, issuer.root)
    curl, chromium = open_commands(url, issuer.root, browser_home)
    click.echo(f"\nThe box's homepage: {url}/  (box password: {box.password})")
    click.echo("Open it with a trusted padlock on this machine:\n")
    click.echo(f"  {curl}\n")
    click.echo(f"  {chromium}\n")
    made = "made with" if shutil.which("certutil") else "make it first with"
    click.echo(f"chromium trusts the demo's root through an NSS database in {browser_home},")
    click.echo(f"its HOME for the demo ({made}):")
    for command in commands:
        click.echo(f"  {shlex.join(command)}")
    click.echo(f"\nInspect the box with: boxcert box --home {home} status")
    click.echo("The box keeps its certificate valid and reports to the hub; Ctrl-C stops the demo.")


def _box_url(home: Path) -> str:
    done = _boxcert("box", "--home", str(home), "status", "--json")
    url = json.loads(done.stdout).get("url")
    if not url:
        raise click.ClickException(f"the box has no URL yet: {done.stdout.strip()}")
    return str(url)


def _wait_for_ctrl_c(box: devstack.BoxRun) -> None:
    """Until SIGINT or SIGTERM, or until the box process ends on its own."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with contextlib.suppress(KeyboardInterrupt):
            while not stop.wait(0.5):
                if box.process.proc.poll() is not None:
                    click.echo(f"the box stopped; its log: {box.process.log_path}", err=True)
                    return
    finally:
        signal.signal(signal.SIGTERM, previous)
