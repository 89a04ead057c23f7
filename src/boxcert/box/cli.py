"""``boxcert box …``: configure the agent, show its status, ensure a certificate, run it.

A mistake or a damaged file is one line on stderr (exit 1, or 2 for a bad option), never a
traceback; with ``--json``, ``status`` and ``ensure`` print one JSON object whatever happens.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import click

from boxcert import naming, pki
from boxcert.box.agent import BoxAgent
from boxcert.box.config import update_config
from boxcert.box.errors import BoxError, BoxFileError, BusyError, ConfigError
from boxcert.box.files import TRUST_FILE_BYTES, BoxPaths, home_from, read_bounded
from boxcert.box.status import BoxStatus, CertState
from boxcert.wire import REFUSALS

log = logging.getLogger(__name__)
_LOG_HANDLER_NAME = "boxcert-box-log"


def _attach_log(paths: BoxPaths) -> None:
    """Log to ``box.log`` from INFO up (the terminal gets warnings only, or all with ``-v``)."""
    logger = logging.getLogger("boxcert")
    for old in [h for h in logger.handlers if h.get_name() == _LOG_HANDLER_NAME]:
        logger.removeHandler(old)
        old.close()
    logger.setLevel(logging.INFO)
    try:
        paths.home.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(paths.log)
    except OSError as err:
        # Commands still work; what they would have logged is lost, so say so once.
        click.echo(
            f"warning: cannot write the box log {paths.log}: {err.strerror or err}", err=True
        )
        return
    handler.set_name(_LOG_HANDLER_NAME)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)


@click.group("box")
@click.option(
    "--home",
    envvar="BOXCERT_HOME",
    type=click.Path(),
    help="Directory with the box's key, certificate and settings "
    "[env BOXCERT_HOME; default ~/.boxcert].",
)
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


def print_report(status: BoxStatus, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(status.to_json(), indent=2))
        return
    mark = {CertState.OK: "OK", CertState.NEED_REFRESH: "NEEDS REFRESH", CertState.ERROR: "ERROR"}[
        status.state
    ]
    click.echo(f"HTTPS certificate: {mark}")
    if status.error is not None:
        click.echo(f"  code:    {status.error_code}")
        if status.refusal is not None:
            meaning = REFUSALS[status.refusal]
            click.echo(f"  meaning: {meaning.title}")
            click.echo(f"  do:      {meaning.remedy}")
        else:
            click.echo(f"  meaning: {status.error.cause}")
            click.echo(f"  do:      {status.error.remedy}")
    click.echo(f"  detail:  {status.detail}")
    if status.checked_at is not None:
        click.echo(f"  checked: {status.checked_at.isoformat(timespec='seconds')}")
    cert = status.certificate
    if cert is not None:
        click.echo(f"  url:     {status.url or ''}")
        click.echo(f"  names:   {', '.join(cert.sans)}")
        click.echo(f"  issuer:  {cert.issuer}")
        click.echo(f"  valid:   {cert.not_before.isoformat()} .. {cert.not_after.isoformat()}")
        click.echo(f"  sha256:  {cert.fingerprint_sha256}")


def _ca_file(param: str, value: str) -> str:
    """The absolute path of a PEM bundle, once it is known to hold certificates."""
    path = Path(value).resolve()
    try:
        pki.load_certificates(read_bounded(path, TRUST_FILE_BYTES))
    except (OSError, BoxFileError, pki.PemError) as err:
        raise click.BadParameter(f"{value}: {err}", param_hint=param) from err
    return str(path)


@box_group.command("configure")
@click.option("--server", help="URL of the server (hub) the box belongs to.")
@click.option("--db-uuid", help="UUID of the customer's database.")
@click.option("--enterprise-code", help="Contract code of the database's subscription.")
@click.option("--issuer", help="Base URL of the certificate service.")
@click.option(
    "--issuer-ca",
    type=click.Path(dir_okay=False, exists=True),
    help="PEM bundle that verifies the certificate service's own TLS.",
)
@click.option(
    "--trust-ca",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True),
    help="Extra root (PEM) that delivered certificates may chain to; repeatable.",
)
@click.option("--zone", help=f"The IoT zone (default {naming.DEFAULT_ZONE}).")
@click.option("--lan-ip", help="The box's LAN address, when detection picks the wrong one.")
@click.option("--https-port", type=click.IntRange(1, 65535), help="Port the box serves HTTPS on.")
@click.option("--identifier", help="The box's identifier (serial number or MAC).")
@click.pass_context
def configure_command(
    ctx: click.Context,
    server: str | None,
    db_uuid: str | None,
    enterprise_code: str | None,
    issuer: str | None,
    issuer_ca: str | None,
    trust_ca: tuple[str, ...],
    zone: str | None,
    lan_ip: str | None,
    https_port: int | None,
    identifier: str | None,
) -> None:
    """Change the box's settings; options not given are left as they are."""
    paths: BoxPaths = ctx.obj
    changes = {
        "server": server,
        "db_uuid": db_uuid,
        "enterprise_code": enterprise_code,
        "issuer": issuer,
        "zone": zone,
        "lan_ip": lan_ip,
        "https_port": https_port,
        "identifier": identifier,
        "issuer_ca": _ca_file("--issuer-ca", issuer_ca) if issuer_ca else None,
        "trust_ca": [_ca_file("--trust-ca", p) for p in trust_ca] if trust_ca else None,
    }
    try:
        config = update_config(paths, **changes)
    except ConfigError as err:
        given = [name for name in err.problems if changes.get(name) is not None]
        if given:
            raise click.BadParameter(
                "; ".join(err.problems[name] for name in given),
                param_hint=", ".join("--" + name.replace("_", "-") for name in given),
            ) from err
        raise click.ClickException(
            f"{err} (fix it with the matching option, or remove the file to start afresh)"
        ) from err
    except BoxError as err:
        raise click.ClickException(str(err)) from err
    click.echo(json.dumps(config.public_view(), indent=2))


