"""box/client and box/deadline: one exchange with the issuer, over real loopback sockets.

The peer is :class:`tests.box_support.RawIssuer`, which answers scripted bytes. Deadlines are
short and injected; the assertions are about causes (the box gave up while the peer was still
sending), never about how long something took.
"""

from __future__ import annotations

import gzip
import json
import socket
import time
from collections.abc import Iterator

import pytest

from boxcert import codes
from boxcert.box.client import IssuerEndpoint, proxy_for, request_certificate
from boxcert.box.deadline import Deadline, DeadlinePassed
from boxcert.box.errors import LoadError
from boxcert.devstack import free_port
from boxcert.wire import CertificateRequest, RefusalCode
from tests.box_support import RawIssuer, Script, http_answer, raw_issuer

REQUEST = CertificateRequest("db-1", "secret-code", "box-1", csr_pem="CSR")
SHORT = 0.5  # seconds: the injected deadline of these tests
GUARD = 30  # seconds: only a hang guard


@pytest.fixture
def peer() -> Iterator[RawIssuer]:
    with raw_issuer() as server:
        yield server


def ask(peer: RawIssuer, deadline: float = SHORT) -> LoadError:
    with pytest.raises(LoadError) as caught:
        request_certificate(IssuerEndpoint(peer.url), REQUEST, deadline=deadline, environ={})
    return caught.value


def drip(prefix: bytes, byte: bytes = b"x", pause: float = 0.05, count: int = 600) -> Script:
    def script(conn: socket.socket, request: bytes) -> None:
        conn.sendall(prefix)
        for _ in range(count):  # 30 s of dripping, far past any deadline here
            time.sleep(pause)
            conn.sendall(byte)

    return script


def silence(conn: socket.socket, request: bytes) -> None:
    """Read the request, answer nothing; notice when the box hangs up."""
    conn.settimeout(GUARD)
    if conn.recv(1) == b"":
        raise ConnectionResetError("the box hung up")


