"""Docs stay true to the code: one page per error code, named and titled after it."""

from __future__ import annotations

from pathlib import Path

import pytest

from boxcert.codes import ALL_CODES, lookup

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("code", ALL_CODES, ids=lambda c: c.code)
def test_every_code_has_a_page(code: object) -> None:
    page = ROOT / code.doc_path  # type: ignore[attr-defined]
    assert page.exists(), f"missing {page}"
    assert page.read_text().splitlines()[0] == f"# {code.code}"  # type: ignore[attr-defined]


def test_lookup_accepts_suffix() -> None:
    entry = lookup("ERR_IOT_HTTPS_LOAD_REQUEST_STATUS 404")
    assert entry is not None and entry.code == "ERR_IOT_HTTPS_LOAD_REQUEST_STATUS"
    assert lookup("ERR_SOMETHING_ELSE") is None


def test_architecture_page_exists() -> None:
    assert (ROOT / "docs" / "architecture.md").exists()


def test_every_dns_finding_has_a_page_and_a_verdict() -> None:
    from boxcert.box.diagnosis.dns_verdict import DnsVerdict
    from boxcert.codes import DNS_FINDINGS

    assert set(DNS_FINDINGS) == {v.value for v in DnsVerdict}
    index = (ROOT / "docs" / "diagnosis" / "README.md").read_text()
    for key, finding in DNS_FINDINGS.items():
        page = ROOT / finding.doc_path
        assert page.exists(), f"missing {page}"
        assert page.read_text().splitlines()[0] == f"# DNS: {finding.title}"
        assert f"({key}.md)" in index


def test_error_index_lists_every_code() -> None:
    index = (ROOT / "docs" / "errors" / "README.md").read_text()
    for code in ALL_CODES:
        assert f"[`{code.code}`]({code.code}.md)" in index


def test_images_of_the_help_pages_exist() -> None:
    """Help pages point at screenshots by paths relative to where they really live."""
    import re

    for page in (ROOT / "src" / "boxcert" / "helpdocs").glob("*/*.md"):
        for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page.read_text()):
            assert (page.parent / target).resolve().exists(), (page, target)
    rebinding = (ROOT / "docs" / "diagnosis" / "rebinding_suspected.md").read_text()
    assert "images/box-dns-rebinding.png" in rebinding
