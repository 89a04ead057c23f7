"""The hub for real: an issuer process and a hub process on loopback, a box's side written from
wire/hub.py, and the admin's pages over HTTP. Pairing, reports, the legacy report, the login."""

from __future__ import annotations

import json
import ssl
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from boxcert import codes, devstack
from boxcert.wire.hub import CONNECT_PATH, BoxReport, BoxState, LegacyReport, PairingToken
from tests.helpers import IssuerProcess, cli, start_issuer
from tests.hub_running import AdminClient, BoxClient, HubProcess, legacy_report, start_hub


@dataclass
class Stack:
    issuer: IssuerProcess
    hub: HubProcess
    db_uuid: str
    code: str
    secrets: list[str] = field(default_factory=list)  # everything that must never be logged

    def token(self, *args: str) -> str:
        token = self.hub.token(*args)
        self.secrets.append(token)
        self.secrets.append(PairingToken.parse(token).secret)
        return token

    def paired_box(self, identifier: str, name: str = "") -> BoxClient:
        box = BoxClient(identifier, name)
        answer = box.connect(self.token())
        self.secrets.append(answer.box_secret.encode())
        self.secrets.append(answer.box_secret.secret)
        return box

    def admin(self) -> AdminClient:
        admin = AdminClient(self.hub.url)
        assert admin.login(self.hub.password).status_code == 303
        return admin


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("hub-stack")
    issuer = start_issuer(root / "issuer", "--zone", "iot.example.test")  # announced at /iot/info
    db_uuid, code = str(uuid.uuid4()), f"C-{uuid.uuid4().hex}"
    issuer.add_eligible(db_uuid, code)
    hub_data = root / "hub"
    hub = None
    try:
        status, out = cli(
            "hub",
            "configure",
            "--data",
            str(hub_data),
            "--db-uuid",
            db_uuid,
            "--enterprise-code",
            code,
            "--issuer",
            issuer.url,
            "--zone",
            "iot.example.test",
        )
        assert status == 0, out
        hub = start_hub(hub_data)
        assert hub.password
        yield Stack(issuer, hub, db_uuid, code, [code, hub.password])
    finally:
        if hub is not None:
            hub.stop()
        issuer.stop()


def end_in(days: float) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0)


def test_pairing_hands_the_box_what_it_needs(stack: Stack) -> None:
    box = BoxClient("box-pair", "Till 1")
    token = stack.token()
    answer = box.connect(token)
    stack.secrets += [answer.box_secret.encode(), answer.box_secret.secret]
    assert answer.server_url == stack.hub.url
    assert (answer.db_uuid, answer.enterprise_code) == (stack.db_uuid, stack.code)
    assert (answer.issuer_url, answer.zone) == (stack.issuer.url, "iot.example.test")
    assert answer.box_secret.encode().startswith("bxs1.")
    again = BoxClient("box-thief").connect_raw(token)
    assert again.status_code == 403
    assert again.json()["error"] == {
        "code": "token_used",
        "message": "this pairing token was already used; make a new one",
    }
    assert stack.code not in again.text


def test_an_expired_token_is_refused(stack: Stack) -> None:
    token = stack.token("--expires", "1s")
    time.sleep(1.5)  # waits for the expiry; nothing is timed
    answer = BoxClient("box-late").connect_raw(token)
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "token_expired"