@box_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def status_command(ctx: click.Context, as_json: bool) -> None:
    """Show the certificate status without contacting anything (exit 0 when ok)."""
    _report(ctx, as_json, ensure=False)


@box_group.command("ensure")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--force", is_flag=True, help="Ask for a new certificate even if this one is good.")
@click.pass_context
def ensure_command(ctx: click.Context, as_json: bool, force: bool) -> None:
    """Check the certificate and get a new one when needed (exit 0 when ok)."""
    _report(ctx, as_json, ensure=True, force=force)


def _report(ctx: click.Context, as_json: bool, *, ensure: bool, force: bool = False) -> None:
    agent = _agent(ctx)
    try:
        status = agent.ensure(force) if ensure else agent.status()
    except BusyError as err:
        if not as_json:
            raise click.ClickException(str(err)) from err
        status = BoxStatus.problem(str(err))
    except Exception as err:
        # A defect, not a state of the box: the traceback goes to the box log only.
        log.exception("the %s command failed", "ensure" if ensure else "status")
        if not as_json:
            raise click.ClickException(
                f"unexpected error ({type(err).__name__}); details are in the box log"
            ) from err
        status = BoxStatus.problem(
            f"unexpected error ({type(err).__name__}); details are in the box log"
        )
    print_report(status, as_json)
    sys.exit(0 if status.state is CertState.OK else 1)


@box_group.command("run")
@click.option("--iterations", type=click.IntRange(1), default=None, hidden=True)
@click.pass_context
def run_command(ctx: click.Context, iterations: int | None) -> None:
    """Ensure now, then keep the certificate valid on a schedule (Ctrl-C to stop)."""
    stop = threading.Event()

    def on_term(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = None
    with contextlib.suppress(ValueError):  # signals can be set from the main thread only
        previous = signal.signal(signal.SIGTERM, on_term)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            _agent(ctx).run(stop, iterations=iterations)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
