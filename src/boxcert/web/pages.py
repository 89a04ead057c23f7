"""Server-rendered pages: one Jinja2 environment per site, our base template, our stylesheet.

A site gives its own templates (a Jinja2 loader); they extend ``base.html`` from this package
and fill its blocks: ``title``, ``content`` and optionally ``head``. A site may ship its own
``base.html`` extending ``layout.html`` to fill the blocks ``nav`` and ``footer``: the shared
``login.html`` and ``message.html`` then show them too. Every template sees:

- ``site`` — the site's name, shown in the header; ``nav`` — (url, label) pairs shown to a
  logged-in visitor (to everyone when the site's globals define ``nav_public``); ``visit`` —
  the :class:`~boxcert.web.sessions.Visit` (or None);
- ``csrf_token`` — to put in every form as ``<input type="hidden" name="csrf_token" …>``
  (``{{ csrf_field() }}`` writes that input);
- ``stylesheet`` — the URL of the stylesheet, versioned by its content;
- ``login_path``, ``logout_path`` — where the login form and the logout button post.

A site that shares its paths with another application (the box's front passes every path it
does not own to the box's applications) gives ``mount="/box"``: its login, logout and
stylesheet then live under that prefix. ``extra_css`` is appended to the shared stylesheet
(one file, one request, one version), for a site's own colours and components. The base
template's blocks ``nav`` and ``footer`` let a site show its own navigation.

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


def shared_stylesheet() -> bytes:
    return resources.files("boxcert.web").joinpath("static/boxcert.css").read_bytes()


class Pages:
    def __init__(
        self,
        site: str,
        loader: BaseLoader | None = None,
        *,
        nav: Sequence[tuple[str, str]] = (),
        globals: dict[str, Any] | None = None,
        mount: str = "",
        extra_css: bytes = b"",
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
        self.mount = mount.rstrip("/")
        self.login_path = f"{self.mount}/login"
        self.logout_path = f"{self.mount}/logout"
        self.stylesheet_path = f"{self.mount}{STYLESHEET_PATH}"
        self.css = shared_stylesheet() + (b"\n" + extra_css if extra_css else b"")
        version = hashlib.sha256(self.css).hexdigest()[:12]
        self.stylesheet_url = f"{self.stylesheet_path}?v={version}"

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
            login_path=self.login_path,
            logout_path=self.logout_path,
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
        css = self.css

        async def stylesheet(_: Request) -> Response:
            # Versioned URL: the content behind one URL never changes, so it may be cached.
            return Response(
                css,
                media_type="text/css",
                headers={"Cache-Control": "public, max-age=31536000, immutable"},
            )

        return Route(self.stylesheet_path, stylesheet, methods=["GET"])
