"""The help pages, served by the box itself: one per error code at ``/box/errors/<CODE>`` and
one per DNS finding at ``/box/diagnosis/<verdict>``.

The texts are the package's help pages (:mod:`boxcert.helpdocs`, which ``docs/errors`` and
``docs/diagnosis`` of the repository point to), rendered with markdown-it-py (CommonMark plus
tables, raw HTML off, so the pages cannot inject markup). Links between the pages (``ERR_….md``,
``<verdict>.md``, ``README.md``, ``../errors/…``) are pointed at the box's own routes; images
(screenshots in the repository's ``docs/images``) are not shipped with the box and are left
out. A diagnosis page is rendered with the box's zone in place of ``<zone>``.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

from boxcert.codes import BY_CODE, DNS_FINDINGS

INDEX = "README"
ERRORS = "errors"
DIAGNOSIS = "diagnosis"
SECTIONS = {ERRORS: tuple(BY_CODE), DIAGNOSIS: tuple(DNS_FINDINGS)}
_LINK = re.compile(r"(?:\.\./(errors|diagnosis)/)?([A-Za-z0-9_]+)\.md(#.*)?")


def page_url(name: str, section: str = ERRORS) -> str:
    base = f"/box/{section}/"
    return base if name == INDEX else base + name


def _relink(tokens: list[Token], section: str) -> None:
    for token in tokens:
        if token.children:
            _relink(token.children, section)
        if token.type == "link_open":
            href = str(token.attrGet("href") or "")
            match = _LINK.fullmatch(href)
            if match:
                target = match.group(1) or section
                if match.group(2) in (INDEX, *SECTIONS[target]):
                    token.attrSet("href", page_url(match.group(2), target) + (match.group(3) or ""))
        elif token.type == "image":  # a screenshot of the repository's docs: not shipped
            token.type, token.tag, token.children, token.content = "text", "", None, ""


def render(markdown: str, section: str = ERRORS) -> tuple[str, Markup]:
    """(title, HTML) of one page; the title is its first heading."""
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(markdown)
    _relink(tokens, section)
    title = next(
        (t.content for i, t in enumerate(tokens[1:], 1) if tokens[i - 1].type == "heading_open"),
        "",
    )
    html = md.renderer.render(tokens, md.options, {})
    return title, Markup(html)  # noqa: S704 - markdown-it escapes text; raw HTML is off


def _source(section: str, name: str) -> str:
    folder = resources.files("boxcert.helpdocs").joinpath(section)
    return folder.joinpath(f"{name}.md").read_text(encoding="utf-8")


@cache
def pages() -> dict[str, tuple[str, Markup]]:
    """Every error-code page by name (the codes, and README for the index)."""
    return {name: render(_source(ERRORS, name)) for name in [*BY_CODE, INDEX]}


@cache
def diagnosis_page(name: str, zone: str) -> tuple[str, Markup] | None:
    """A DNS finding's page (or the index) with ``zone`` filled in; None for another name."""
    if name != INDEX and name not in DNS_FINDINGS:
        return None
    text = _source(DIAGNOSIS, name)
    if zone:
        text = text.replace("<zone>", zone)
    return render(text, DIAGNOSIS)