@pytest.mark.parametrize(
    "script",
    [
        drip(b"HTTP/1.1 200 OK\r\nX-Slow: "),  # headers that never end
        drip(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n{"),  # a body that never ends
        drip(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"1\r\nx\r\n"),
        silence,  # an answer that never starts
    ],
    ids=["dripping headers", "dripping body", "endless chunks", "silence"],
)
def test_one_deadline_for_the_whole_exchange(peer: RawIssuer, script: Script) -> None:
    peer.script = script
    error = ask(peer)
    assert error.code is codes.LOAD_REQUEST_EXCEPTION
    assert error.detail == f"timed out: no complete answer within {SHORT:g} s"
    assert peer.client_gone.wait(GUARD)  # the box hung up on a peer still sending...
    assert not peer.finished.is_set()  # ...which had far from finished


def test_a_compressed_answer_is_not_decoded(peer: RawIssuer) -> None:
    grant = json.dumps({"result": {"x509_pem": "-----BEGIN CERTIFICATE-----"}}).encode()
    peer.script = lambda conn, request: conn.sendall(
        http_answer(
            gzip.compress(grant),
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
    )
    error = ask(peer)
    assert error.code is codes.LOAD_REQUEST_EXCEPTION
    assert error.detail == "the answer is not JSON (application/json)"
    assert b"accept-encoding: identity" in peer.requests[0].lower()


def test_a_compressed_bomb_stays_small(peer: RawIssuer) -> None:
    bomb = gzip.compress(b"\0" * (16 * 1024 * 1024))  # 16 MiB of zeros in about 16 KiB
    peer.script = lambda conn, request: conn.sendall(
        http_answer(bomb, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    )
    error = ask(peer, deadline=GUARD)
    assert error.detail == "the answer is not JSON (application/json)"


def test_an_answer_past_the_size_limit_is_cut_off(peer: RawIssuer) -> None:
    def script(conn: socket.socket, request: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3000000\r\n\r\n")
        for _ in range(3000):
            conn.sendall(b"A" * 1000)

    peer.script = script
    error = ask(peer, deadline=GUARD)
    assert error.detail == f"the answer is larger than {1024 * 1024} bytes"


def test_text_from_the_network_is_printable(peer: RawIssuer) -> None:
    refusal = {
        "result": {
            "error": {
                "code": "no_iot_box_line",
                "message": "\x1b[2J\x1b]0;owned\x07no line\r\nfake: line",
            }
        }
    }
    peer.script = lambda conn, request: conn.sendall(http_answer(json.dumps(refusal).encode()))
    error = ask(peer)
    assert error.code is codes.LOAD_REQUEST_NO_RESULT
    assert error.refusal is RefusalCode.NO_IOT_BOX_LINE
    assert error.detail.startswith("no_iot_box_line: ")
    assert all(ch.isprintable() for ch in error.detail)


def test_an_unknown_refusal_code_is_shown_as_sent_made_printable(peer: RawIssuer) -> None:
    refusal = {"result": {"error": {"code": "new\x1bcode", "message": "why"}}}
    peer.script = lambda conn, request: conn.sendall(http_answer(json.dumps(refusal).encode()))
    error = ask(peer)
    assert error.refusal is None
    assert error.detail == "new?code: why"


def test_an_error_body_is_printable(peer: RawIssuer) -> None:
    body = json.dumps({"error": {"code": "unavailable", "message": "down\x1b[31m red"}}).encode()
    peer.script = lambda conn, request: conn.sendall(http_answer(body, "503 Unavailable"))
    error = ask(peer)
    assert (error.code, error.suffix) == (codes.LOAD_REQUEST_STATUS, "503")
    assert error.detail == "the certificate service answered HTTP 503: down?[31m red"


def test_a_redirect_is_not_followed(peer: RawIssuer) -> None:
    peer.script = lambda conn, request: conn.sendall(
        http_answer(b"", "307 Temporary Redirect", {"Location": "http://127.0.0.1:1/elsewhere"})
    )
    error = ask(peer)
    assert (error.code, error.suffix) == (codes.LOAD_REQUEST_STATUS, "307")
    assert len(peer.requests) == 1


def test_the_request(peer: RawIssuer) -> None:
    peer.script = lambda conn, request: conn.sendall(http_answer(b'{"result": {}}'))
    ask(peer)
    head, _, body = peer.requests[0].partition(b"\r\n\r\n")
    assert head.startswith(b"POST /iot/x509 HTTP/1.1\r\n")
    assert json.loads(body) == REQUEST.to_json()


def test_an_unreachable_issuer() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(LoadError) as caught:
        request_certificate(IssuerEndpoint(url), REQUEST, deadline=GUARD, environ={})
    assert caught.value.detail.startswith("ConnectError: ")


def test_bad_issuer_settings() -> None:
    with pytest.raises(LoadError, match="issuer settings: plain http is only allowed"):
        request_certificate(IssuerEndpoint("http://certs.example.com"), REQUEST, environ={})
    with pytest.raises(LoadError, match=r"issuer settings: .*is a directory"):
        request_certificate(IssuerEndpoint("https://127.0.0.1:1", ca_file="/"), REQUEST, environ={})


def test_a_deadline_that_has_passed() -> None:
    now = [100.0]
    deadline = Deadline(5, monotonic=lambda: now[0])
    assert deadline.left() == 5
    assert deadline.left(2) == 2
    now[0] = 104.0
    assert deadline.left(2) == 1
    now[0] = 105.0
    with pytest.raises(DeadlinePassed, match="within 5 s"):
        deadline.left(2)


@pytest.mark.parametrize(
    ("url", "environ", "proxy"),
    [
        ("https://certs.example.com", {}, None),
        ("https://certs.example.com", {"https_proxy": "http://p:3128"}, "http://p:3128"),
        ("https://certs.example.com", {"HTTPS_PROXY": "http://p:3128"}, "http://p:3128"),
        ("https://certs.example.com", {"all_proxy": "http://p:1"}, "http://p:1"),
        ("http://127.0.0.1:8080", {"https_proxy": "http://p:3128"}, None),
        (
            "https://certs.example.com",
            {"https_proxy": "http://p:3128", "no_proxy": "example.com"},
            None,
        ),
        (
            "https://certs.example.com",
            {"https_proxy": "http://p:3128", "no_proxy": ".example.com"},
            None,
        ),
        ("https://certs.example.com", {"https_proxy": "http://p:3128", "NO_PROXY": "*"}, None),
        (
            "https://certs.example.com",
            {"https_proxy": "http://p:3128", "no_proxy": "other.com, ample.com"},
            "http://p:3128",
        ),
    ],
)
def test_proxy_from_the_environment(url: str, environ: dict[str, str], proxy: str | None) -> None:
    assert proxy_for(url, environ) == proxy
