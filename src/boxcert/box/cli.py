"""``boxcert box …``: configure the agent, pair it with a hub, show its status, ensure a
certificate, run it (agent, reports and HTTPS front: :mod:`boxcert.box.runner`); ``diagnose``
and ``check-connection`` are in :mod:`boxcert.box.cli_checks`.

A mistake or a damaged file is one line on stderr (exit 3, or 2 for a bad option), never a
traceback; with ``--json``, ``status`` and ``ensure`` print one JSON object whatever happens.

Logging: the short commands keep all of ours in ``<home>/box.log`` (rotated at 1 MB, 3 old
files; a failed request's traceback is there), the terminal gets warnings (more with
``--log-level``). ``box run`` is a
service: it logs INFO to stderr (journald keeps it) and, with ``--log-file PATH``, also to a
rotating file; libraries stay at WARNING unless ``--library-log-level`` says otherwise.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
from pathlib import Path

import click

from boxcert import logsetup, pki
from boxcert.box.advice import explain, has_exchange_path
from boxcert.box.agent import BoxAgent
from boxcert.box.config import BoxConfig, load_config, update_config
from boxcert.box.errors import BoxError, BoxFileError, BusyError, ConfigError
from boxcert.box.files import TRUST_FILE_BYTES, BoxPaths, home_from, read_bounded
from boxcert.box.hubclient import ReportOutcome
from boxcert.box.hublink import HubLink, LinkState, link_of, load_log, status_document
from boxcert.box.status import BoxStatus, CertState

log = logging.getLogger(__name__)
_LOG_HANDLER_NAME = "boxcert-box-log"
LOG_MAX_BYTES = 1024 * 1024
LOG_BACKUPS = 3


def _detach_log() -> None:
    logger = logging.getLogger("boxcert")
    for old in [h for h in logger.handlers if h.get_name() == _LOG_HANDLER_NAME]:
        logger.removeHandler(old)
        old.close()


def _attach_log(paths: BoxPaths) -> None:
    """Log to ``box.log`` from DEBUG up (the terminal gets warnings only, or more with
    ``--log-level``)."""
    _detach_log()
    logger = logging.getLogger("boxcert")
    if logger.getEffectiveLevel() > logging.DEBUG:
        # box.log keeps our whole story (the tracebacks of failed requests are DEBUG); what
        # reaches the terminal is decided by the stderr handler's own level.
        logger.setLevel(logging.DEBUG)
    try:
        paths.home.mkdir(parents=True, exist_ok=True)
    except OSError:
        return  # no home at all: the command itself says so, in its one line
    try:
        handler = logging.handlers.RotatingFileHandler(
            paths.log, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
        )
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


_LINK_TEXT = {
    LinkState.NONE: "not paired (boxcert box connect TOKEN)",
    LinkState.PAIRED: "paired",
    LinkState.UNPAIRED: "UNPAIRED: the hub no longer knows this box; pair it again",
}


def hub_link(paths: BoxPaths) -> HubLink:
    try:
        config = load_config(paths)
    except BoxError:
        return HubLink(LinkState.NONE)
    return link_of(config, load_log(paths))


def print_report(status: BoxStatus, as_json: bool, link: HubLink | None = None) -> None:
    link = link or HubLink(LinkState.NONE)
    if as_json:
        click.echo(json.dumps(status_document(status, link), indent=2))
        return
    mark = {CertState.OK: "OK", CertState.NEED_REFRESH: "NEEDS REFRESH", CertState.ERROR: "ERROR"}[
        status.state
    ]
    click.echo(f"HTTPS certificate: {mark}")
    words = explain(status)
    if words is not None:
        click.echo(f"  code:    {status.error_code}")
        click.echo(f"  meaning: {words.reason or words.cause}")
        click.echo(f"  do:      {words.remedy}")
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
    if status.clock is not None and status.clock.wrong:
        click.echo(f"clock: WRONG: {status.clock.check.detail}")
    if status.hook is not None and not status.hook.ok:
        at = status.hook.at.isoformat(timespec="seconds")
        click.echo(f"deploy hook: FAILED at {at}: {status.hook.detail}")
    shown = _LINK_TEXT[link.state]
    if link.state is not LinkState.NONE:
        shown += f" with {link.server}"
        if link.last_report_at is not None:
            shown += f"; last report {link.last_report_at.isoformat(timespec='seconds')}"
        if link.last_error:
            shown += f"; last problem: {link.last_error}"
    click.echo(f"hub: {shown}")


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
@click.option(
    "--zone",
    help="Override the IoT zone the certificate service announces ('' removes the override).",
)
@click.option("--lan-ip", help="The box's LAN address, when detection picks the wrong one.")
@click.option("--https-port", type=click.IntRange(1, 65535), help="Port the box serves HTTPS on.")
@click.option("--identifier", help="The box's identifier (serial number or MAC).")
@click.option("--name", help="What the hub shows for this box.")
@click.option(
    "--lan-resolver",
    metavar="IP[:PORT]",
    help="The LAN's DNS server for the DNS diagnosis ('' for this system's).",
)
@click.option(
    "--zone-dns",
    metavar="IP[:PORT]",
    multiple=True,
    help="A server of the zone for the DNS diagnosis (repeatable; '' to find them by NS).",
)
@click.option(
    "--ntp-server",
    metavar="HOST[:PORT]",
    help="An NTP server the box compares its clock with ('' for none).",
)
@click.option(
    "--deploy-hook",
    metavar="CMD",
    help="Shell command run after each new certificate is installed ('' for none).",
)
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
    name: str | None,
    lan_resolver: str | None,
    zone_dns: tuple[str, ...],
    ntp_server: str | None,
    deploy_hook: str | None,
) -> None:
    """Change the box's settings; options not given are left as they are."""
    paths: BoxPaths = ctx.obj
    if issuer and has_exchange_path(issuer):
        raise click.BadParameter(
            "give the certificate service's base URL, without /iot/x509 (the box adds it)",
            param_hint="--issuer",
        )
    changes = {
        "server": server,
        "db_uuid": db_uuid,
        "enterprise_code": enterprise_code,
        "issuer": issuer,
        "zone": zone,
        "lan_ip": lan_ip,
        "https_port": https_port,
        "identifier": identifier,
        "name": name,
        "issuer_ca": _ca_file("--issuer-ca", issuer_ca) if issuer_ca else None,
        "trust_ca": [_ca_file("--trust-ca", p) for p in trust_ca] if trust_ca else None,
        "lan_resolver": lan_resolver,
        "zone_dns": [s for s in zone_dns if s] if zone_dns else None,
        "ntp_server": ntp_server,
        "deploy_hook": deploy_hook,
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
    if config.issuer and (issuer or zone is not None or issuer_ca):
        _learn_zone(paths, config)


def _learn_zone(paths: BoxPaths, config: BoxConfig) -> None:
    """Read the certificate service's zone now, so the box knows its names (and a zone
    override that disagrees is said at once); what is said goes to stderr."""
    from boxcert.box.issuerinfo import read_info, save_facts, zone_mismatch
    from boxcert.clock import system_clock

    try:
        info = read_info(config.issuer, config.issuer_ca, clock=system_clock, deadline=10.0)
    except BoxError as err:
        click.echo(
            f"note: the certificate service could not be reached now ({err}); the box reads "
            "its zone at its next check",
            err=True,
        )
        return
    if info.facts is None:
        click.echo("note: the certificate service announces no zone", err=True)
        return
    try:
        save_facts(paths, info.facts)
    except BoxError as err:
        click.echo(f"warning: {err}", err=True)
    mismatch = zone_mismatch(config, info.facts)
    if mismatch is not None:
        click.echo(f"warning: {mismatch.code.code}: {mismatch.detail}", err=True)
    else:
        click.echo(f"zone: {info.facts.zone} (announced by the certificate service)", err=True)


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
    print_report(status, as_json, hub_link(agent.paths))
    sys.exit(0 if status.state is CertState.OK else 1)


@box_group.command("connect")
@click.argument("token")
@click.option(
    "--hub-ca",
    type=click.Path(dir_okay=False, exists=True),
    help="PEM bundle that verifies the hub's TLS (a private CA); default: the system's.",
)
@click.option("--name", help="What the hub shows for this box (default: as before, or empty).")
@click.pass_context
def connect_command(ctx: click.Context, token: str, hub_ca: str | None, name: str | None) -> None:
    """Pair the box with a hub by the one-time TOKEN it gave, then check the certificate."""
    from boxcert.box.reporter import Reporter

    agent = _agent(ctx)
    ca_file = _ca_file("--hub-ca", hub_ca) if hub_ca else None
    try:
        config = agent.pair(token, name=name, hub_ca=ca_file)
    except BoxError as err:  # PairingError; settings the hub's answer cannot make valid
        raise click.ClickException(str(err)) from err
    click.echo(f"paired with the hub at {config.server} as {config.identifier}")
    try:
        status = agent.ensure()
    except BusyError as err:
        status = BoxStatus.problem(str(err))
    result = Reporter(agent.paths, agent.holder).attempt(config, status)
    if result is not None and result.outcome is not ReportOutcome.ACCEPTED:
        click.echo(f"the hub did not take the report yet ({result.detail})", err=True)
    print_report(status, False, hub_link(agent.paths))
    sys.exit(0 if status.state is CertState.OK else 1)


@box_group.command("run")
@click.option("--https-port", type=click.IntRange(0, 65535), default=443, show_default=True)
@click.option("--http-port", type=click.IntRange(0, 65535), default=80, show_default=True)
@click.option("--no-http", is_flag=True, help="No plain-HTTP listener.")
@click.option("--listen", default="", metavar="ADDR", help="Address to listen on [default: all].")
@click.option("--upstream", metavar="URL", help="Pass every other path to this application.")
@click.option(
    "--front",
    type=click.Choice(["builtin", "nginx"]),
    default="builtin",
    show_default=True,
    help="Serve HTTPS ourselves, or configure this machine's nginx.",
)
@click.option("--no-front", is_flag=True, help="Run the agent and its reports only.")
@click.option(
    "--nginx-site",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("/etc/nginx/conf.d/boxcert.conf"),
    show_default=True,
    help="--front nginx: the site file the box writes.",
)
@click.option(
    "--nginx-conf",
    type=click.Path(dir_okay=False, path_type=Path),
    help="--front nginx: nginx.conf of a private nginx (nginx -c); default: the system's.",
)
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also log to this file, rotated at 1 MB (3 old files kept). Default: stderr only.",
)
@click.pass_context
def run_command(
    ctx: click.Context,
    https_port: int,
    http_port: int,
    no_http: bool,
    listen: str,
    upstream: str | None,
    front: str,
    no_front: bool,
    nginx_site: Path,
    nginx_conf: Path | None,
    log_file: Path | None,
) -> None:
    """Keep the certificate valid, report to the hub and serve HTTPS (Ctrl-C to stop)."""
    from boxcert.box.front.nginx import NginxCommand
    from boxcert.box.front.server import NginxOptions
    from boxcert.box.runner import BoxRunner, RunError, RunOptions

    paths: BoxPaths = ctx.obj
    nginx = None
    if front == "nginx" and not no_front:
        command = NginxCommand(conf=nginx_conf) if nginx_conf else NginxCommand()
        nginx = NginxOptions(site_file=nginx_site, pair_dir=paths.home / "nginx", command=command)
    options = RunOptions(
        front="none" if no_front else front,
        https_port=https_port,
        http_port=None if no_http else http_port,
        listen=listen,
        upstream=upstream,
        nginx=nginx,
    )
    logsetup.default_level("info")  # a service: its decisions go to stderr (journald)
    _detach_log()  # box.log is for the short commands; a service logs where it is told
    if log_file is not None:
        try:
            logsetup.add_file(log_file, max_bytes=LOG_MAX_BYTES, backups=LOG_BACKUPS)
        except OSError as err:
            raise click.BadParameter(
                f"cannot write {log_file}: {err.strerror or err}", param_hint="--log-file"
            ) from err
    try:
        BoxRunner(paths, options, say=lambda line: click.echo(line)).run()
    except RunError as err:
        raise click.ClickException(str(err)) from err


def _register_checks() -> None:
    from boxcert.box.cli_checks import check_connection_command, diagnose_command

    box_group.add_command(diagnose_command)
    box_group.add_command(check_connection_command)


_register_checks()
