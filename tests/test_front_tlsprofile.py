"""The front's TLS as clients see it: TLS 1.2+, the intermediate ciphers, ALPN, and the chain
checked by OpenSSL's and curl's own verifiers."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import warnings
from pathlib import Path

import pytest

from boxcert.box.front.tlsprofile import INTERMEDIATE_TLS12_CIPHERS, server_context
from tests.front_support import front


def _handshake(port: int, context: ssl.SSLContext) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", port), timeout=30)
    return context.wrap_socket(raw)


def _client(**settings: object) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    for name, value in settings.items():
        setattr(context, name, value)
    return context


def test_server_context_settings() -> None:
    context = server_context()
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    offered = {c["name"] for c in context.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert offered == set(INTERMEDIATE_TLS12_CIPHERS)


def test_tls12_and_13_alpn_and_refusals(tmp_path: Path) -> None:
    with front(tmp_path) as f:
        port = f.ports.https_port
        tls13 = _client()
        tls13.set_alpn_protocols(["h2", "http/1.1"])
        with _handshake(port, tls13) as s:
            assert s.version() == "TLSv1.3" and s.selected_alpn_protocol() == "http/1.1"
        tls12 = _client(maximum_version=ssl.TLSVersion.TLSv1_2)
        with _handshake(port, tls12) as s:
            assert s.version() == "TLSv1.2"
            assert s.cipher()[0] in INTERMEDIATE_TLS12_CIPHERS
        weak = _client(maximum_version=ssl.TLSVersion.TLSv1_2)
        weak.set_ciphers("ECDHE-ECDSA-AES128-SHA:AES128-SHA:AES256-GCM-SHA384")  # not listed
        with pytest.raises(ssl.SSLError):
            _handshake(port, weak).close()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.1 is the point here
            old = _client(
                minimum_version=ssl.TLSVersion.TLSv1, maximum_version=ssl.TLSVersion.TLSv1_1
            )
        old.set_ciphers("ALL:@SECLEVEL=0")
        with pytest.raises(ssl.SSLError) as refused:
            _handshake(port, old).close()
        assert "NO_PROTOCOLS_AVAILABLE" not in str(refused.value)  # the server said no


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
def test_openssl_verifies_the_served_chain_for_the_box_name(tmp_path: Path) -> None:
    with front(tmp_path) as f:

        def s_client(name: str, root: Path) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [
                    "openssl",
                    "s_client",
                    "-connect",
                    f"127.0.0.1:{f.ports.https_port}",
                    "-servername",
                    f.box.host,
                    "-verify_hostname",
                    name,
                    "-CAfile",
                    str(root),
                    "-verify_return_error",
                    "-brief",
                ],
                input="",
                capture_output=True,
                text=True,
                timeout=60,
            )

        good = s_client(f.box.host, f.root)
        assert good.returncode == 0, good.stderr
        assert "Verification: OK" in good.stderr
        wrong_name = s_client("192-168-1-5.otherlabel.example", f.root)
        assert wrong_name.returncode != 0
        other_root = tmp_path / "other.pem"
        other_root.write_text(ssl.get_server_certificate(("127.0.0.1", f.ports.https_port)))
        assert s_client(f.box.host, other_root).returncode != 0  # the leaf is not a root


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_curl_with_the_root_opens_the_homepage_by_name(tmp_path: Path) -> None:
    with front(tmp_path) as f:

        def curl(*extra: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [
                    "curl",
                    "-sS",
                    "--resolve",
                    f"{f.box.host}:{f.ports.https_port}:127.0.0.1",
                    *extra,
                    f.name_url("/status.json"),
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )

        ok = curl("--cacert", str(f.root))
        assert ok.returncode == 0, ok.stderr
        assert '"status":"ok"' in ok.stdout.replace(" ", "")
        refused = curl()  # the system store does not know the test root
        assert refused.returncode == 60, refused.stderr
