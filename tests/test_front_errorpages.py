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


def test_every_dns_finding_renders_with_the_zone_and_local_links() -> None:
    from boxcert.codes import DNS_FINDINGS

    for key, finding in DNS_FINDINGS.items():
        found = errorpages.diagnosis_page(key, "iot.example.net")
        assert found is not None
        title, html = found
        assert title == f"DNS: {finding.title}"
        assert "&lt;zone&gt;" not in html and ".md" not in html
    index = errorpages.diagnosis_page("README", "iot.example.net")
    assert index is not None and 'href="/box/diagnosis/rebinding_suspected"' in index[1]
    _title, rebinding = errorpages.diagnosis_page("rebinding_suspected", "iot.example.net") or (
        "",
        "",
    )
    assert "rebind-domain-ok=/iot.example.net/" in rebinding
    assert "<img" not in rebinding and "box-dns-rebinding.png" not in rebinding  # not shipped
    assert errorpages.diagnosis_page("../errors/README", "z") is None


def test_links_across_sections_stay_on_the_box() -> None:
    _title, html = errorpages.render(
        "# T\n\n[a](../errors/ERR_IOT_HTTPS_CHECK_NO_SERVER.md) [b](ok.md) [c](nope.md)\n",
        errorpages.DIAGNOSIS,
    )
    assert 'href="/box/errors/ERR_IOT_HTTPS_CHECK_NO_SERVER"' in html
    assert 'href="/box/diagnosis/ok"' in html
    assert 'href="nope.md"' in html  # not a page of the box: left as written
