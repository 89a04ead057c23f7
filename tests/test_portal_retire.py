"""A customer retires a box from the portal (boxcert.issuer.portal.retire): the confirmation
page, the CSRF token and the confirm checkbox, what retiring does (the certificate revoked for
cessation of operation, the box's row gone, its place free, an audit entry by the account),
and that nobody retires a box of a database that is not theirs, or through the wrong database.
Through the real portal, served in-process over a real socket (the fixture of test_portal)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from boxcert import pki
from boxcert.issuer.errors import CertificateAuthorityError, NotFound, StillValid
from boxcert.issuer.models import Box
from boxcert.issuer.removal import Remover, box_label_of
from boxcert.issuer.store import accounts, certificates
from boxcert.issuer.store.rows import StoredCertificate
from tests import test_portal
from tests.issuer_support import body, box_csr, box_key, names_of
from tests.test_portal import Shop, client
from tests.vendor_support import login

shop = test_portal.shop  # the same fixture: its own issuer, served, for this module
OWNER, STRANGER = "owner@shop.example", "someone@other.example"
SHOP, SHOP_CODE = "db-shop", "C-SHOP-OPEN-0001"
OTHER, OTHER_CODE = "db-other", "C-OTHER-CUST-001"


def ask(
    shop: Shop, key: pki.PrivateKey | None, db: str = SHOP, code: str = SHOP_CODE
) -> dict[str, Any]:
    """A box's request for a certificate (without a key: an older box, the shared key)."""
    with httpx.Client(base_url=shop.vendor.url, timeout=30) as c:
        answer = c.post("/iot/x509", json=body(db, code, box_csr(key) if key else None))
    result: dict[str, Any] = answer.json()["result"]
    return result


def new_box(shop: Shop, db: str = SHOP, code: str = SHOP_CODE) -> tuple[pki.PrivateKey, str]:
    key = box_key()
    assert "x509_pem" in ask(shop, key, db, code)
    return key, box_label_of(names_of(key)[1])


def retire_path(label: str, db: str = SHOP) -> str:
    return f"/my/databases/{db}/boxes/{label}/retire"


