"""Server-rendered pages: one Jinja2 environment per site, our base template, our stylesheet.

A site gives its own templates (a Jinja2 loader); they extend ``base.html`` from this package
and fill its blocks: ``title``, ``content`` and optionally ``head``. Every template sees:

- ``site`` — the site's name, shown in the header; ``nav`` — (url, label) pairs shown to a
  logged-in visitor; ``visit`` — the :class:`~boxcert.web.sessions.Visit` (or None);
- ``csrf_token`` — to put in every form as ``<input type="hidden" name="csrf_token" …>``
  (``{{ csrf_field() }}`` writes that input);
- ``stylesheet`` — the URL of the stylesheet, versioned by its content.

Autoescaping is on for every template; undefined variables are errors, not empty strings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from importlib import resources
from typing import Any

from jinja2 import BaseLoader, ChoiceLoader, Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.types import Scope

from boxcert.web.sessions import CSRF_FIELD, visit_of

STYLESHEET_PATH = "/static/boxcert.css"


def _stylesheet() -> bytes:
    return resources.files("boxcert.web").joinpath("static/boxcert.css").read_bytes()


class Pages:
    def __init__(
        self,
        site: str,
        loader: BaseLoader | None = None,
        *,
        nav: Sequence[tuple[str, str]] = (),
        globals: dict[str, Any] | None = None,
    ) -> None:
        loaders: list[BaseLoader] = [PackageLoader("boxcert.web", "templates")]
        if loader is not None:
            loaders.insert(0, loader)
        self.env = Environment(
            loader=ChoiceLoader(loaders),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals.update(globals or {})
        self.site = site
        self.nav = list(nav)
        self._css = _stylesheet()
        version = hashlib.sha256(self._css).hexdigest()[:12]
        self.stylesheet_url = f"{STYLESHEET_PATH}?v={version}"

    def render(
        self,
        conn: HTTPConnection,
        template: str,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        visit = visit_of(conn)
        token = visit.csrf_token if visit is not None else ""

        def csrf_field() -> Markup:
            return Markup('<input type="hidden" name="{}" value="{}">').format(
                CSRF_FIELD, escape(token)
            )

        html = self.env.get_template(template).render(
            site=self.site,
            nav=self.nav,
            visit=visit,
            csrf_token=token,
            csrf_field=csrf_field,
            stylesheet=self.stylesheet_url,
            path=conn.url.path,
            **context,
        )
        return HTMLResponse(html, status_code=status, headers=headers)

    def message(
        self, conn: HTTPConnection, status: int, title: str, text: str, **context: Any
    ) -> HTMLResponse:
        """A page that only says something: errors, refusals, confirmations."""
        return self.render(conn, "message.html", status=status, title=title, text=text, **context)

    async def refusal(self, scope: Scope, status: int, text: str) -> Response:
        """For :class:`~boxcert.web.sessions.Sessions` ``refuse=``: its answers as pages."""
        titles = {400: "Bad request", 403: "Not allowed", 413: "Too large"}
        return self.message(HTTPConnection(scope), status, titles.get(status, "Refused"), text)

    def stylesheet_route(self) -> Route:
        css = self._css

        async def stylesheet(_: Request) -> Response:
            # Versioned URL: the content behind one URL never changes, so it may be cached.
            return Response(
                css,
                media_type="text/css",
                headers={"Cache-Control": "public, max-age=31536000, immutable"},
            )

        return Route(STYLESHEET_PATH, stylesheet, methods=["GET"])
