"""The hub's core on a real SQLite database, with an injected clock: pairing, reports, admin."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from boxcert.hub import store
from boxcert.hub.errors import BoxRefused, HubError, PairingRefused, UnknownBox
from boxcert.hub.models import Box, PairingTokenRow
from boxcert.hub.server import open_service
from boxcert.hub.service import HubConfig, HubService
from boxcert.issuer.db import open_engine
from boxcert.wire.hub import (
    BoxReport,
    BoxSecret,
    BoxState,
    ConnectRequest,
    LegacyReport,
    PairingRefusal,
    PairingToken,
)
from tests.postgres import pg_bin, postgres_cluster
from tests.web_site import FakeClock

CODE = "C-0123456789"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def hub(tmp_path: Path, clock: FakeClock) -> HubService:
    service = open_service(tmp_path / "hub", None, clock)
    service.configure(HubConfig("uuid-1", CODE, "https://issuer.example", "iot.example"))
    service.set_public_url("https://hub.example")
    return service


def pair(hub: HubService, token: PairingToken, identifier: str = "box-1") -> BoxSecret:
    return hub.connect(ConnectRequest(token, identifier, "Till"), "192.168.1.5").box_secret


def refusal(hub: HubService, token: PairingToken, identifier: str = "box-1") -> PairingRefusal:
    with pytest.raises(PairingRefused) as caught:
        pair(hub, token, identifier)
    return caught.value.refusal


def test_a_token_pairs_one_box_once(hub: HubService) -> None:
    token = hub.new_token()
    assert token.hub_url == "https://hub.example"
    answer = hub.connect(ConnectRequest(token, "box-1", "Till"), "192.168.1.5")
    assert (
        answer.server_url,
        answer.db_uuid,
        answer.enterprise_code,
        answer.issuer_url,
        answer.zone,
    ) == ("https://hub.example", "uuid-1", CODE, "https://issuer.example", "iot.example")
    assert refusal(hub, token, "box-2") is PairingRefusal.USED
    [view] = hub.boxes()
    assert (view.identifier, view.name, view.ip, view.status) == (
        "box-1",
        "Till",
        "192.168.1.5",
        None,
    )


def test_nothing_secret_is_stored_as_given(hub: HubService) -> None:
    token = hub.new_token()
    secret = pair(hub, token)
    with hub.sessions() as s:
        row = s.get(PairingTokenRow, token.token_id)
        box = s.scalars(select(Box)).one()
    assert row is not None and token.secret not in row.secret_hash
    assert row.secret_hash.startswith("scrypt$")
    assert box.secret_hash is not None and secret.secret not in box.secret_hash


def test_tokens_expire(hub: HubService, clock: FakeClock) -> None:
    token = hub.new_token(timedelta(minutes=15))
    clock.advance(minutes=14, seconds=59)
    late = hub.new_token(timedelta(minutes=15))
    clock.advance(seconds=1)
    assert refusal(hub, token) is PairingRefusal.EXPIRED
    assert pair(hub, late)  # the other is still valid
    with pytest.raises(HubError, match="between 1 second and 7 days"):
        hub.new_token(timedelta(days=8))


def test_forged_tokens_are_unknown(hub: HubService) -> None:
    real = hub.new_token()
    assert refusal(hub, PairingToken(real.hub_url, real.token_id, "x" * 43)) is (
        PairingRefusal.UNKNOWN
    )
    assert refusal(hub, PairingToken(real.hub_url, "NoSuchTokenId000", real.secret)) is (
        PairingRefusal.UNKNOWN
    )
    # A forged token does not burn the real one, and a used or expired state is told only to
    # the holder of the real secret.
    pair(hub, real)
    assert refusal(hub, PairingToken(real.hub_url, real.token_id, "x" * 43)) is (
        PairingRefusal.UNKNOWN
    )


def test_an_unconfigured_hub_pairs_nobody_and_keeps_the_token(
    tmp_path: Path, clock: FakeClock
) -> None:
    hub = open_service(tmp_path / "bare", None, clock)
    hub.set_public_url("https://hub.example")
    token = hub.new_token()
    assert refusal(hub, token) is PairingRefusal.NOT_CONFIGURED
    hub.configure(HubConfig("uuid-1", CODE, "https://issuer.example", "iot.example"))
    assert pair(hub, token)


def test_a_token_needs_the_hubs_url(tmp_path: Path) -> None:
    hub = open_service(tmp_path / "new", None)
    with pytest.raises(HubError, match="start `boxcert hub serve` once"):
        hub.new_token()


def test_two_boxes_racing_for_one_token(hub: HubService) -> None:
    token = hub.new_token()
    outcomes: list[str] = []

    def attempt(identifier: str) -> None:
        try:
            pair(hub, token, identifier)
            outcomes.append("paired")
        except PairingRefused as refused:
            outcomes.append(refused.refusal.value)

    threads = [threading.Thread(target=attempt, args=(f"box-{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["paired"] + ["token_used"] * 5
    assert len(hub.boxes()) == 1


def report(identifier: str = "box-1", **kw: object) -> BoxReport:
    fields: dict[str, object] = {
        "name": "Till",
        "ip": "192.168.1.5",
        "url": "https://192-168-1-5.abc.iot.example",
    }
    fields.update(kw)
    return BoxReport(identifier, BoxState(fields.pop("state", "ok")), **fields)  # type: ignore[arg-type]


def test_reports_update_the_box_and_its_last_seen(hub: HubService, clock: FakeClock) -> None:
    secret = pair(hub, hub.new_token())
    clock.advance(hours=1)
    end = clock() + timedelta(days=80)
    hub.report(secret, report(certificate_end_date=end))
    view = hub.box("box-1")
    assert (view.url, view.certificate_end_date, view.days_left, view.status, view.last_seen) == (
        "https://192-168-1-5.abc.iot.example",
        end,
        80,
        "ok",
        clock(),
    )
    hub.report(
        secret,
        report(
            state="error",
            error_code="ERR_IOT_HTTPS_LOAD_REQUEST_NO_RESULT",
            detail="no_iot_box_line: …",
        ),
    )
    view = hub.box("box-1")
    assert (view.status, view.error_code, view.certificate_end_date) == (
        "error",
        "ERR_IOT_HTTPS_LOAD_REQUEST_NO_RESULT",
        None,
    )
    assert view.error is not None and "eligib" in view.error.cause


def test_reports_with_a_wrong_or_forgotten_secret_are_refused(hub: HubService) -> None:
    secret = pair(hub, hub.new_token())
    other = pair(hub, hub.new_token(), "box-2")
    for forged, status in [
        (BoxSecret(secret.secret_id, "y" * 43), 401),
        (BoxSecret("UnknownSecretId0", secret.secret), 401),
    ]:
        with pytest.raises(BoxRefused) as caught:
            hub.report(forged, report())
        assert caught.value.status == status
    with pytest.raises(BoxRefused) as caught:
        hub.report(other, report("box-1"))  # box-2's secret speaking for box-1
    assert caught.value.status == 403
    hub.forget("box-1")
    with pytest.raises(BoxRefused) as caught:
        hub.report(secret, report())
    assert caught.value.status == 401
    with pytest.raises(UnknownBox):
        hub.forget("box-1")


def test_pairing_again_replaces_the_secret(hub: HubService) -> None:
    first = pair(hub, hub.new_token())
    second = pair(hub, hub.new_token())
    assert first != second
    with pytest.raises(BoxRefused):
        hub.report(first, report())
    hub.report(second, report())
    assert len(hub.boxes()) == 1


def test_legacy_reports_only_for_known_older_boxes(hub: HubService, clock: FakeClock) -> None:
    with pytest.raises(UnknownBox):
        hub.legacy_report(LegacyReport("OLD-1", clock() + timedelta(days=5)))
    hub.add_legacy_box("OLD-1", "Scale")
    with pytest.raises(HubError, match="already known"):
        hub.add_legacy_box("OLD-1", "Scale")
    for identifier, name in (("", "x"), ("A\x1b[2J", "x"), ("A" * 129, "x"), ("B", "n" * 101)):
        with pytest.raises(HubError):
            hub.add_legacy_box(identifier, name)
    clock.advance(minutes=5)
    hub.legacy_report(LegacyReport("OLD-1", clock() + timedelta(days=5)))
    view = hub.box("OLD-1")
    assert (view.kind, view.days_left, view.expiring_soon, view.last_seen) == (
        "legacy",
        5,
        True,
        clock(),
    )
    hub.legacy_report(LegacyReport("OLD-1", None))  # "no certificate" keeps the last date
    assert hub.box("OLD-1").days_left == 5
    pair(hub, hub.new_token(), "box-1")
    with pytest.raises(BoxRefused) as caught:
        hub.legacy_report(LegacyReport("box-1", clock()))
    assert caught.value.status == 403


def test_the_admin_password(hub: HubService) -> None:
    first = hub.ensure_admin_password()
    assert first is not None and hub.ensure_admin_password() is None
    account = hub.authenticate("", first)
    assert account is not None and hub.stamp(account.id) == account.stamp
    assert hub.authenticate("", "wrong") is None
    hub.set_admin_password("a new long password")
    assert hub.stamp(account.id) != account.stamp  # open sessions end
    assert hub.authenticate("anyone", "a new long password") is not None
    with pytest.raises(HubError, match="at least 10"):
        hub.set_admin_password("short")
    assert hub.stamp("someone-else") is None


def test_old_tokens_are_purged(hub: HubService, clock: FakeClock) -> None:
    old = hub.new_token(timedelta(minutes=1))
    clock.advance(days=31)
    hub.new_token()
    with hub.sessions() as s:
        assert store.token_row(s, old.token_id) is None
    assert refusal(hub, old) is PairingRefusal.UNKNOWN


def test_the_config_repr_hides_the_contract_code(hub: HubService) -> None:
    config = hub.config()
    assert config is not None and config.enterprise_code == CODE
    assert CODE not in repr(config)


@pytest.mark.skipif(pg_bin() is None, reason="needs PostgreSQL")
def test_on_postgresql_beside_the_issuers_schema(tmp_path: Path, clock: FakeClock) -> None:
    """Any SQLAlchemy URL: on PostgreSQL, one token still pairs one box under a race, and the
    hub's migrations keep their own history beside the issuer's in a shared database."""
    with postgres_cluster() as url:
        open_engine(url).dispose()  # the issuer's schema first
        hub = open_service(tmp_path / "hub", url, clock)
        hub.configure(HubConfig("uuid-1", CODE, "https://issuer.example", "iot.example"))
        hub.set_public_url("https://hub.example")
        open_service(tmp_path / "hub", url, clock)  # migrating again changes nothing
        token = hub.new_token()
        outcomes: list[str] = []

        def attempt(identifier: str) -> None:
            try:
                pair(hub, token, identifier)
                outcomes.append("paired")
            except PairingRefused as refused:
                outcomes.append(refused.refusal.value)

        threads = [threading.Thread(target=attempt, args=(f"box-{i}",)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["paired"] + ["token_used"] * 5
        tables = set(inspect(hub.sessions.kw["bind"]).get_table_names())
        assert {"alembic_version", "hub_alembic_version", "boxes", "hub_boxes"} <= tables
        hub.sessions.kw["bind"].dispose()