def test_forged_and_malformed_tokens_are_refused(stack: Stack) -> None:
    real = PairingToken.parse(stack.token())
    forged = [
        PairingToken(real.hub_url, real.token_id, "A" * 43),
        PairingToken(real.hub_url, "AAAAAAAAAAAAAAAA", real.secret),
    ]
    for token in forged:
        answer = BoxClient("box-forger").connect_raw(token.encode())
        assert answer.status_code == 403 and answer.json()["error"]["code"] == "token_unknown"
    assert BoxClient("box-real").connect(real.encode())  # the forgeries burnt nothing
    with httpx.Client(timeout=30) as c:
        url = stack.hub.url + CONNECT_PATH
        bad = c.post(url, json={"params": {"token": "bxp1.nope", "identifier": "b"}})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "token_malformed"
        no_id = c.post(url, json={"params": {"token": real.encode()}})
        assert no_id.status_code == 400 and "identifier" in no_id.json()["error"]["message"]
        assert c.post(url, content=b"{not json").status_code == 400
        assert c.post(url, content=b"[" * 100_000).status_code == 413
        assert c.get(url).status_code == 405
    assert "Traceback" not in stack.hub.log()


def test_a_report_puts_the_box_on_the_iot_page_and_in_boxes_json(stack: Stack) -> None:
    box = stack.paired_box("box-report", "Scale 2")
    url = "https://192-168-1-7.abcdefghijklmnop.iot.example.test"
    end = end_in(80.5)
    sent = box.report(
        BoxReport(
            "box-report",
            BoxState.OK,
            name="Scale 2",
            ip="192.168.1.7",
            url=url,
            certificate_end_date=end,
        )
    )
    assert sent.status_code == 200 and sent.json() == {"result": {"accepted": True}}

    admin = stack.admin()
    page = admin.http.get("/boxes")
    assert page.status_code == 200
    assert f'href="{url}"' in page.text and "80 days left" in page.text
    assert end.strftime("%Y-%m-%d %H:%M UTC") in page.text
    assert stack.code not in page.text
    one = admin.http.get("/boxes/box-report")
    assert one.status_code == 200 and "Scale 2" in one.text and "192.168.1.7" in one.text
    api = admin.http.get("/api/boxes/box-report").json()
    assert (api["url"], api["certificate_end_date"], api["days_left"], api["status"]) == (
        url,
        end.isoformat(),
        80,
        "ok",
    )
    admin.close()

    code, out = stack.hub.cli("boxes", "--json")
    assert code == 0, out
    row = next(r for r in json.loads(out) if r["identifier"] == "box-report")
    assert (row["url"], row["certificate_end_date"], row["ip"]) == (
        url,
        end.isoformat(),
        "192.168.1.7",
    )


def test_status_changes_reach_the_hub(stack: Stack) -> None:
    box = stack.paired_box("box-status", "Printer")
    url = "https://192-168-1-8.abcdefghijklmnop.iot.example.test"
    admin = stack.admin()

    def shown() -> dict[str, object]:
        result: dict[str, object] = admin.http.get("/api/boxes/box-status").json()
        return result

    assert (
        box.report(
            BoxReport("box-status", BoxState.OK, url=url, certificate_end_date=end_in(60))
        ).status_code
        == 200
    )
    assert shown()["status"] == "ok"
    # The certificate was removed: the box needs a new one.
    box.report(BoxReport("box-status", BoxState.NEED_REFRESH, url=url))
    assert (shown()["status"], shown()["certificate_end_date"]) == ("need_refresh", None)
    # The issuer refuses.
    refused = codes.LOAD_REQUEST_NO_RESULT
    box.report(
        BoxReport(
            "box-status",
            BoxState.ERROR,
            url=url,
            error_code=refused.code,
            detail="subscription_not_in_progress: the subscription is closed",
        )
    )
    data = shown()
    assert (data["status"], data["error_code"], data["remedy"]) == (
        "error",
        refused.code,
        refused.remedy,
    )
    page = admin.http.get("/boxes/box-status").text
    assert refused.code in page and refused.title in page and "the subscription is closed" in page
    assert refused.remedy.split(",")[0] in page
    admin.close()


