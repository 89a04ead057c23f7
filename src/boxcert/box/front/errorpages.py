"""The error-code pages, served by the box itself at ``/box/errors/<CODE>``.

The texts are the package's help pages (:mod:`boxcert.helpdocs`, which ``docs/errors`` of the
repository points to), rendered once at start with markdown-it-py (CommonMark plus tables,
raw HTML off, so the pages cannot inject markup). Links between the pages
(``ERR_….md``, ``README.md``) are pointed at the box's own routes.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

from boxcert.codes import BY_CODE

INDEX = "README"
_PAGE_NAME = re.compile(r"(ERR_[A-Z0-9_]+|README)\.md(#.*)?")


def page_url(name: str) -> str:
    return "/box/errors/" if name == INDEX else f"/box/errors/{name}"


def _relink(tokens: list[Token]) -> None:
    for token in tokens:
        if token.children:
            _relink(token.children)
        if token.type == "link_open":
            href = str(token.attrGet("href") or "")
            match = _PAGE_NAME.fullmatch(href)
            if match:
                token.attrSet("href", page_url(match.group(1)) + (match.group(2) or ""))


def render(markdown: str) -> tuple[str, Markup]:
    """(title, HTML) of one page; the title is its first heading."""
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(markdown)
    _relink(tokens)
    title = next(
        (t.content for i, t in enumerate(tokens[1:], 1) if tokens[i - 1].type == "heading_open"),
        "",
    )
    html = md.renderer.render(tokens, md.options, {})
    return title, Markup(html)  # noqa: S704 - markdown-it escapes text; raw HTML is off


@cache
def pages() -> dict[str, tuple[str, Markup]]:
    """Every page by name (the codes, and README for the index)."""
    folder = resources.files("boxcert.helpdocs").joinpath("errors")
    found: dict[str, tuple[str, Markup]] = {}
    for name in [*BY_CODE, INDEX]:
        found[name] = render(folder.joinpath(f"{name}.md").read_text(encoding="utf-8"))
    return found
