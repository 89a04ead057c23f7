"""The error-code pages the box serves: the package's copy is the docs' text, links stay on
the box, raw HTML in the Markdown is not passed through."""

from __future__ import annotations

from pathlib import Path

from boxcert.box.front import errorpages
from boxcert.codes import ALL_CODES

ROOT = Path(__file__).resolve().parents[1]
PACKAGED = ROOT / "src" / "boxcert" / "helpdocs"


def test_the_docs_are_the_packaged_pages() -> None:
    """One text: docs/errors and docs/diagnosis are links to the pages the box serves."""
    for name in ("errors", "diagnosis"):
        assert (ROOT / "docs" / name).resolve() == (PACKAGED / name).resolve()


def test_every_code_renders_with_its_title_and_local_links() -> None:
    pages = errorpages.pages()
    assert set(pages) == {c.code for c in ALL_CODES} | {"README"}
    for code in ALL_CODES:
        title, html = pages[code.code]
        assert title == code.code and f"<h1>{code.code}</h1>" in html
        assert '.md"' not in html and ".md#" not in html
    assert 'href="/box/errors/ERR_IOT_HTTPS_CHECK_NO_SERVER"' in pages["README"][1]


def test_raw_html_is_escaped() -> None:
    title, html = errorpages.render("# T\n\n<script>alert(1)</script> [x](README.md#top)\n")
    assert title == "T" and "<script>" not in html and "&lt;script&gt;" in html
    assert 'href="/box/errors/#top"' in html
