"""The deploy hook: a real shell command, run after each install with the pair's paths in its
environment; its failure is logged and shown, and never undoes the install."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from boxcert.box.files import BoxPaths
from boxcert.box.hook import HookRun, load_hook, run_hook
from boxcert.box.status import BoxStatus, CertState
from tests.helpers import IssuerProcess, configured_box

T = datetime(2026, 11, 1, tzinfo=UTC)


def clock() -> datetime:
    return T


def test_the_hook_runs_after_the_install_with_the_paths(
    tmp_path: Path, issuer: IssuerProcess, eligible: tuple[str, str]
) -> None:
    seen = tmp_path / "seen.json"
    script = tmp_path / "hook.sh"
    script.write_text(
        "#!/bin/sh\n"
        f"python3 -c \"import json, os; json.dump(dict(os.environ), open('{seen}', 'w'))\"\n"
        'cp "$BOXCERT_CERT_PATH" "$(dirname "$0")/copied.pem"\n'
    )
    script.chmod(0o755)
    box = configured_box(tmp_path / "box", issuer, *eligible)
    box.configure("--deploy-hook", f"{script} --from-box")
    code, report = box.ensure()
    assert code == 0, report
    env = json.loads(seen.read_text())
    assert env["BOXCERT_CERT_PATH"] == str(box.cert_path)
    assert env["BOXCERT_KEY_PATH"] == str(box.key_path)
    assert env["BOXCERT_HOME"] == str(box.home)
    assert sorted(env["BOXCERT_DOMAINS"].split()) == sorted(report["certificate"]["sans"])
    assert env["RENEWED_DOMAINS"] == env["BOXCERT_DOMAINS"]
    assert env["BOXCERT_NOT_AFTER"] == report["certificate"]["not_after"]
    assert (tmp_path / "copied.pem").read_bytes() == box.cert_path.read_bytes()
    assert report["deploy_hook"]["ok"] is True
    # No install, no hook: a second ensure leaves it alone.
    seen.unlink()
    assert box.ensure()[0] == 0 and not seen.exists()


def test_a_failing_hook_is_shown_and_the_install_stays(
    tmp_path: Path, issuer: IssuerProcess, eligible: tuple[str, str]
) -> None:
    box = configured_box(tmp_path / "box", issuer, *eligible)
    box.configure("--deploy-hook", "echo nginx: config broken >&2; exit 3")
    code, report = box.ensure()
    assert code == 0 and report["status"] == "ok"  # the certificate is installed and good
    assert box.cert_path.exists()
    hook = report["deploy_hook"]
    assert hook["ok"] is False and hook["exit_code"] == 3
    assert hook["detail"] == "exit status 3: nginx: config broken"
    assert "the deploy hook failed with exit status 3" in box.log()
    status_code, text = box.run("status")
    assert status_code == 0 and "deploy hook: FAILED" in text
    assert load_hook(BoxPaths(box.home)) is not None


def test_a_hook_that_cannot_start_or_hangs(tmp_path: Path) -> None:
    env = dict(os.environ)
    missing = run_hook(str(tmp_path / "no-such-hook"), env, clock=clock)
    assert not missing.ok and missing.exit_code == 127  # the shell says: not found
    stuck = run_hook("sleep 30", env, clock=clock, timeout=0.2)  # a hang guard at work
    assert not stuck.ok and stuck.exit_code is None and "stopped after" in stuck.detail
    fine = run_hook("exit 0", env, clock=clock)
    assert fine == HookRun(T, True, 0, "exit 0")


def test_the_homepage_says_the_hook_failed() -> None:
    from boxcert.box.front.backend import FrontStatus
    from boxcert.box.front.certswitch import ServedPair
    from boxcert.box.front.homepage import home_model
    from boxcert.box.hublink import HubLink, LinkState

    failed = HookRun(T, False, 3, "exit status 3: nginx: config broken")
    status = BoxStatus(CertState.OK, None, "Valid.", hook=failed)
    served = ServedPair(True, (), T, T, "", False)
    model = home_model(FrontStatus(status, HubLink(LinkState.NONE)), served, scheme="https",
                       now=T)  # fmt: skip
    assert model.hook_failed == "exit status 3: nginx: config broken"
