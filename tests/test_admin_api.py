"""The admin API (boxcert.issuer.admin_api): nothing without a token, changes with one, every
body checked against the OpenAPI document it is generated with, and the document itself valid
OpenAPI 3.1. In-process through the real site (the process boundary adds nothing here)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from boxcert.issuer import tokens
from boxcert.issuer.errors import Refusal
from boxcert.issuer.site import create_site
from boxcert.issuer.store import accounts
from boxcert.issuer.store import tokens as stored_tokens
from boxcert.wire import RefusalCode
from tests.issuer_support import Issuer, box_request, make_issuer

ROUTES = [
    ("GET", "/api/v1/subscriptions", None),
    ("POST", "/api/v1/subscriptions", {"code": "C-NEW-00000001"}),
    ("GET", "/api/v1/subscriptions/1", None),
    ("PATCH", "/api/v1/subscriptions/1", {"state": "closed"}),
    ("GET", "/api/v1/databases", None),
    ("POST", "/api/v1/databases", {"uuid": "db-x", "subscription_id": 1}),
    ("GET", "/api/v1/databases/db-a", None),
    ("PATCH", "/api/v1/databases/db-a", {"kind": "staging"}),
    ("GET", "/api/v1/certificates", None),
    ("POST", "/api/v1/certificates/abc/revoke", {}),
    ("GET", "/api/v1/audit", None),
    ("DELETE", "/api/v1/databases/db-a?revoke=true", None),
    ("DELETE", "/api/v1/subscriptions/1?with_databases=true&revoke=true", None),
    ("GET", "/api/v1/boxes", None),
    ("DELETE", "/api/v1/boxes/aaaaaaaaaaaaaaaa", None),
]


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[tuple[Issuer, httpx.AsyncClient, str]]:
    issuer = make_issuer(tmp_path)
    issuer.register("db-a", "C-ADMIN-00000001")
    await issuer.service.handle(box_request("db-a", "C-ADMIN-00000001"))
    with issuer.sessions.begin() as s:
        token = tokens.make(s, "billing", issuer.clock).text
    transport = httpx.ASGITransport(app=create_site(issuer.service))
    async with httpx.AsyncClient(transport=transport, base_url="http://issuer.test") as client:
        yield issuer, client, token
    issuer.service.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer bxa1.AAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
        "Bearer not-a-token",
    ],
)
async def test_no_valid_token_no_data(
    site: tuple[Issuer, httpx.AsyncClient, str], header: str | None
) -> None:
    issuer, client, _ = site
    for method, path, body in ROUTES:
        headers = {"Authorization": header} if header else {}
        answer = await client.request(method, path, json=body, headers=headers)
        assert answer.status_code == 401, (method, path)
        assert answer.json() == {
            "error": {
                "code": "unauthorized",
                "message": "a valid admin API token is required (Bearer bxa1.…)",
            }
        }
    # and nothing changed
    with issuer.sessions.begin() as s:
        assert [r.state for r in accounts.list_subscriptions(s)] == ["in_progress"]


async def test_a_wrong_secret_for_a_real_token_id(
    site: tuple[Issuer, httpx.AsyncClient, str],
) -> None:
    _, client, token = site
    forged = token[: token.rindex(".") + 1] + "A" * 43
    assert (await client.get("/api/v1/subscriptions", headers=bearer(forged))).status_code == 401


async def test_a_removed_token_stops_working(site: tuple[Issuer, httpx.AsyncClient, str]) -> None:
    issuer, client, token = site
    assert (await client.get("/api/v1/databases", headers=bearer(token))).status_code == 200
    with issuer.sessions.begin() as s:
        stored_tokens.remove_token(s, "billing")
    assert (await client.get("/api/v1/databases", headers=bearer(token))).status_code == 401


async def test_changes_with_a_token(site: tuple[Issuer, httpx.AsyncClient, str]) -> None:
    issuer, client, token = site
    h = bearer(token)
    made = await client.post(
        "/api/v1/subscriptions",
        headers=h,
        json={"code": "C-BILLING-0000002", "state": "draft", "lines": ["Other"]},
    )
    assert made.status_code == 201, made.text
    sub = made.json()
    assert sub["state"] == "draft" and sub["code_hint"] == "0002" and "code" not in sub
    assert "C-BILLING-0000002" not in made.text
    again = await client.post(
        "/api/v1/subscriptions", headers=h, json={"code": "C-BILLING-0000002"}
    )
    assert again.status_code == 409
    db = await client.post(
        "/api/v1/databases", headers=h, json={"uuid": "DB-B", "subscription_id": sub["id"]}
    )
    assert db.status_code == 201, db.text
    assert db.json()["uuid"] == "db-b"
    assert db.json()["eligible"] is False
    assert db.json()["reason"]["code"] == "subscription_not_in_progress"
    changed = await client.patch(
        f"/api/v1/subscriptions/{sub['id']}",
        headers=h,
        json={"state": "in_progress", "lines": ["IoT Box Subscription"]},
    )
    assert changed.json()["lines"] == ["IoT Box Subscription"]
    db_now = await client.get("/api/v1/databases/db-b", headers=h)
    assert db_now.json()["eligible"] is True and db_now.json()["reason"] is None
    moved = await client.patch("/api/v1/databases/db-a", headers=h, json={"kind": "staging"})
    assert moved.json()["reason"]["code"] == "database_not_production"
    listing = await client.get("/api/v1/databases", headers=h)
    assert {d["uuid"] for d in listing.json()["databases"]} == {"db-a", "db-b"}

    certs = (await client.get("/api/v1/certificates?database=db-a", headers=h)).json()
    assert len(certs["certificates"]) == 1
    serial = certs["certificates"][0]["serial"]
    revoked = await client.post(
        f"/api/v1/certificates/{serial}/revoke", headers=h, json={"reason": "keyCompromise"}
    )
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revocation_reason"] == "keyCompromise"
    assert revoked.json()["revoked_at"] is not None
    left = await client.get("/api/v1/certificates?revoked=false", headers=h)
    assert left.json()["certificates"] == []

    assert issuer.service.audit is not None
    issuer.service.audit.flush()
    trail = (await client.get("/api/v1/audit", headers=h)).json()["entries"]
    changes = [e["detail"] for e in trail if e["kind"] == "admin_change"]
    assert any("created subscription" in c for c in changes)
    assert any("database db-a: kind staging" in c for c in changes)
    assert all(e["actor"] == "admin-api:billing" for e in trail if e["kind"] == "admin_change")
    assert any(e["kind"] == "revoked" and "keyCompromise" in e["detail"] for e in trail)
    assert "C-BILLING-0000002" not in str(trail)


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "says"),
    [
        ("POST", "/api/v1/subscriptions", {}, 400, "code"),
        ("POST", "/api/v1/subscriptions", {"code": "C-1", "state": "open"}, 400, "state"),
        ("POST", "/api/v1/subscriptions", {"code": "C-1", "lines": "IoT"}, 400, "lines"),
        ("POST", "/api/v1/subscriptions", {"code": "C-1", "extra": 1}, 400, "extra"),
        ("POST", "/api/v1/subscriptions", {"code": "C\x00"}, 400, "code"),
        ("POST", "/api/v1/subscriptions", [1, 2], 400, "body"),
        ("PATCH", "/api/v1/subscriptions/1", {"state": 3}, 400, "state"),
        ("PATCH", "/api/v1/subscriptions/99", {"state": "closed"}, 404, "#99"),
        ("PATCH", "/api/v1/subscriptions/x", {"state": "closed"}, 400, "integer"),
        (
            "POST",
            "/api/v1/databases",
            {"uuid": "db-z", "subscription_id": "1"},
            400,
            "subscription_id",
        ),
        ("POST", "/api/v1/databases", {"uuid": "db-z", "subscription_id": 42}, 404, "#42"),
        ("POST", "/api/v1/databases", {"uuid": "DB-A", "subscription_id": 1}, 409, "exists"),
        ("PATCH", "/api/v1/databases/db-a", {"kind": "copy"}, 400, "kind"),
        ("GET", "/api/v1/databases/nope", None, 404, "nope"),
        ("GET", "/api/v1/certificates?revoked=maybe", None, 400, "revoked"),
        ("GET", "/api/v1/certificates?limit=0", None, 400, "limit"),
        ("GET", "/api/v1/audit?since=yesterday", None, 400, "since"),
        ("POST", "/api/v1/certificates/zz/revoke", {}, 400, "hex"),
        ("POST", "/api/v1/certificates/abc/revoke", {}, 404, "abc"),
        ("POST", "/api/v1/certificates/abc/revoke", {"reason": "whim"}, 400, "reason"),
        ("PATCH", "/api/v1/databases/db-a", {"max_boxes": -1}, 400, "max_boxes"),
        ("PATCH", "/api/v1/databases/db-a", {"max_boxes": "5"}, 400, "max_boxes"),
        ("DELETE", "/api/v1/databases/nope", None, 404, "nope"),
        ("DELETE", "/api/v1/databases/db-a", None, 409, "valid certificate"),
        ("DELETE", "/api/v1/databases/db-a?revoke=maybe", None, 400, "revoke"),
        ("DELETE", "/api/v1/subscriptions/1", None, 409, "db-a"),
        ("DELETE", "/api/v1/subscriptions/99", None, 404, "#99"),
        ("DELETE", "/api/v1/subscriptions/1?with_databases=true", None, 409, "valid"),
        ("GET", "/api/v1/boxes?database=nope", None, 404, "nope"),
        ("GET", "/api/v1/boxes?limit=0", None, 400, "limit"),
        ("DELETE", "/api/v1/boxes/box-1", None, 400, "label"),
        ("DELETE", "/api/v1/boxes/aaaaaaaaaaaaaaaa", None, 404, "no box"),
    ],
)
async def test_bad_requests_are_4xx_with_a_reason(
    site: tuple[Issuer, httpx.AsyncClient, str],
    method: str,
    path: str,
    body: Any,
    status: int,
    says: str,
) -> None:
    _, client, token = site
    answer = await client.request(method, path, json=body, headers=bearer(token))
    assert answer.status_code == status, answer.text
    assert says in answer.json()["error"]["message"]


async def test_oversized_and_unreadable_bodies(site: tuple[Issuer, httpx.AsyncClient, str]) -> None:
    _, client, token = site
    big = await client.post(
        "/api/v1/subscriptions", headers=bearer(token), content=b"{" + b" " * 70_000 + b"}"
    )
    assert big.status_code == 413
    broken = await client.post("/api/v1/subscriptions", headers=bearer(token), content=b"{no")
    assert broken.status_code == 400


async def test_the_openapi_document_is_valid_and_public(
    site: tuple[Issuer, httpx.AsyncClient, str],
) -> None:
    _, client, _ = site
    answer = await client.get("/openapi.json")
    assert answer.status_code == 200
    document = answer.json()
    validate(document)  # raises on an invalid OpenAPI 3.1 document
    assert set(document["paths"]) == {
        "/api/v1/subscriptions",
        "/api/v1/subscriptions/{id}",
        "/api/v1/databases",
        "/api/v1/databases/{uuid}",
        "/api/v1/certificates",
        "/api/v1/certificates/{serial}/revoke",
        "/api/v1/audit",
        "/api/v1/boxes",
        "/api/v1/boxes/{label}",
    }
    create = document["components"]["schemas"]["SubscriptionCreate"]
    assert create["additionalProperties"] is False and create["required"] == ["code"]
    for path, listing in [
        ("/api/v1/boxes", "BoxList"),
        ("/api/v1/certificates", "CertificateList"),
    ]:
        params = {q["name"] for q in document["paths"][path]["get"]["parameters"]}
        assert {"after", "limit", "database"} <= params, path
        assert "next" in document["components"]["schemas"][listing]["required"], listing
    assert document["security"] == [{"token": []}]


async def test_answers_match_the_document(site: tuple[Issuer, httpx.AsyncClient, str]) -> None:
    """Each answer validates against the schema the document gives for it."""
    from jsonschema import Draft202012Validator

    issuer, client, token = site
    document = (await client.get("/openapi.json")).json()

    def check(answer: httpx.Response, schema_name: str) -> None:
        schema = {
            "$ref": f"#/components/schemas/{schema_name}",
            "components": document["components"],
        }
        Draft202012Validator(schema).validate(answer.json())

    h = bearer(token)
    check(await client.get("/api/v1/subscriptions", headers=h), "SubscriptionList")
    check(await client.get("/api/v1/databases", headers=h), "DatabaseList")
    check(await client.get("/api/v1/databases/db-a", headers=h), "DatabaseOut")
    check(await client.get("/api/v1/certificates", headers=h), "CertificateList")
    check(await client.get("/api/v1/certificates?after=%%%", headers=h), "ErrorOut")
    check(await client.get("/api/v1/audit", headers=h), "AuditList")
    check(await client.get("/api/v1/boxes", headers=h), "BoxList")
    await issuer.service.handle(box_request("db-a", "C-ADMIN-00000001"))  # a second box:
    first = await client.get("/api/v1/boxes?limit=1", headers=h)  # a page with a next
    check(first, "BoxList")
    certs = await client.get("/api/v1/certificates?limit=1", headers=h)
    check(certs, "CertificateList")
    assert first.json()["next"] and certs.json()["next"]
    check(await client.get(f"/api/v1/boxes?after={first.json()['next']}", headers=h), "BoxList")
    check(await client.get("/api/v1/boxes?after=%%%", headers=h), "ErrorOut")
    forget = first.json()["boxes"][0]["label"]
    check(await client.delete(f"/api/v1/boxes/{forget}", headers=h), "BoxForgotten")
    (box,) = (await client.get("/api/v1/boxes", headers=h)).json()["boxes"]
    check(await client.delete(f"/api/v1/boxes/{box['label']}", headers=h), "BoxForgotten")
    check(await client.delete("/api/v1/databases/db-a", headers=h), "DatabaseRemoved")
    check(await client.delete("/api/v1/subscriptions/1", headers=h), "SubscriptionRemoved")
    check(await client.get("/api/v1/subscriptions", headers={}), "ErrorOut")


async def test_removals_and_the_box_cap(site: tuple[Issuer, httpx.AsyncClient, str]) -> None:
    issuer, client, token = site
    h = bearer(token)
    capped = await client.patch("/api/v1/databases/DB-A", headers=h, json={"max_boxes": 1})
    assert capped.status_code == 200 and capped.json()["max_boxes"] == 1
    with pytest.raises(Refusal) as refused:  # the one box it has is its cap
        await issuer.service.handle(box_request("db-a", "C-ADMIN-00000001"))
    assert refused.value.code is RefusalCode.BOX_LIMIT_REACHED
    unchanged = await client.patch("/api/v1/databases/db-a", headers=h, json={"kind": "staging"})
    assert unchanged.json()["max_boxes"] == 1  # left out: left alone
    reset = await client.patch(
        "/api/v1/databases/db-a", headers=h, json={"kind": "production", "max_boxes": None}
    )
    assert reset.json()["max_boxes"] is None

    (box,) = (await client.get("/api/v1/boxes?database=DB-A", headers=h)).json()["boxes"]
    assert box["database"] == "db-a" and box["serial"] and box["valid_until"]
    forgotten = await client.delete(
        f"/api/v1/boxes/{box['label']}?keep_certificate=true", headers=h
    )
    assert forgotten.json() == {
        "label": box["label"],
        "database": "db-a",
        "revoked": [],
        "kept": [box["serial"]],
    }
    assert (await client.get("/api/v1/boxes", headers=h)).json()["boxes"] == []
    removed = await client.delete(
        "/api/v1/subscriptions/1?with_databases=true&revoke=true", headers=h
    )
    assert removed.status_code == 200, removed.text
    body = removed.json()
    assert body["databases"][0]["uuid"] == "db-a" and body["databases"][0]["revoked"] == [
        box["serial"]
    ]
    assert (await client.get("/api/v1/databases/db-a", headers=h)).status_code == 404
    assert issuer.service.audit is not None
    issuer.service.audit.flush()
    trail = (await client.get("/api/v1/audit", headers=h)).json()["entries"]
    changes = [e["detail"] for e in trail if e["actor"] == "admin-api:billing"]
    for expected in (
        "database db-a: box cap 1",
        "forgot box",
        "removed database db-a",
        "removed subscription #1",
        "revoked serial",
    ):
        assert any(c.startswith(expected) for c in changes), expected