def test_bad_reports_are_refused_and_change_nothing(stack: Stack) -> None:
    box = stack.paired_box("box-bad")
    assert box.report(BoxReport("box-bad", BoxState.OK)).status_code == 200
    with httpx.Client(timeout=30) as c:
        assert box.answer is not None
        url = box.answer.server_url + "/iot/box/report"
        auth = box.answer.box_secret.authorization()
        bad = c.post(
            url, json={"params": {"identifier": "box-bad", "status": "great"}}, headers=auth
        )
        assert bad.status_code == 400 and "status" in bad.json()["error"]["message"]
        anonymous = c.post(url, json=BoxReport("box-bad", BoxState.ERROR).to_json())
        assert anonymous.status_code == 401
        other = c.post(url, json=BoxReport("box-report", BoxState.ERROR).to_json(), headers=auth)
        assert other.status_code == 403
    admin = stack.admin()
    assert admin.http.get("/api/boxes/box-bad").json()["status"] == "ok"
    admin.close()


def test_the_legacy_report_for_known_boxes_only(stack: Stack) -> None:
    code, out = stack.hub.cli("add-legacy", "OLD-42", "--name", "Old scale")
    assert code == 0, out
    end = datetime.now(UTC).replace(microsecond=0, tzinfo=None) + timedelta(days=9)
    sent = legacy_report(stack.hub.url, LegacyReport("OLD-42", end.replace(tzinfo=UTC)))
    assert sent.status_code == 200
    assert sent.json() == {"jsonrpc": "2.0", "id": None, "result": True}
    # exactly what vendor boxes send: a naive UTC time from str(not_valid_after)
    with httpx.Client(timeout=30) as c:
        raw = c.post(
            stack.hub.url + "/iot/box/update_certificate_status",
            json={"params": {"identifier": "OLD-42", "ssl_certificate_end_date": str(end)}},
        )
    assert raw.status_code == 200
    unknown = legacy_report(stack.hub.url, LegacyReport("NOT-KNOWN", end.replace(tzinfo=UTC)))
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    stack.paired_box("box-new")
    paired = legacy_report(stack.hub.url, LegacyReport("box-new", end.replace(tzinfo=UTC)))
    assert paired.status_code == 403
    admin = stack.admin()
    row = admin.http.get("/api/boxes/OLD-42").json()
    assert (row["certificate_end_date"], row["expiring_soon"], row["kind"]) == (
        end.replace(tzinfo=UTC).isoformat(),
        True,
        "legacy",
    )
    assert 'class="attention"' in admin.http.get("/boxes").text
    admin.close()


def test_pages_refuse_without_login_with_a_wrong_password_and_without_csrf(stack: Stack) -> None:
    stack.paired_box("box-guarded")
    with httpx.Client(base_url=stack.hub.url, timeout=30) as anonymous:
        for path in ("/boxes", "/boxes/box-guarded", "/"):
            answer = anonymous.get(path)
            assert answer.status_code == 303
            assert answer.headers["location"].startswith(("/login", "/boxes"))
        api = anonymous.get("/api/boxes")
        assert api.status_code == 401 and "box-guarded" not in api.text
        assert anonymous.post("/tokens").status_code == 403
    wrong = AdminClient(stack.hub.url)
    refused = wrong.login("not the password")
    assert refused.status_code == 401 and "Wrong password." in refused.text
    assert wrong.http.get("/boxes").status_code == 303
    token_by_anonymous = wrong.post_form("/tokens", {}, page="/login")
    assert token_by_anonymous.status_code == 303 and "bxp1." not in token_by_anonymous.text
    wrong.close()

    admin = stack.admin()
    no_csrf = admin.http.post("/tokens")
    assert no_csrf.status_code == 403 and "bxp1." not in no_csrf.text
    forged = admin.http.post("/forget", data={"identifier": "box-guarded", "csrf_token": "f" * 64})
    assert forged.status_code == 403
    assert admin.http.get("/api/boxes/box-guarded").status_code == 200
    made = admin.post_form("/tokens", {})
    assert made.status_code == 200 and "bxp1." in made.text
    assert made.headers["cache-control"] == "no-store"
    admin.close()


