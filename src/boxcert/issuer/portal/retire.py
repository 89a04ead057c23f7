"""A customer retires a box: ``GET`` and ``POST /my/databases/<uuid>/boxes/<label>/retire``.

The page shows the box, its valid certificates and what retiring does; its form (CSRF token
and a confirm checkbox) posts back to the same path. Retiring is the vendor's
:meth:`~boxcert.issuer.removal.Remover.forget_box`, limited to the database in the path and
audited as ``portal:<email>``: the box's valid certificates are revoked
(``cessationOfOperation``), its registration goes and its place under the database's cap is
free at once. Not a ban: a box that still runs and asks again is a new box, if the cap allows.

Whatever the account may not touch — an unknown database or box, another customer's
database, a box of another database — gets the same 404, which reveals nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from boxcert import naming
from boxcert.clock import Clock
from boxcert.issuer.db import run_in_session
from boxcert.issuer.errors import IssuerError, NotFound, StillValid
from boxcert.issuer.registration import box_cap
from boxcert.issuer.removal import Remover
from boxcert.issuer.service import IssuerService
from boxcert.issuer.store import accounts, boxes, removals
from boxcert.issuer.store.rows import BoxRow, StoredCertificate
from boxcert.web import Pages, visit_of
from boxcert.wire import canonical_uuid

log = logging.getLogger(__name__)
NOT_FOUND = "There is no such box in your databases."
TICK = "Tick the box to confirm, then press “Retire this box”. Nothing was changed."

Who = Callable[[Request], Awaitable[tuple[list[int], str | None]]]


@dataclass(frozen=True, slots=True)
class RetireView:
    db_uuid: str
    box: BoxRow
    certificates: list[StoredCertificate]  # neither revoked nor ended
    boxes: int  # the database's boxes now
    box_cap: int

    @property
    def name(self) -> str:
        return self.box.identifier or self.box.label

    @property
    def database_path(self) -> str:
        return f"/my/databases/{quote(self.db_uuid, safe='')}"

    @property
    def path(self) -> str:
        return f"{self.database_path}/boxes/{self.box.label}/retire"


def retire_view(
    session: Session, sub_ids: list[int], uuid: str, label: str, now: datetime, default_cap: int
) -> RetireView:
    """The box ``label`` of database ``uuid`` if the account may see it; NotFound otherwise,
    with one message whatever the reason."""
    if not naming.is_label(label):
        raise NotFound(NOT_FOUND)
    try:
        database = accounts.get_database(session, uuid)
    except NotFound:
        raise NotFound(NOT_FOUND) from None
    box = boxes.get_box(session, label)
    if database.subscription_id not in sub_ids or box is None or box.db_uuid != database.uuid:
        raise NotFound(NOT_FOUND)
    cap = box_cap(database.max_boxes, default_cap)
    valid = removals.valid_of_box(session, box, now)
    return RetireView(database.uuid, box, valid, database.boxes, cap)


@dataclass
class Retiring:
    """The two endpoints; ``who`` gives the visitor's subscription ids and email."""

    service: IssuerService
    clock: Clock
    pages: Pages
    who: Who

    async def _view(self, request: Request) -> tuple[RetireView, str]:
        uuid = canonical_uuid(request.path_params["uuid"])
        label = request.path_params["label"]
        ids, email = await self.who(request)
        if email is None:
            raise NotFound(NOT_FOUND)
        cap = self.service.settings.max_boxes_per_database
        view = await run_in_session(
            self.service.sessions,
            lambda s: retire_view(s, ids, uuid, label, self.clock(), cap),
        )
        return view, email

    def _page(self, request: Request, view: RetireView, status: int = 200) -> Response:
        error = TICK if status == 400 else ""
        title = f"Retire {view.name}"
        return self.pages.render(
            request, "retire.html", status=status, title=title, view=view, error=error
        )

    async def confirm(self, request: Request) -> Response:
        try:
            view, _ = await self._view(request)
        except NotFound:
            return self._not_found(request)
        return self._page(request, view)

    async def retire(self, request: Request) -> Response:
        try:
            view, email = await self._view(request)
        except NotFound:
            return self._not_found(request)
        visit = visit_of(request)
        if visit is None or not visit.form.get("confirm"):
            return self._page(request, view, 400)
        remover = Remover(
            self.service.sessions, self.clock, self.service.revoker, actor=f"portal:{email}"
        )
        back = view.database_path
        try:
            await remover.forget_box(view.box.label, database=view.db_uuid)
        except NotFound:
            text = "This box is not registered any more: it may have been retired already."
            return self.pages.message(request, 404, "Box already gone", text, back=back)
        except StillValid:
            text = (
                "The box got a new certificate while it was being retired, so it was not "
                "removed. Please try again."
            )
            return self.pages.message(request, 409, "Box not retired", text, back=back)
        except IssuerError as err:
            log.warning("portal: retiring box %s failed: %s", view.box.label, err)
            text = (
                "Its certificate could not be revoked just now, so the box was not removed. "
                "Please try again in a few minutes."
            )
            return self.pages.message(request, 409, "Box not retired", text, back=back)
        return RedirectResponse(f"{back}?retired={view.box.label}", status_code=303)

    def _not_found(self, request: Request) -> Response:
        return self.pages.message(request, 404, "No such box", NOT_FOUND, back="/my/subscriptions")
