"""The homepage in Debian's chromium, as a shop owner's browser sees it: a padlock by name with
the issuing root trusted, a certificate error without it, and an error state the real agent
got from a real issuer. The screenshots in docs/images are taken here."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from boxcert import codes
from boxcert.box.status import CertState
from tests.browser import chromium, needs_chromium
from tests.front_support import front_with_dns
from tests.helpers import IOT_LINE, IssuerProcess
from tests.resolvers import needs_dnsmasq

NAME_FOUND = "Name found on this network"  # the DNS row, once looked up (dnsmasq, no filter)

IMAGES = Path(__file__).resolve().parents[1] / "docs" / "images"


@needs_chromium
@needs_dnsmasq
def test_trusted_root_shows_ok_by_name_and_untrusted_fails(tmp_path: Path) -> None:
    with front_with_dns(tmp_path, row=NAME_FOUND) as f:
        resolve = {f.box.host: "127.0.0.1"}
        with chromium(trust=[f.root], resolve=resolve) as browser:
            page: Any = browser.page()
            response = page.goto(f.name_url(), timeout=30000)
            assert response is not None and response.status == 200
            assert page.inner_text("#verdict") == "OK"
            assert page.get_attribute("#box-url", "href") == f.box_url
            page.click("#cert-details summary")  # native <details>: no script involved
            assert "SHA-256 fingerprint" in page.inner_text("#cert-details")
            IMAGES.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(IMAGES / "box-homepage-ok.png"), full_page=True)
            page.close()
        with chromium(trust=[], resolve=resolve) as browser:
            visit = browser.visit(f.name_url())
        assert visit.error is not None and "ERR_CERT_AUTHORITY_INVALID" in visit.error


@needs_chromium
@needs_dnsmasq
def test_an_error_state_with_its_remedy_and_a_phone_sized_screen(
    tmp_path: Path, issuer: IssuerProcess
) -> None:
    # The box's database is known to the issuer, its subscription closed: the renewal is
    # refused while the certificate in use still serves.
    db_uuid, code = str(uuid.uuid4()), f"C-{uuid.uuid4().hex[:10]}"
    issuer.admin("subscription", "add", "--code", code, "--state", "closed", "--line", IOT_LINE)
    issuer.admin("database", "add", "--uuid", db_uuid, "--subscription", code)
    settings = {"issuer": issuer.url, "db_uuid": db_uuid, "enterprise_code": code}
    with front_with_dns(tmp_path, row=NAME_FOUND, settings=settings) as f:
        refused = f.agent.ensure(force=True)
        assert refused.state is CertState.ERROR and refused.error is codes.LOAD_REQUEST_NO_RESULT
        resolve = {f.box.host: "127.0.0.1"}
        with chromium(trust=[f.root], resolve=resolve) as browser:
            visit = browser.visit(
                f.name_url(), screenshot=IMAGES / "box-homepage-error.png", wait_for="#remedy"
            )
            assert visit.error is None and visit.status == 200
            assert codes.LOAD_REQUEST_NO_RESULT.code in visit.text
            assert "Subscription not in progress" in visit.text
            assert "stays valid until" in visit.text
            help_page = browser.visit(
                f.name_url(f"/box/errors/{codes.LOAD_REQUEST_NO_RESULT.code}")
            )
            assert help_page.status == 200 and "What it means" in help_page.text
        with chromium(trust=[f.root], resolve=resolve, width=390, height=844) as phone:
            page: Any = phone.page()
            page.goto(f.name_url(), timeout=30000)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, "the page must not scroll sideways on a phone"
            page.goto(f.name_url(f"/box/errors/{codes.LOAD_REQUEST_STATUS.code}"), timeout=30000)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, "nor the error pages"
            page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
            page.close()
