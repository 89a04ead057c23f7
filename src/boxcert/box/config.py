"""The box's configuration and the files under its home directory."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from boxcert import naming, pki

HOME_ENV = "BOXCERT_HOME"


@dataclass(frozen=True, slots=True)
class BoxPaths:
    home: Path

    @property
    def config(self) -> Path:
        return self.home / "config.json"

    @property
    def key(self) -> Path:
        return self.home / "key.pem"

    @property
    def cert(self) -> Path:
        return self.home / "cert.pem"

    @property
    def state(self) -> Path:
        return self.home / "state.json"

    @property
    def log(self) -> Path:
        return self.home / "box.log"


@dataclass(frozen=True, slots=True)
class BoxConfig:
    server: str = ""
    db_uuid: str = ""
    enterprise_code: str = ""
    issuer: str = ""
    issuer_ca: str = ""
    trust_ca: list[str] = field(default_factory=list)
    zone: str = naming.DEFAULT_ZONE
    lan_ip: str = ""
    https_port: int = 443
    identifier: str = ""

    def public_view(self) -> dict[str, Any]:
        """The configuration without secrets, for status output and pages."""
        view = asdict(self)
        view["enterprise_code"] = "set" if self.enterprise_code else ""
        return view


def load_config(paths: BoxPaths) -> BoxConfig:
    try:
        raw = json.loads(paths.config.read_text())
    except FileNotFoundError:
        return BoxConfig()
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read {paths.config}: {err}") from err
    known = {f.name for f in fields(BoxConfig)}
    return BoxConfig(**{k: v for k, v in raw.items() if k in known})


def save_config(paths: BoxPaths, config: BoxConfig) -> None:
    # 0600: the file holds the contract code.
    data = json.dumps(asdict(config), indent=2, sort_keys=True).encode() + b"\n"
    pki.atomic_write(paths.config, data, 0o600)


def home_from(option: str | None) -> BoxPaths:
    home = option or os.environ.get(HOME_ENV) or str(Path.home() / ".boxcert")
    return BoxPaths(Path(home))


def configured(config: BoxConfig, **changes: Any) -> BoxConfig:
    """A copy of ``config`` with the given fields changed (None leaves a field as it is)."""
    return replace(config, **{k: v for k, v in changes.items() if v is not None})
