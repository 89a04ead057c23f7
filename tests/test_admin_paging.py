"""The admin API's listings page by page: following ``next`` gives every box (certificate) once,
in order, with or without filters, then null; a cursor that is not one is a 400, never a 500.
The store's side (SQL order on SQLite and PostgreSQL) is tests/test_store_paging.py."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest

from boxcert.issuer.store import certificates
from tests.issuer_support import Issuer, box_request
from tests.test_admin_api import bearer, site  # noqa: F401  (the fixture)

Site = tuple[Issuer, httpx.AsyncClient, str]


@pytest.fixture
async def fleet(site: Site) -> Site:  # noqa: F811
    """Seven boxes: db-a's one (the site's) and three more, db-b's three; one certificate each,
    a few minutes apart."""
    issuer, _, _ = site
    issuer.register("db-b", "C-ADMIN-00000002")
    for db, code in [("db-a", "C-ADMIN-00000001")] * 3 + [("db-b", "C-ADMIN-00000002")] * 3:
        issuer.clock.advance(timedelta(minutes=7))
        await issuer.service.handle(box_request(db, code))
    return site


async def follow(client: httpx.AsyncClient, token: str, url: str, key: str) -> list[list[Any]]:
    """Every page of a listing, following ``next`` until it is null."""
    pages: list[list[Any]] = []
    after: str | None = None
    while True:
        # (httpx: params= would replace the url's query, so the cursor is added by hand)
        page_url = f"{url}&after={after}" if after is not None else url
        answer = await client.get(page_url, headers=bearer(token))
        assert answer.status_code == 200, answer.text
        pages.append(answer.json()[key])
        after = answer.json()["next"]
        if after is None:
            return pages
        assert len(pages) < 10, "next never ends"


async def test_following_next_lists_every_box_once_in_order(fleet: Site) -> None:
    _, client, token = fleet
    whole = (await client.get("/api/v1/boxes", headers=bearer(token))).json()
    assert whole["next"] is None and len(whole["boxes"]) == 7
    order = [(b["database"], b["first_seen"], b["label"]) for b in whole["boxes"]]
    assert order == sorted(order)

    pages = await follow(client, token, "/api/v1/boxes?limit=3", "boxes")
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [b for p in pages for b in p] == whole["boxes"]

    exact = await follow(client, token, "/api/v1/boxes?limit=7", "boxes")
    assert [len(p) for p in exact] == [7]  # limit + 1 read: no empty last page

    in_b = await follow(client, token, "/api/v1/boxes?database=DB-B&limit=2", "boxes")
    assert [len(p) for p in in_b] == [2, 1]
    assert [b for p in in_b for b in p] == [b for b in whole["boxes"] if b["database"] == "db-b"]
    assert all(b["serial"] and b["valid_until"] for p in in_b for b in p)


async def test_following_next_lists_every_certificate_once_newest_first(fleet: Site) -> None:
    issuer, client, token = fleet
    with issuer.sessions.begin() as s:
        (one, two) = certificates.listing(s, db_uuid="db-b", limit=2)
        certificates.mark_revoked(s, one.id, issuer.clock())
        certificates.mark_revoked(s, two.id, issuer.clock())
    whole = (await client.get("/api/v1/certificates", headers=bearer(token))).json()
    assert whole["next"] is None and len(whole["certificates"]) == 7
    ids = [c["id"] for c in whole["certificates"]]
    assert ids == sorted(ids, reverse=True)

    pages = await follow(client, token, "/api/v1/certificates?limit=3", "certificates")
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [c for p in pages for c in p] == whole["certificates"]

    of_b = [c["id"] for c in whole["certificates"] if c["database"] == "db-b"]
    for query, expected in [
        ("database=db-b&revoked=true", [one.id, two.id]),
        ("database=db-b&revoked=false", [i for i in of_b if i not in (one.id, two.id)]),
        ("revoked=false", [i for i in ids if i not in (one.id, two.id)]),
    ]:
        pages = await follow(client, token, f"/api/v1/certificates?{query}&limit=1", "certificates")
        assert [c["id"] for p in pages for c in p] == sorted(expected, reverse=True), query
        assert all(len(p) == 1 for p in pages)


def cursor(values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("path", ["/api/v1/boxes", "/api/v1/certificates"])
@pytest.mark.parametrize(
    "after",
    [
        "%%%",
        "",
        "not base64!",
        "A",  # base64 of nothing whole
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),  # not UTF-8
        cursor({"b": 1}),  # JSON, not a list
        cursor([]),
        cursor(["b", "db-a", "2026-03-01T09:00:00+00:00"]),  # a field short
        cursor(["b", "db-a", "yesterday", "aaaaaaaaaaaaaaaa"]),
        cursor(["b", "db-a", "2026-03-01T09:00:00", "aaaaaaaaaaaaaaaa"]),  # no zone
        cursor(["b", "db-a", "0001-01-01T00:00:00+05:00", "aaaaaaaaaaaaaaaa"]),  # overflows
        cursor(["b", "db\x00", "2026-03-01T09:00:00+00:00", "aaaaaaaaaaaaaaaa"]),
        cursor(["b", 1, "2026-03-01T09:00:00+00:00", "aaaaaaaaaaaaaaaa"]),
        cursor(["c", 0]),
        cursor(["c", 2**63]),
        cursor(["c", "12"]),
        cursor(["c", True]),
        cursor(["c", 1.5]),
        "A" * 600,
    ],
)
async def test_a_malformed_cursor_is_a_400(site: Site, path: str, after: str) -> None:  # noqa: F811
    _, client, token = site
    answer = await client.get(path, params={"after": after}, headers=bearer(token))
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "bad_request" and "after" in error["message"]


async def test_a_cursor_of_the_other_listing_is_a_400(fleet: Site) -> None:
    _, client, token = fleet
    h = bearer(token)
    boxes_next = (await client.get("/api/v1/boxes?limit=1", headers=h)).json()["next"]
    certs_next = (await client.get("/api/v1/certificates?limit=1", headers=h)).json()["next"]
    assert boxes_next and certs_next
    for path, after in [("/api/v1/certificates", boxes_next), ("/api/v1/boxes", certs_next)]:
        answer = await client.get(path, params={"after": after}, headers=h)
        assert answer.status_code == 400 and "next" in answer.json()["error"]["message"]


async def test_a_forged_position_shows_only_what_the_filter_lists(fleet: Site) -> None:
    """A cursor is a position, not a permission: made up, it still pages the filtered list."""
    _, client, token = fleet
    h = bearer(token)
    start = cursor(["b", "db-a", "1970-01-01T00:00:00+00:00", "aaaaaaaaaaaaaaaa"])
    answer = await client.get(
        "/api/v1/boxes", params={"database": "db-b", "after": start}, headers=h
    )
    assert {b["database"] for b in answer.json()["boxes"]} == {"db-b"}
    beyond = cursor(["c", 2**63 - 1])
    every = await client.get("/api/v1/certificates", params={"after": beyond}, headers=h)
    assert len(every.json()["certificates"]) == 7


async def test_the_boxes_page_is_at_most_a_thousand(site: Site) -> None:  # noqa: F811
    _, client, token = site
    h = bearer(token)
    assert (await client.get("/api/v1/boxes?limit=1000", headers=h)).status_code == 200
    too_many = await client.get("/api/v1/boxes?limit=1001", headers=h)
    assert too_many.status_code == 400 and "limit" in too_many.json()["error"]["message"]
