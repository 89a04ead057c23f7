"""Defaults for command options from a TOML file, as click's ``default_map``.

Sections follow the commands, keys are option names as ``--help`` shows them (dashes or
underscores)::

    [box]
    home = "/var/lib/boxcert-box"

    [issuer.serve]
    data = "/var/lib/boxcert"
    listen = "0.0.0.0:8443"
    zone = "iot.example.net"

Precedence: a flag on the command line, then its ``BOXCERT_…`` environment variable, then this
file, then the built-in default. The file may hold secrets (a contract code): keep it 0600.
The default path is ``$BOXCERT_CONFIG``, else ``/etc/boxcert/boxcert.toml`` when it exists.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import click

DEFAULT_PATH = Path("/etc/boxcert/boxcert.toml")


class ConfigFileError(click.ClickException):
    pass


def load(path: Path, root: click.Command) -> dict[str, Any]:
    """The ``default_map`` for ``root`` from the TOML file at ``path``."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigFileError(f"cannot read config file {path}: {err.strerror or err}") from err
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigFileError(f"config file {path} is not valid TOML: {err}") from err
    return _defaults(root, data, str(path))


def _defaults(command: click.Command, section: dict[str, Any], where: str) -> dict[str, Any]:
    names: dict[str, str] = {}
    for param in command.params:
        if param.name is None:
            continue
        names[param.name] = param.name
        for opt in (*param.opts, *param.secondary_opts):
            names[opt.lstrip("-")] = param.name
    out: dict[str, Any] = {}
    for key, value in section.items():
        if isinstance(value, dict):
            sub = None
            if isinstance(command, click.Group):
                sub = command.get_command(click.Context(command), key)
            if sub is None:
                raise ConfigFileError(f"{where}: [{key}] is not a command")
            out[key] = _defaults(sub, value, f"{where} [{key}]")
            continue
        name = names.get(key) or names.get(key.replace("_", "-"))
        if name is None:
            raise ConfigFileError(f"{where}: unknown option {key!r} for '{command.name}'")
        out[name] = value
    return out
