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


def _param_names(command: click.Command) -> dict[str, str]:
    """Every spelling of ``command``'s options (``db``, ``--db``, ``tls-cert``, ``tls_cert``)
    mapped to the parameter's name."""
    names: dict[str, str] = {}
    for param in command.params:
        if param.name is None:
            continue
        names[param.name] = param.name
        for opt in (*param.opts, *param.secondary_opts):
            names[opt.lstrip("-")] = param.name
    return names


def _lookup(names: dict[str, str], key: str) -> str | None:
    return names.get(key) or names.get(key.replace("_", "-"))


def _subcommands(group: click.Group) -> list[tuple[str, click.Command]]:
    ctx = click.Context(group)
    found = ((name, group.get_command(ctx, name)) for name in group.list_commands(ctx))
    return [(name, sub) for name, sub in found if sub is not None]


def _shared(command: click.Command, key: str, value: Any) -> dict[str, Any]:
    """The ``default_map`` that gives ``value`` to the option ``key`` of ``command`` and of
    every command below it that has such an option (empty when none has)."""
    out: dict[str, Any] = {}
    name = _lookup(_param_names(command), key)
    if name is not None:
        out[name] = value
    if isinstance(command, click.Group):
        for sub_name, sub in _subcommands(command):
            below = _shared(sub, key, value)
            if below:
                out[sub_name] = below
    return out


def _merge_under(target: dict[str, Any], defaults: dict[str, Any]) -> None:
    """Add ``defaults`` to ``target`` without replacing what ``target`` already says."""
    for key, value in defaults.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge_under(target[key], value)
        else:
            target.setdefault(key, value)


def _defaults(command: click.Command, section: dict[str, Any], where: str) -> dict[str, Any]:
    """``section`` as ``command``'s default_map. A key of a group's section that is not an
    option of the group itself is shared: every command below that has the option gets it
    (``[issuer] data = …`` serves ``issuer serve`` and every administration verb alike); a
    sub-section's own value wins."""
    names = _param_names(command)
    out: dict[str, Any] = {}
    shared: dict[str, Any] = {}
    for key, value in section.items():
        if isinstance(value, dict):
            sub = None
            if isinstance(command, click.Group):
                sub = command.get_command(click.Context(command), key)
            if sub is None:
                raise ConfigFileError(f"{where}: [{key}] is not a command")
            out[key] = _defaults(sub, value, f"{where} [{key}]")
            continue
        name = _lookup(names, key)
        if name is not None:
            out[name] = value
            continue
        below = _shared(command, key, value) if isinstance(command, click.Group) else {}
        if not below:
            raise ConfigFileError(f"{where}: unknown option {key!r} for '{command.name}'")
        _merge_under(shared, below)
    _merge_under(out, shared)
    return out
