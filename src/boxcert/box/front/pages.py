"""The front's Jinja2 templates, its stylesheet, and the forms its pages post.

Autoescaping is on; undefined variables are errors. ``code_spans`` turns the backtick spans of
the texts in ``boxcert.codes`` into ``<code>`` after escaping, so one table of texts reads well
on the console, in the docs and on the page. Forms are small and URL-encoded: read with a bound
(16 KiB, 50 fields) before anything looks at them.

Private stand-in for ``boxcert.web.pages`` and ``boxcert.web.forms``: swap on merge.
"""

from __future__ import annotations

import hashlib
import re
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse

STYLESHEET_PATH = "/box/static/front.css"
MAX_FORM_BYTES = 16 * 1024
MAX_FIELDS = 50
_BACKTICKS = re.compile(r"`([^`]+)`")


class FormError(ValueError):
    """The body is not a form we read; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def code_spans(text: str) -> Markup:
    escaped = str(escape(text))
    return Markup(_BACKTICKS.sub(r"<code>\1</code>", escaped))  # noqa: S704 - escaped above


def stylesheet() -> bytes:
    return resources.files("boxcert.box.front").joinpath("static/front.css").read_bytes()


class Pages:
    def __init__(self) -> None:
        self.env = Environment(
            loader=PackageLoader("boxcert.box.front", "templates"),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["code_spans"] = code_spans
        self.css = stylesheet()
        self.stylesheet_url = f"{STYLESHEET_PATH}?v={hashlib.sha256(self.css).hexdigest()[:12]}"

    def render(
        self,
        template: str,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        context.setdefault("title", "")
        context.setdefault("csrf_token", "")
        html = self.env.get_template(template).render(stylesheet=self.stylesheet_url, **context)
        return HTMLResponse(html, status_code=status, headers=headers)

    def message(
        self,
        status: int,
        title: str,
        text: str,
        *,
        back: str = "/",
        headers: dict[str, str] | None = None,
    ) -> HTMLResponse:
        return self.render(
            "message.html", status=status, headers=headers, title=title, text=text, back=back
        )


async def read_form(request: Request) -> dict[str, str]:
    """The URL-encoded form of a POST, first value of each field; FormError when unreadable."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise FormError(415, "This address takes a form.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormError(413, "The form is too large.")
    try:
        pairs = parse_qsl(
            bytes(body).decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS
        )
    except (UnicodeDecodeError, ValueError) as err:
        raise FormError(400, "The form cannot be read.") from err
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)
    return form
