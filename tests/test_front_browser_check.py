"""The homepage opened by the box's IP address over plain HTTP, in Debian's chromium: its small
script tries the box's name from the browser itself. With a resolver rule that makes the name
fail (as a router's rebinding protection does for the phone that opens the page) the page
explains it; with the name resolving it goes to the secure address; without JavaScript the
box's own diagnosis still shows. The screenshot in docs/images is taken here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from boxcert import naming
from tests.browser import chromium, needs_chromium
from tests.front_support import RunningFront, front_with_dns
from tests.resolvers import needs_dnsmasq

IMAGES = Path(__file__).resolve().parents[1] / "docs" / "images"
ZONE = naming.DEFAULT_ZONE
GUARD = 60.0


@pytest.fixture
def rebinding_front(tmp_path: Path) -> Iterator[RunningFront]:
    """The router filters the box's name, for the box and for the devices alike."""
    with front_with_dns(tmp_path, "--stop-dns-rebind", row="The router hides") as f:
        yield f


def test_the_script_comes_with_a_nonce_and_talks_only_to_the_box(
    rebinding_front: RunningFront,
) -> None:
    f = rebinding_front
    with httpx.Client(timeout=30) as client:
        plain = client.get(f.http_url("/"))  # trusted certificate, opened by IP: no redirect
        assert plain.status_code == 200 and 'id="browser-check"' in plain.text
        csp = plain.headers["content-security-policy"]
        assert "'unsafe-inline'" not in csp and "script-src 'nonce-" in csp
        https_origin = f"https://{f.box.host}:{f.ports.https_port}"
        http_origin = f"http://{f.box.host}:{f.ports.http_port}"
        assert f"connect-src {https_origin} {http_origin}" in csp
        nonce = csp.split("'nonce-")[1].split("'")[0]
        assert f'nonce="{nonce}"' in plain.text
        assert nonce not in client.get(f.http_url("/")).headers["content-security-policy"]
        script = client.get(f.http_url("/box/static/dnscheck.js"))
        assert script.status_code == 200 and "fetch(" in script.text
        assert client.get(f.http_url("/box/ping")).status_code == 204
        # By name the plain listener still sends everyone to HTTPS, and no other page of
        # the box carries a script.
        moved = client.get(f.http_url("/"), headers={"host": f"{f.box.host}:{f.ports.http_port}"})
        assert moved.status_code == 307
        assert client.get(f.http_url("/box/errors/")).status_code == 307
    with f.client() as client:
        secure = client.get(f.url("/"))
        assert "script-src" not in secure.headers["content-security-policy"]
        assert "dnscheck.js" not in secure.text


@needs_chromium
@needs_dnsmasq
def test_a_device_that_cannot_resolve_the_name_is_told_why(
    rebinding_front: RunningFront,
) -> None:
    f = rebinding_front
    with chromium(trust=[f.root], resolve={f.box.host: "~NOTFOUND"}) as browser:
        page: Any = browser.page()
        refused: list[str] = []
        page.on("console", lambda message: refused.append(message.text))
        response = page.goto(f.http_url("/"), timeout=30000)
        assert response is not None and response.status == 200
        page.wait_for_selector("#browser-problem", state="visible", timeout=30000)
        text = page.inner_text("#browser-problem")
        assert "cannot find the box by its name" in text and f.box.host in text
        assert "The box finds the same on this network" in text  # explained once, above
        assert page.inner_text("#dns-state") == "The router hides the box's name"
        assert f"rebind-domain-ok=/{ZONE}/" in page.inner_text("#dns-remedy")
        assert page.url == f.http_url("/")  # it stayed: the name does not work here
        IMAGES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(IMAGES / "box-dns-rebinding.png"), full_page=True)
        page.close()
    # The script and its probes pass the page's policy (chromium's own favicon look-up
    # does not, as on every page of the box: img-src 'self').
    blocked = [m for m in refused if "Content Security Policy" in m and "favicon" not in m]
    assert not blocked, blocked


@needs_chromium
@needs_dnsmasq
def test_only_the_device_cannot_resolve_the_name(tmp_path: Path) -> None:
    """The box's resolver lets the zone through, the phone's does not (another DNS server, a
    VPN): only the browser can tell, and the page explains it in full."""
    allowed = f"--rebind-domain-ok=/{ZONE}/"
    found = "Name found on this network"
    with (
        front_with_dns(tmp_path, "--stop-dns-rebind", allowed, row=found) as f,
        chromium(trust=[f.root], resolve={f.box.host: "~NOTFOUND"}) as browser,
    ):
        page: Any = browser.page()
        page.goto(f.http_url("/"), timeout=30000)
        page.wait_for_selector("#browser-problem", state="visible", timeout=30000)
        text = page.inner_text("#browser-problem")
        assert "The likely cause: the router hides the box's name." in text
        assert f"rebind-domain-ok=/{ZONE}/" in text
        assert page.inner_text("#dns-state") == "Name found on this network"
        page.close()


@needs_chromium
@needs_dnsmasq
def test_a_device_that_resolves_the_name_goes_to_the_secure_address(
    rebinding_front: RunningFront,
) -> None:
    f = rebinding_front
    with chromium(trust=[f.root], resolve={f.box.host: "127.0.0.1"}) as browser:
        page: Any = browser.page()
        page.goto(f.http_url("/"), timeout=30000)
        page.wait_for_url(f.name_url(), timeout=30000)
        assert page.inner_text("#verdict") == "OK"
        page.close()


@needs_chromium
@needs_dnsmasq
def test_without_javascript_the_boxs_own_diagnosis_shows(
    rebinding_front: RunningFront,
) -> None:
    f = rebinding_front
    with chromium(trust=[f.root], resolve={f.box.host: "~NOTFOUND"}, javascript=False) as off:
        visit = off.visit(f.http_url("/"), wait_for="#dns-state")
    assert visit.status == 200 and "The router hides the box's name" in visit.text
    assert "cannot find the box by its name" not in visit.text  # the script's part stays hidden
