"""The admin API's messages, declared once with pydantic: they validate every request body and
query, and the OpenAPI document at ``/openapi.json`` is generated from the same declarations,
so what the document promises and what the API accepts cannot drift apart.

Every model refuses unknown fields (``extra="forbid"``) and coerces nothing (``strict``), so a
billing system's typo is a 400 that names the field, not a silent default.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.json_schema import models_json_schema

from boxcert.issuer.models import DatabaseKind, SubscriptionState

API_PREFIX = "/api/v1"
Line = Annotated[
    str, StringConstraints(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$")
]
Uuid = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")
]


class RevocationReason(enum.StrEnum):
    """RFC 5280 reasons an operator may give (names as in x509.ReasonFlags)."""

    UNSPECIFIED = "unspecified"
    KEY_COMPROMISE = "keyCompromise"
    AFFILIATION_CHANGED = "affiliationChanged"
    SUPERSEDED = "superseded"
    CESSATION_OF_OPERATION = "cessationOfOperation"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class SubscriptionCreate(_In):
    """A new subscription. The contract code is written once and never read back."""

    code: Annotated[
        str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")
    ]
    state: SubscriptionState = SubscriptionState.IN_PROGRESS
    lines: list[Line] = Field(default_factory=list, max_length=50)


class SubscriptionUpdate(_In):
    """Fields to change; ``lines`` replaces all lines."""

    state: SubscriptionState | None = None
    lines: list[Line] | None = Field(default=None, max_length=50)


class DatabaseCreate(_In):
    uuid: Uuid
    kind: DatabaseKind = DatabaseKind.PRODUCTION
    subscription_id: int = Field(ge=1)


class DatabaseUpdate(_In):
    """Fields to change. ``max_boxes`` given as null gives the database the issuer's
    ``--max-boxes`` again; left out, the cap stays as it is."""

    kind: DatabaseKind | None = None
    subscription_id: int | None = Field(default=None, ge=1)
    max_boxes: int | None = Field(
        default=None,
        ge=0,
        le=10**9,
        description="Boxes allowed (0: no new box); null: the issuer's --max-boxes.",
    )


class DatabaseRemoveQuery(_In):
    revoke: bool = Field(
        default=False,
        description="Revoke its valid certificates first (cessationOfOperation); without "
        "it, a database with valid certificates is not removed (409).",
    )


class SubscriptionRemoveQuery(_In):
    with_databases: bool = Field(
        default=False,
        description="Remove its databases too; without it, a subscription with databases is "
        "not removed (409).",
    )
    revoke: bool = Field(default=False, description="With with_databases: revoke first.")


MAX_BOXES_PAGE = 1000
Cursor = Annotated[str, StringConstraints(min_length=1, max_length=512)]
_AFTER = "The `next` of the previous page, as given (left out: the first page)."
_NEXT = "Give it as `after` for the next page; null: this is the last page."


class BoxQuery(_In):
    database: Uuid | None = None
    limit: int = Field(default=MAX_BOXES_PAGE, ge=1, le=MAX_BOXES_PAGE)
    after: Cursor | None = Field(default=None, description=_AFTER)


class BoxForgetQuery(_In):
    keep_certificate: bool = Field(
        default=False,
        description="Leave its valid certificate valid (else revoked: cessationOfOperation).",
    )


class RevokeRequest(_In):
    reason: RevocationReason = RevocationReason.CESSATION_OF_OPERATION


class CertificateQuery(_In):
    database: Uuid | None = None
    revoked: bool | None = None
    limit: int = Field(default=100, ge=1, le=1000)
    after: Cursor | None = Field(default=None, description=_AFTER)


class AuditQuery(_In):
    database: Uuid | None = None
    since: datetime | None = None
    limit: int = Field(default=100, ge=1, le=1000)


class Reason(BaseModel):
    code: str = Field(description="The refusal code boxes get (boxcert.wire.refusals).")
    message: str
    title: str
    remedy: str


class SubscriptionOut(BaseModel):
    id: int
    code_hint: str = Field(description="The last characters of the contract code, if long.")
    state: SubscriptionState
    lines: list[str]
    created_at: datetime
    databases: list[str]


class DatabaseOut(BaseModel):
    uuid: str
    kind: DatabaseKind
    subscription_id: int
    boxes: int
    max_boxes: int | None = Field(description="Its own box cap; null: the issuer's --max-boxes.")
    duplicate_since: datetime | None
    eligible: bool
    reason: Reason | None = Field(description="Why it is not eligible, and the refusal code.")
    lapsed_since: datetime | None = Field(description="Not entitled since (lifecycle job).")
    revoke_after: datetime | None = Field(description="Certificates revoked from then on.")
    created_at: datetime


class CertificateOut(BaseModel):
    id: int
    serial: str
    database: str
    holder: str
    names: list[str]
    ca: str
    not_before: datetime
    not_after: datetime
    issued_at: datetime
    revoked_at: datetime | None
    revocation_reason: str | None
    revocation_code: str | None


class BoxOut(BaseModel):
    label: str = Field(description="The box's label: its certificate is for *.label.zone.")
    database: str
    identifier: str = Field(description="What the box calls itself in its requests.")
    first_seen: datetime
    last_seen: datetime
    serial: str | None = Field(description="Its newest valid certificate, if any.")
    valid_until: datetime | None


class BoxList(BaseModel):
    """A page of boxes: by database, then oldest first."""

    boxes: list[BoxOut]
    next: str | None = Field(description=_NEXT)


class DatabaseRemoved(BaseModel):
    uuid: str
    subscription_id: int
    boxes: int = Field(description="Box registrations removed with it.")
    installations: int = Field(description="Hub installations' reports removed with it.")
    revoked: list[str] = Field(description="Serials revoked first.")


class SubscriptionRemoved(BaseModel):
    id: int
    lines: int
    accounts: int = Field(description="Portal accounts that no longer see it.")
    databases: list[DatabaseRemoved]


class BoxForgotten(BaseModel):
    label: str
    database: str
    revoked: list[str]
    kept: list[str] = Field(description="Serials left valid (keep_certificate).")


class AuditOut(BaseModel):
    id: int | None
    at: datetime
    kind: str
    actor: str
    database: str | None
    subscription_id: int | None
    code: str | None
    detail: str


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorDetail


class SubscriptionList(BaseModel):
    subscriptions: list[SubscriptionOut]


class DatabaseList(BaseModel):
    databases: list[DatabaseOut]


class CertificateList(BaseModel):
    """A page of certificates, newest first."""

    certificates: list[CertificateOut]
    next: str | None = Field(description=_NEXT)


class AuditList(BaseModel):
    entries: list[AuditOut]


_INPUTS: list[type[BaseModel]] = [
    SubscriptionCreate,
    SubscriptionUpdate,
    DatabaseCreate,
    DatabaseUpdate,
    RevokeRequest,
]
_OUTPUTS: list[type[BaseModel]] = [
    SubscriptionOut,
    SubscriptionList,
    DatabaseOut,
    DatabaseList,
    CertificateOut,
    CertificateList,
    AuditOut,
    AuditList,
    BoxOut,
    BoxList,
    DatabaseRemoved,
    SubscriptionRemoved,
    BoxForgotten,
    ErrorOut,
]


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(model: type[BaseModel]) -> dict[str, Any]:
    return {"application/json": {"schema": _ref(model)}}


def _errors(*statuses: int) -> dict[str, Any]:
    texts = {
        400: "The request does not match this document; the message names the field.",
        401: "No valid token: nothing else is said.",
        404: "No such subscription, database, box or certificate.",
        409: "It exists already, or it is still in use (the message says by what).",
        413: "The body is too large.",
        503: "The CA could not revoke now; nothing was removed.",
    }
    return {str(s): {"description": texts[s], "content": _json(ErrorOut)} for s in statuses}


def _query(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema()
    return [
        {"name": name, "in": "query", "required": False, "schema": prop}
        for name, prop in schema["properties"].items()
    ]


def _op(
    summary: str,
    answer: type[BaseModel],
    *,
    body: type[BaseModel] | None = None,
    status: int = 200,
    errors: tuple[int, ...] = (400, 401),
    query: type[BaseModel] | None = None,
    path: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {
            str(status): {"description": "OK", "content": _json(answer)},
            **_errors(*errors),
        },
    }
    if body is not None:
        op["requestBody"] = {"required": True, "content": _json(body)}
    params = (path or []) + (_query(query) if query is not None else [])
    if params:
        op["parameters"] = params
    return op


def _path_param(name: str, schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": name, "in": "path", "required": True, "schema": schema}]


def openapi_document(version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 description of the admin API."""
    _, defs = models_json_schema(
        [(m, "validation") for m in _INPUTS] + [(m, "serialization") for m in _OUTPUTS],
        ref_template="#/components/schemas/{model}",
    )
    sub_id = _path_param("id", {"type": "integer", "minimum": 1})
    uuid = _path_param("uuid", {"type": "string", "maxLength": 64})
    label = _path_param("label", {"type": "string", "pattern": "^[a-z2-7]{16}$"})
    serial = _path_param("serial", {"type": "string", "pattern": "^[0-9a-fA-F]{1,40}$"})
    p = API_PREFIX
    paths: dict[str, Any] = {
        f"{p}/subscriptions": {
            "get": _op("List subscriptions", SubscriptionList),
            "post": _op(
                "Create a subscription",
                SubscriptionOut,
                body=SubscriptionCreate,
                status=201,
                errors=(400, 401, 409, 413),
            ),
        },
        f"{p}/subscriptions/{{id}}": {
            "get": _op("Read a subscription", SubscriptionOut, errors=(400, 401, 404), path=sub_id),
            "patch": _op(
                "Change a subscription's state or lines",
                SubscriptionOut,
                body=SubscriptionUpdate,
                errors=(400, 401, 404, 413),
                path=sub_id,
            ),
            "delete": _op(
                "Remove a subscription (with_databases: and its databases)",
                SubscriptionRemoved,
                errors=(400, 401, 404, 409, 503),
                query=SubscriptionRemoveQuery,
                path=sub_id,
            ),
        },
        f"{p}/databases": {
            "get": _op("List databases", DatabaseList),
            "post": _op(
                "Register a database",
                DatabaseOut,
                body=DatabaseCreate,
                status=201,
                errors=(400, 401, 404, 409, 413),
            ),
        },
        f"{p}/databases/{{uuid}}": {
            "get": _op("Read a database", DatabaseOut, errors=(400, 401, 404), path=uuid),
            "patch": _op(
                "Change a database's kind, subscription or box cap",
                DatabaseOut,
                body=DatabaseUpdate,
                errors=(400, 401, 404, 413),
                path=uuid,
            ),
            "delete": _op(
                "Remove a database with its boxes (certificates and audit entries stay)",
                DatabaseRemoved,
                errors=(400, 401, 404, 409, 503),
                query=DatabaseRemoveQuery,
                path=uuid,
            ),
        },
        f"{p}/boxes": {
            "get": _op(
                "List boxes, a page at a time (follow next until it is null)",
                BoxList,
                errors=(400, 401, 404),
                query=BoxQuery,
            )
        },
        f"{p}/boxes/{{label}}": {
            "delete": _op(
                "Forget a box (its place under the cap is free); its certificate is revoked "
                "unless keep_certificate",
                BoxForgotten,
                errors=(400, 401, 404, 409, 503),
                query=BoxForgetQuery,
                path=label,
            ),
        },
        f"{p}/certificates": {
            "get": _op(
                "List certificates, a page at a time (follow next until it is null)",
                CertificateList,
                query=CertificateQuery,
            ),
        },
        f"{p}/certificates/{{serial}}/revoke": {
            "post": _op(
                "Revoke a certificate at the CA",
                CertificateOut,
                body=RevokeRequest,
                errors=(400, 401, 404, 413),
                path=serial,
            ),
        },
        f"{p}/audit": {"get": _op("Read the audit log", AuditList, query=AuditQuery)},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "boxcert issuer admin API",
            "version": version,
            "description": "For the vendor's billing system: subscriptions, databases, "
            "certificates. Every request needs a token (`boxcert issuer token add`).",
        },
        "servers": [{"url": "/"}],
        "components": {
            "schemas": defs["$defs"],
            "securitySchemes": {
                "token": {"type": "http", "scheme": "bearer", "bearerFormat": "bxa1 token"}
            },
        },
        "security": [{"token": []}],
        "paths": paths,
    }
