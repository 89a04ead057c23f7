"""The ``boxcert`` command: one entry point, a group per role.

Role groups are imported only when used, so ``boxcert box …`` on a small device does not pay
for the issuer's database and web stack at every start.

Exit codes (documented in the README):

===  ==================================================================================
0    done; for ``box status/ensure``: the certificate is OK
1    ``box status/ensure``: the certificate is not OK (the status says why)
2    the command line is wrong (unknown option, bad value)
3    the command could not do its job: port in use, database unreachable, unreadable file …
4    an unexpected internal error (a bug): one line here, the traceback with ``--debug``
130  interrupted (Ctrl-C)
===  ==================================================================================
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path
from typing import NoReturn

import click

from boxcert import __version__, configfile, logsetup

EXIT_FAILED = 3
EXIT_BUG = 4
EXIT_INTERRUPTED = 130

# command name -> "module:attribute"
COMMANDS = {
    "box": "boxcert.box.cli:box_group",
    "issuer": "boxcert.issuer.cli:issuer_group",
    "dns": "boxcert.dns.cli:dns_group",
    "hub": "boxcert.hub.cli:hub_group",
    "demo": "boxcert.demo:demo_command",
    "systemd-unit": "boxcert.systemd:systemd_unit_command",
}
HELP = {
    "box": "The agent on the IoT box.",
    "issuer": "The vendor's certificate service.",
    "dns": "The IoT zone's authoritative DNS server.",
    "hub": "The customer's server: pairs boxes and lists their certificates.",
    "demo": "Run an issuer and a box on this machine and get the box its certificate.",
    "systemd-unit": "Print a hardened systemd unit for a role.",
}

# Options of the root command that may also be written after the sub-command.
_GLOBAL_FLAGS = frozenset({"--debug", "-v", "--verbose"})
_GLOBAL_VALUED = frozenset({"--log-level", "--log-format", "--library-log-level", "--config"})


def hoist_global_options(args: list[str]) -> list[str]:
    """Move the root's options, wherever they are, in front of the sub-command."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        name = arg.split("=", 1)[0]
        if arg in _GLOBAL_FLAGS:
            front.append(arg)
        elif name in _GLOBAL_VALUED:
            front.append(arg)
            if "=" not in arg and i + 1 < len(args):
                i += 1
                front.append(args[i])
        else:
            rest.append(arg)
        i += 1
    return front + rest


class LazyGroup(click.Group):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(args))

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


def _config_path(given: str | None) -> Path | None:
    if given:
        return Path(given)
    env = os.environ.get("BOXCERT_CONFIG")
    if env:
        return Path(env)
    return configfile.DEFAULT_PATH if configfile.DEFAULT_PATH.exists() else None


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "BOXCERT"},
)
@click.version_option(__version__, prog_name="boxcert")
@click.option(
    "--log-level",
    type=click.Choice(logsetup.LEVELS),
    default=None,
    help="Our log level (servers default to info, commands to warning).",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Log lines as text or one JSON object each.",
)
@click.option(
    "--library-log-level",
    type=click.Choice(logsetup.LEVELS),
    default="warning",
    show_default=True,
    help="Log level of the libraries we use.",
)
@click.option("-v", "--verbose", is_flag=True, help="Same as --log-level debug.")
@click.option("--debug", is_flag=True, help="Show the traceback of an unexpected error.")
@click.option(
    "--config",
    "config_file",
    metavar="FILE",
    help="TOML file with defaults for the commands' options "
    "[env BOXCERT_CONFIG; default /etc/boxcert/boxcert.toml if present].",
)
@click.pass_context
def main(
    ctx: click.Context,
    log_level: str | None,
    log_format: str,
    library_log_level: str,
    verbose: bool,
    debug: bool,
    config_file: str | None,
) -> None:
    """Browser-trusted HTTPS certificates for IoT boxes on private LANs."""
    logsetup.configure(
        "debug" if verbose else log_level, log_format, library_level=library_log_level
    )
    ctx.meta["boxcert.debug"] = debug
    path = _config_path(config_file)
    if path is not None:
        ctx.default_map = configfile.load(path, main)


def run(argv: list[str] | None = None) -> NoReturn:
    """The console entry point: expected failures are one line on stderr, never a traceback."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        main.main(args=args, prog_name="boxcert", standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.UsageError as err:
        # One line, like every other failure: what is wrong, and where the help is.
        where = f" (see '{err.ctx.command_path} --help')" if err.ctx is not None else ""
        click.echo(f"boxcert: {err.format_message()}{where}", err=True)
        sys.exit(err.exit_code)
    except click.ClickException as err:
        click.echo(f"boxcert: {err.format_message()}", err=True)
        sys.exit(err.exit_code if err.exit_code not in (0, 1) else EXIT_FAILED)
    except (KeyboardInterrupt, click.exceptions.Abort):
        click.echo("boxcert: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as err:
        if debug:
            raise
        logging.getLogger("boxcert").debug("unexpected error", exc_info=True)
        click.echo(
            f"boxcert: internal error: {_one_line(err)} (run again with --debug for the traceback)",
            err=True,
        )
        sys.exit(EXIT_BUG)
    sys.exit(0)


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__