def test_forgetting_a_box_stops_its_secret(stack: Stack) -> None:
    box = stack.paired_box("box-forgotten")
    assert box.report(BoxReport("box-forgotten", BoxState.OK)).status_code == 200
    admin = stack.admin()
    gone = admin.post_form(
        "/forget", {"identifier": "box-forgotten", "confirm": "on"}, page="/boxes/box-forgotten"
    )
    assert gone.status_code == 303 and gone.headers["location"] == "/boxes"
    assert admin.http.get("/api/boxes/box-forgotten").status_code == 404
    admin.close()
    refused = box.report(BoxReport("box-forgotten", BoxState.OK))
    assert refused.status_code == 401 and "pair it again" in refused.json()["error"]["message"]


def test_health_says_little(stack: Stack) -> None:
    answer = httpx.get(stack.hub.url + "/healthz", timeout=30)
    assert answer.json() == {"status": "ok", "configured": True, "checks": {"database": "ok"}}
    assert answer.headers["x-frame-options"] == "DENY"


def test_no_secret_in_any_log_line(stack: Stack, tmp_path: Path) -> None:
    # One more full round, so this test stands on its own too.
    box = stack.paired_box("box-logged")
    box.report(BoxReport("box-logged", BoxState.ERROR, error_code=codes.LOAD_NO_CREDENTIAL.code))
    BoxClient("box-x").connect_raw(stack.token("--expires", "1s"))
    logs = {"hub": stack.hub.log(), "issuer": stack.issuer.log()}
    assert "paired box box-logged" in logs["hub"]  # the log is there, and it is not empty
    assert "pairing refused" in logs["hub"]
    for name, text in logs.items():
        for secret in stack.secrets:
            assert secret not in text, f"a secret in the {name} log"
    # The password was shown once on the console, never in the log.
    assert stack.hub.password in stack.hub.stdout


def test_over_https_with_verified_tls(tmp_path: Path) -> None:
    ca, cert, key = devstack.tls_files(tmp_path / "tls")
    data = tmp_path / "hub"
    code, out = cli(
        "hub",
        "configure",
        "--data",
        str(data),
        "--db-uuid",
        "u-1",
        "--enterprise-code",
        "C-tls",
        "--issuer",
        "https://issuer.example",
        "--zone",
        "iot.example",
    )
    assert code == 0, out
    hub = start_hub(data, "--tls-cert", str(cert), "--tls-key", str(key))
    try:
        assert hub.url.startswith("https://127.0.0.1:")
        trust = ssl.create_default_context(cafile=ca)
        box = BoxClient("box-tls", verify=trust)
        answer = box.connect(hub.token())
        assert answer.server_url == hub.url
        assert box.report(BoxReport("box-tls", BoxState.OK)).status_code == 200
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            BoxClient("box-untrusting").connect_raw(hub.token())
        admin = AdminClient(hub.url, verify=trust)
        first = admin.http.get("/login")
        assert first.headers["set-cookie"].startswith("__Host-boxcert_session=")
        assert "; Secure" in first.headers["set-cookie"]
        assert admin.login(hub.password).status_code == 303
        assert admin.http.get("/api/boxes/box-tls").json()["status"] == "ok"
        admin.close()
    finally:
        hub.stop()


def test_unknown_addresses_and_methods_answer_in_our_words(stack: Stack) -> None:
    admin = stack.admin()
    page = admin.http.get("/nowhere")
    assert page.status_code == 404 and "There is nothing at this address." in page.text
    assert "Not Found" not in page.text
    api = admin.http.get("/api/nowhere")
    assert api.status_code == 404
    assert api.json()["error"] == {
        "code": "not_found",
        "message": "There is nothing at this address.",
    }
    admin.close()
    with httpx.Client(timeout=30) as c:
        wrong = c.get(stack.hub.url + "/iot/box/report")
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"
