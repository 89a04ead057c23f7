"""The browser harness itself: a trusted root gives a padlock, an untrusted one an error."""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.browser import chromium, needs_chromium

NAME = "192-168-1-5.aaaaaaaaaaaaaaaa.iot.boxcert.test"


@pytest.fixture
def tls_site() -> Iterator[tuple[trustme.CA, int]]:
    ca = trustme.CA()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(NAME).configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield ca, server.server_address[1]
    server.shutdown()
    server.server_close()


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html><body><p id=ok>hello from the box</p></body></html>"
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@needs_chromium
def test_trusted_root_opens_and_untrusted_fails(
    tls_site: tuple[trustme.CA, int], tmp_path: Path
) -> None:
    ca, port = tls_site
    root = tmp_path / "root.pem"
    ca.cert_pem.write_to_path(str(root))
    url = f"https://{NAME}:{port}/"
    with chromium(trust=[root], resolve={NAME: "127.0.0.1"}) as browser:
        visit = browser.visit(url)
    assert visit.error is None and visit.status == 200
    assert "hello from the box" in visit.text
    with chromium(trust=[], resolve={NAME: "127.0.0.1"}) as browser:
        visit = browser.visit(url)
    assert visit.error is not None and "ERR_CERT_AUTHORITY_INVALID" in visit.error


@needs_chromium
def test_script_off_is_off_and_a_phone_is_narrow() -> None:
    page_with_script = (
        "data:text/html,<meta name=viewport content='width=device-width'>"
        "<title>before</title><script>document.title='ran'</script>"
    )
    with chromium(javascript=False, width=390, height=844, phone=True) as browser:
        page = browser.page()
        page.goto(page_with_script)
        assert page.title() == "before"
        assert page.evaluate("window.innerWidth") == 390
    with chromium() as browser:
        page = browser.page()
        page.goto(page_with_script)
        assert page.title() == "ran"
