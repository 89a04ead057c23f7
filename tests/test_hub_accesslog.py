"""The hub's access log (hub/app.py + server.py, on boxcert/accesslog.py), through a real
``hub serve`` process: every secret of the hub goes over the wire — the admin password, the
session cookie, CSRF tokens, a pairing token made on the page, the contract code the box gets,
the box's secret — and none of them reaches the log, while one line per request does, with the
pairing's and the reports' outcomes. ``--no-access-log`` is quiet."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx

from boxcert.web.sessions import COOKIE
from boxcert.wire.hub import BoxReport, BoxSecret, BoxState
from tests.helpers import cli
from tests.hub_running import AdminClient, BoxClient, start_hub

CODE = "C-HUB-ACCESS-" + uuid.uuid4().hex


def _configured(data: Path) -> None:
    status, out = cli(
        "hub",
        "configure",
        "--data",
        str(data),
        "--db-uuid",
        str(uuid.uuid4()),
        "--enterprise-code",
        CODE,
        "--issuer",
        "https://issuer.invalid",
        "--zone",
        "iot.example.test",
    )
    assert status == 0, out


def test_no_secret_in_the_hub_access_log(tmp_path: Path) -> None:
    data = tmp_path / "hub"
    _configured(data)
    hub = start_hub(data)
    secrets = [CODE, hub.password]
    try:
        admin = AdminClient(hub.url)
        csrf = admin.csrf()
        secrets.append(csrf)
        wrong = admin.http.post("/login", data={"csrf_token": csrf, "password": "wrong-" * 3})
        assert wrong.status_code != 303
        assert admin.login(hub.password).status_code == 303
        secrets += [admin.http.cookies[COOKIE], admin.csrf("/boxes")]
        page = admin.post_form("/tokens", {})
        token = re.search(r"bxp1\.[^\s<]+", page.text)
        assert page.status_code == 200 and token
        secrets.append(token.group(0))
        box = BoxClient("box-logged", "Hall")
        answer = box.connect(token.group(0))
        assert answer.enterprise_code == CODE
        secrets += [answer.box_secret.encode(), answer.box_secret.secret]
        assert box.report(BoxReport("box-logged", BoxState.OK)).status_code == 200
        stranger = BoxSecret(answer.box_secret.secret_id, "y" * 43)
        secrets += [stranger.encode(), "y" * 43]
        assert box.report(BoxReport("box-logged", BoxState.OK), stranger).status_code == 401
        refused = box.connect_raw(token.group(0))  # used
        assert refused.status_code == 403
        httpx.get(hub.url + f"/healthz?token={token.group(0)}", timeout=30)
        httpx.get(hub.url + "/boxes/%1b[31mbox", timeout=30)
        admin.close()
    finally:
        hub.stop()
    log = hub.log()
    lines = [line for line in log.splitlines() if "boxcert.access" in line]
    assert any('"POST /iot/box/connect" 200' in line and line.endswith(" paired") for line in lines)
    assert any(line.endswith(" refused:token_used") for line in lines)
    assert any(
        '"POST /iot/box/report" 200' in line and line.endswith(" accepted") for line in lines
    )
    assert any(line.endswith(" refused:unauthorized") for line in lines)
    assert any('"POST /login" 303' in line for line in lines)
    assert any('"GET /healthz" 200' in line for line in lines)
    assert "\x1b" not in log
    for secret in secrets:
        assert secret not in log, "a secret in the hub's log"


def test_no_access_log(tmp_path: Path) -> None:
    hub = start_hub(tmp_path / "hub", "--no-access-log")
    try:
        assert httpx.get(hub.url + "/healthz", timeout=30).status_code == 200
    finally:
        hub.stop()
    assert "boxcert.access" not in hub.log()