def token(c: httpx.Client, path: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', c.get(path).text)
    assert found is not None
    return found.group(1)


def registered(shop: Shop, label: str) -> bool:
    with shop.vendor.issuer.sessions.begin() as s:
        return bool(s.scalar(select(func.count()).select_from(Box).where(Box.label == label)))


def certificate_of(shop: Shop, label: str, db: str = SHOP) -> StoredCertificate:
    with shop.vendor.issuer.sessions.begin() as s:
        (cert,) = [c for c in certificates.of_database(s, db) if c.holder_label == label]
    return cert


def boxes_of(c: httpx.Client, db: str = SHOP) -> int:
    count: int = c.get(f"/my/api/databases/{db}").json()["database"]["boxes"]
    return count


def test_the_confirmation_page_shows_the_box_and_what_retiring_does(shop: Shop) -> None:
    key, label = new_box(shop)
    ask(shop, None)  # older boxes' shared key: listed, but not a box one can retire
    with client(shop) as c:
        login(c, OWNER)
        database = c.get(f"/my/databases/{SHOP}").text
        assert f'href="{retire_path(label)}">Retire…</a>' in database
        assert "older boxes (shared database key)" in database
        with shop.vendor.issuer.sessions.begin() as s:
            real = accounts.get_database(s, SHOP).boxes
        assert database.count(">Retire…</a>") == real
        page = c.get(retire_path(label))
        assert page.status_code == 200
        assert label in page.text and names_of(key)[1] in page.text
        assert "valid until" in page.text and "First seen" in page.text
        for words in ("Its certificate is revoked now", "Its place is free", "It is not a ban"):
            assert words in page.text
        assert f'<form method="post" action="{retire_path(label)}">' in page.text
        assert 'name="csrf_token"' in page.text
        assert re.search(r'<input type="checkbox" name="confirm" value="yes" required>', page.text)
        assert '<button type="submit" class="danger">Retire this box</button>' in page.text
    assert registered(shop, label)


def test_without_the_csrf_token_nothing_is_retired(shop: Shop) -> None:
    _, label = new_box(shop)
    with client(shop) as c:
        login(c, OWNER)
        refused = c.post(retire_path(label), data={"confirm": "yes"})
        assert refused.status_code == 403
        forged = c.post(retire_path(label), data={"confirm": "yes", "csrf_token": "x" * 43})
        assert forged.status_code == 403
    assert registered(shop, label) and certificate_of(shop, label).revoked_at is None


def test_without_the_confirm_checkbox_nothing_is_retired(shop: Shop) -> None:
    _, label = new_box(shop)
    with client(shop) as c:
        login(c, OWNER)
        page = c.post(retire_path(label), data={"csrf_token": token(c, retire_path(label))})
        assert page.status_code == 400
        assert "Tick the box to confirm" in page.text and "Nothing was changed" in page.text
    assert registered(shop, label) and certificate_of(shop, label).revoked_at is None


def test_retiring_a_box(shop: Shop) -> None:
    key, label = new_box(shop)
    first = certificate_of(shop, label)
    with client(shop) as c:
        login(c, OWNER)
        before = boxes_of(c)
        done = c.post(
            retire_path(label),
            data={"csrf_token": token(c, retire_path(label)), "confirm": "yes"},
        )
        assert done.status_code == 303
        assert done.headers["location"] == f"/my/databases/{SHOP}?retired={label}"
        page = c.get(done.headers["location"]).text
        cap = shop.vendor.issuer.service.settings.max_boxes_per_database
        assert boxes_of(c) == before - 1
        assert (
            f'Box <span class="mono">{label}</span> retired: its certificate was revoked and '
            f"its place is free (now {before - 1} of {cap})."
        ) in page
        assert f"{before - 1} of {cap} allowed" in page
        assert page.count(label) == 1  # in the notice only: the box is not listed
        assert retire_path(label) not in page and "retired box not listed here" in page
        assert c.get(retire_path(label)).status_code == 404  # gone: nothing left to retire
    assert not registered(shop, label)
    revoked = certificate_of(shop, label)
    assert revoked.serial_hex == first.serial_hex
    assert revoked.revoked_at is not None and revoked.revocation_reason == "cessationOfOperation"
    entries = shop.vendor.audit(SHOP)
    ours = [e for e in entries if e.actor == f"portal:{OWNER}"]
    assert any(e.detail.startswith(f"forgot box {label} of database {SHOP}") for e in ours)
    assert any(e.kind == "revoked" and first.serial_hex in e.detail for e in ours)
    # not a ban: the same box asking again is a new box, with a new certificate
    again = ask(shop, key)
    assert "x509_pem" in again and registered(shop, label)
    with shop.vendor.issuer.sessions.begin() as s:
        held = [c for c in certificates.of_database(s, SHOP) if c.holder_label == label]
    assert len(held) == 2 and next(c for c in held if c.revoked_at is None).id != first.id


def test_retiring_frees_a_place_in_a_full_database(shop: Shop) -> None:
    issuer = shop.vendor.issuer
    key, label = new_box(shop)
    with client(shop) as c:
        login(c, OWNER)
        boxes = boxes_of(c)
        try:
            with issuer.sessions.begin() as s:
                accounts.set_database_max_boxes(s, SHOP, boxes)
            assert ask(shop, box_key())["error"]["code"] == "box_limit_reached"
            page = c.get(f"/my/databases/{SHOP}").text
            assert ">full<" in page and "Retire a box you no longer use" in page
            c.post(
                retire_path(label),
                data={"csrf_token": token(c, retire_path(label)), "confirm": "yes"},
            )
            assert boxes_of(c) == boxes - 1
            assert "x509_pem" in ask(shop, key)  # the place is free again: it asks anew
            assert ask(shop, box_key())["error"]["code"] == "box_limit_reached"
        finally:
            with issuer.sessions.begin() as s:
                accounts.set_database_max_boxes(s, SHOP, None)


def test_a_box_is_retired_only_through_its_own_database(shop: Shop) -> None:
    _, label = new_box(shop)
    with client(shop) as c:
        login(c, OWNER)
        wrong = retire_path(label, "db-shop-staging")  # the same account's other database
        assert c.get(wrong).status_code == 404
        answer = c.post(wrong, data={"csrf_token": token(c, "/my/subscriptions"), "confirm": "1"})
        assert answer.status_code == 404
        texts = {
            c.get(path).text.split("<main", 1)[1]
            for path in (
                wrong,
                retire_path("a" * 16),  # no such box
                retire_path(label, "no-such-database"),
                retire_path("not-a-label"),
            )
        }
        assert len(texts) == 1 and "There is no such box in your databases." in texts.pop()
    assert registered(shop, label) and certificate_of(shop, label).revoked_at is None


def test_nobody_retires_another_customers_box(shop: Shop) -> None:
    _, theirs = new_box(shop, OTHER, OTHER_CODE)
    _, ours = new_box(shop)
    with client(shop) as c:
        login(c, OWNER)
        csrf = token(c, "/my/subscriptions")
        for path in (retire_path(theirs, OTHER), retire_path(theirs)):
            assert c.get(path).status_code == 404
            assert c.post(path, data={"csrf_token": csrf, "confirm": "yes"}).status_code == 404
    with client(shop) as c:
        login(c, STRANGER)
        csrf = token(c, "/my/subscriptions")
        for path in (retire_path(ours), retire_path(ours, OTHER)):
            assert c.post(path, data={"csrf_token": csrf, "confirm": "yes"}).status_code == 404
        assert f'href="{retire_path(theirs, OTHER)}"' in c.get(f"/my/databases/{OTHER}").text
    assert registered(shop, theirs) and registered(shop, ours)


def test_a_visitor_not_logged_in_is_sent_to_the_login(shop: Shop) -> None:
    _, label = new_box(shop)
    path = retire_path(label)
    with client(shop) as c:
        page = c.get(path)
        assert page.status_code == 303 and page.headers["location"] == f"/login?next={path}"
        csrf = token(c, "/login")  # a session, but no login
        answer = c.post(path, data={"csrf_token": csrf, "confirm": "yes"})
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login?")
    assert registered(shop, label)


@pytest.mark.parametrize("retired", ["", "<b>x</b>", "aaaaaaaaaaaaaaaa"])
def test_the_notice_only_for_a_box_retired(shop: Shop, retired: str) -> None:
    _, label = new_box(shop)
    with client(shop) as c:
        login(c, OWNER)
        for value in (retired, label):  # nonsense, or a box still registered
            page = c.get(f"/my/databases/{SHOP}", params={"retired": value}).text
            assert "its place is free" not in page and "<b>x</b>" not in page


@pytest.mark.parametrize(
    ("error", "status", "words"),
    [
        (NotFound("no box"), 404, "it may have been retired already"),
        (StillValid("box x still has 1 valid certificate(s)", ("01",), ("n",)), 409, "try again"),
        (CertificateAuthorityError("CA said 500 at https://ca.internal/"), 409, "try again"),
    ],
)
def test_a_removal_that_fails_is_a_clear_page(
    shop: Shop, monkeypatch: pytest.MonkeyPatch, error: Exception, status: int, words: str
) -> None:
    async def failing(*_: object, **__: object) -> None:
        raise error

    _, label = new_box(shop)
    monkeypatch.setattr(Remover, "forget_box", failing)
    with client(shop) as c:
        login(c, OWNER)
        csrf = token(c, retire_path(label))
        page = c.post(retire_path(label), data={"csrf_token": csrf, "confirm": "yes"})
    assert page.status_code == status and words in page.text
    assert "ca.internal" not in page.text and "Traceback" not in page.text
    assert registered(shop, label)


def test_a_box_without_a_valid_certificate_is_retired_too(shop: Shop) -> None:
    _, label = new_box(shop)
    with shop.vendor.issuer.sessions.begin() as s:
        certificates.mark_revoked(s, certificate_of(shop, label).id, shop.vendor.clock())
    with client(shop) as c:
        login(c, OWNER)
        page = c.get(retire_path(label)).text
        assert "none valid now" in page and "nothing to revoke" in page
        assert "Its certificate is revoked now" not in page
        csrf = token(c, retire_path(label))
        done = c.post(retire_path(label), data={"csrf_token": csrf, "confirm": "yes"})
        assert done.status_code == 303
    assert not registered(shop, label)
