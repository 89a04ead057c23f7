"""The deploy hook: a command of the operator's, run after each install (as certbot's
``--deploy-hook``), so other servers on the box can pick the new pair up.

``boxcert box configure --deploy-hook CMD`` stores the command; after every newly installed
pair the agent runs it with ``/bin/sh -c`` and these in its environment:

==========================  ==============================================================
``BOXCERT_CERT_PATH``       the certificate chain, leaf first (PEM)
``BOXCERT_KEY_PATH``        the private key (PEM, 0600: the hook runs as the box's user)
``BOXCERT_HOME``            the box's home directory
``BOXCERT_DOMAINS``         the certificate's names, separated by spaces
``BOXCERT_NOT_AFTER``       the end of its validity (ISO 8601, UTC)
``RENEWED_DOMAINS``         the names again, under certbot's name for them
==========================  ==============================================================

The install is done before the hook starts and a hook never undoes it: a hook that fails
(non-zero exit, cannot start, runs past :data:`HOOK_TIMEOUT`) is logged with the end of its
output and recorded in ``<home>/hook.json``; ``box status`` and the homepage show it until the
next install's hook succeeds.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from boxcert import pki
from boxcert.box.files import BoxPaths, load_memory, save_memory
from boxcert.box.pair import CertPair
from boxcert.clock import Clock
from boxcert.wire import parse_timestamp, printable

log = logging.getLogger(__name__)

HOOK_TIMEOUT = 300.0  # seconds: a hang guard, not a budget (a restart of a service may be slow)
SHELL = "/bin/sh"
_TAIL = 2000  # characters of the hook's output kept for the log


@dataclass(frozen=True, slots=True)
class HookRun:
    """How one run of the deploy hook went."""

    at: datetime
    ok: bool
    exit_code: int | None  # None: it did not start, or ran past its timeout
    detail: str  # one printable line

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "ok": self.ok,
            "exit_code": self.exit_code,
            "detail": self.detail,
        }

    @classmethod
    def from_json(cls, raw: object) -> HookRun | None:
        if not isinstance(raw, dict):
            return None
        at, ok, code = parse_timestamp(raw.get("at")), raw.get("ok"), raw.get("exit_code")
        if at is None or not isinstance(ok, bool):
            return None
        if isinstance(code, bool) or not isinstance(code, int):
            code = None
        detail = raw.get("detail")
        return cls(at, ok, code, printable(detail, 300) if isinstance(detail, str) else "")


def hook_environment(
    paths: BoxPaths, pair: CertPair, base: Mapping[str, str] = os.environ
) -> dict[str, str]:
    names = " ".join(pki.dns_names(pair.leaf))
    return {
        **base,
        "BOXCERT_CERT_PATH": str(paths.cert),
        "BOXCERT_KEY_PATH": str(paths.key),
        "BOXCERT_HOME": str(paths.home),
        "BOXCERT_DOMAINS": names,
        "BOXCERT_NOT_AFTER": pair.leaf.not_valid_after_utc.isoformat(),
        "RENEWED_DOMAINS": names,
    }


def run_hook(
    command: str,
    environment: Mapping[str, str],
    *,
    clock: Clock,
    timeout: float = HOOK_TIMEOUT,
) -> HookRun:
    """Run ``command`` with ``/bin/sh -c``; how it went (never raises for the hook's sake)."""
    at = clock()
    try:
        done = subprocess.run(
            [SHELL, "-c", command],
            env=dict(environment),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        log.warning("the deploy hook ran past %.0f s and was stopped", timeout)
        return HookRun(at, False, None, f"stopped after {timeout:.0f} s without finishing")
    except OSError as err:
        log.warning("the deploy hook could not start: %s", err)
        return HookRun(at, False, None, printable(f"could not start: {err}", 300))
    output = (done.stdout or "")[-_TAIL:]
    if done.returncode == 0:
        log.info("the deploy hook ran (exit 0)%s", f": {output.strip()}" if output.strip() else "")
        return HookRun(at, True, 0, "exit 0")
    last = next((line for line in reversed(output.splitlines()) if line.strip()), "")
    log.warning("the deploy hook failed with exit status %d: %s", done.returncode, output.strip())
    detail = f"exit status {done.returncode}" + (f": {last}" if last else "")
    return HookRun(at, False, done.returncode, printable(detail, 300))


def load_hook(paths: BoxPaths) -> HookRun | None:
    return load_memory(paths.hook_state, HookRun.from_json)


def save_hook(paths: BoxPaths, run: HookRun) -> None:
    """Raises BoxFileError when it cannot be written."""
    save_memory(paths.hook_state, run.to_json())
