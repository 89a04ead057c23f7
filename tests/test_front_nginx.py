"""The nginx front against Debian's nginx, started by the test with a private configuration:
the site file, a good graceful reload, and a refused configuration rolled back while nginx
keeps serving the old pair."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from boxcert import devstack, pki
from boxcert.box.agent import BoxAgent
from boxcert.box.front.backend import AgentBackend
from boxcert.box.front.nginx import NginxCommand, NginxError, NginxFront, NginxSite, render_site
from boxcert.box.front.server import FrontError, FrontOptions, NginxOptions, running
from boxcert.box.pair import install_pair
from tests.front_support import BoxIdentity, LocalTestCA, box_home, served_leaf, trusting

needs_nginx = pytest.mark.skipif(shutil.which("nginx") is None, reason="needs Debian's nginx")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PrivateNginx:
    prefix: Path
    command: NginxCommand
    process: subprocess.Popen[bytes]

    @property
    def sites(self) -> Path:
        return self.prefix / "sites"


@pytest.fixture
def private_nginx(tmp_path: Path) -> Iterator[PrivateNginx]:
    prefix = tmp_path / "nginx"
    (prefix / "sites").mkdir(parents=True)
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"worker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\n"
        "events { worker_connections 256; }\n"
        "http {\n  access_log off;\n"
        + "".join(
            f"  {kind}_temp_path {prefix}/{kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        + f"  include {prefix}/sites/*.conf;\n}}\n"
    )
    command = NginxCommand(conf=conf, prefix=prefix, error_log=prefix / "error.log")
    process = subprocess.Popen(command.argv("-g", "daemon off;"), stderr=subprocess.PIPE)
    for _ in range(500):
        if (prefix / "nginx.pid").exists():
            break
        time.sleep(0.02)
    yield PrivateNginx(prefix, command, process)
    process.terminate()
    process.wait(30)


def test_site_file_text() -> None:
    site = NginxSite(
        Path("/s.conf"),
        Path("/pair"),
        "http://127.0.0.1:8100",
        upstream="http://127.0.0.1:8069",
        https_port=443,
        http_port=80,
    )
    text = render_site(site)
    for line in (
        "listen 443 ssl;",
        "listen [::]:443 ssl;",
        "ssl_certificate /pair/cert.pem;",
        "ssl_certificate_key /pair/key.pem;",
        "ssl_protocols TLSv1.2 TLSv1.3;",
        "location = / { proxy_pass http://127.0.0.1:8100; }",
        "location /box/ { proxy_pass http://127.0.0.1:8100; }",
        "proxy_pass http://127.0.0.1:8069;",
        "listen 80;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
    ):
        assert line in text, line
    only = render_site(
        NginxSite(
            Path("/s"),
            Path("/p"),
            "http://127.0.0.1:1",
            http_port=None,
            listen=("192.168.1.5", "fd00::5"),
        )
    )
    assert "listen 192.168.1.5:443 ssl;" in only and "listen [fd00::5]:443 ssl;" in only
    assert "listen 80" not in only
    with pytest.raises(ValueError, match="--upstream"):
        render_site(NginxSite(Path("/s"), Path("/p"), "http://127.0.0.1:1", upstream="x"))


@needs_nginx
def test_good_reload_then_a_refused_configuration_rolls_back(
    tmp_path: Path, private_nginx: PrivateNginx
) -> None:
    ca, box = LocalTestCA.create("nginx test root"), BoxIdentity.make()
    port = free_port()
    site = NginxSite(
        private_nginx.sites / "boxcert.conf",
        tmp_path / "pair",
        "http://127.0.0.1:9",
        https_port=port,
        http_port=None,
        listen=("127.0.0.1",),
    )
    nginx = NginxFront(site, private_nginx.command)
    key_pem, first_chain, first = box.issue(ca)
    nginx.apply(key_pem, first_chain)
    assert _wait_for_leaf(port, first)
    assert (site.key_file.stat().st_mode & 0o777) == 0o600

    _, second_chain, second = box.issue(ca)
    before = _workers(private_nginx)
    nginx.apply(key_pem, second_chain)  # a graceful reload
    assert _wait_for_leaf(port, second, private_nginx, before)

    site_before = site.site_file.read_text()
    other_key = pki.private_key_pem(pki.make_ec_key())
    _, third_chain, _ = box.issue(ca)
    with pytest.raises(NginxError, match="nginx -t failed"):
        nginx.apply(other_key, third_chain)  # key and certificate do not match
    assert site.key_file.read_bytes() == key_pem and site.cert_file.read_bytes() == second_chain

    broken = NginxFront(
        NginxSite(
            site.site_file,
            site.pair_dir,
            site.agent_url,
            upstream="http://no-such-host.invalid:8069",
            https_port=port,
            http_port=None,
            listen=("127.0.0.1",),
        ),
        private_nginx.command,
    )
    with pytest.raises(NginxError, match="host not found"):
        broken.apply(key_pem, third_chain)
    assert site.site_file.read_text() == site_before
    assert site.cert_file.read_bytes() == second_chain
    time.sleep(0.3)
    assert served_leaf(port) == second and private_nginx.process.poll() is None


def _workers(nginx: PrivateNginx) -> set[int]:
    """The pids of the nginx master's children (its workers), read from /proc."""
    master = int((nginx.prefix / "nginx.pid").read_text())
    children: set[int] = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == master:
            children.add(int(stat.parent.name))
    return children


def _wait_for_leaf(
    port: int,
    leaf: object,
    nginx: PrivateNginx | None = None,
    before: AbstractSet[int] = frozenset(),
) -> bool:
    """True once every worker that ran ``before`` the reload has gone and 10 new connections in
    a row get ``leaf``. Until an old worker has handled its QUIT it shares the listening socket
    with the new one and can still accept a connection with the old pair."""
    for _ in range(1500):
        if nginx is None or not _workers(nginx) & before:
            break
        time.sleep(0.02)
    else:
        return False
    in_a_row = 0
    for _ in range(1000):
        try:
            in_a_row = in_a_row + 1 if served_leaf(port) == leaf else 0
        except OSError:
            in_a_row = 0
        if in_a_row >= 10:
            return True
        if in_a_row == 0:
            time.sleep(0.02)
    return False


@needs_nginx
def test_the_box_behind_nginx(tmp_path: Path, private_nginx: PrivateNginx) -> None:
    ca, box = LocalTestCA.create("nginx test root"), BoxIdentity.make()
    root = ca.write(tmp_path / "root.pem")
    https_port, http_port = free_port(), free_port()
    paths = box_home(tmp_path / "box", https_port=https_port)
    agent = BoxAgent(paths)
    backend = AgentBackend(agent)
    options = FrontOptions(
        tmp_path / "front",
        https_port=https_port,
        http_port=http_port,
        listen="127.0.0.1",
        nginx=NginxOptions(
            private_nginx.sites / "boxcert.conf", tmp_path / "pair", private_nginx.command
        ),
    )
    with running(backend, options, announce_password=lambda _: None) as ports:
        assert ports.agent_port is not None
        placeholder = None
        for _ in range(500):
            try:
                placeholder = served_leaf(https_port)
                break
            except OSError:
                time.sleep(0.02)
        assert placeholder is not None and pki.is_self_signed(placeholder)
        with httpx.Client(verify=False, timeout=30) as client:
            plain = client.get(f"http://127.0.0.1:{http_port}/")
            assert plain.status_code == 200 and "without HTTPS" in plain.text
        pair = box.pair(ca)
        before = _workers(private_nginx)
        install_pair(paths, pair)  # as the agent installs: the pair, then its event
        agent.holder.installed(pair)
        agent.status()
        assert _wait_for_leaf(https_port, pair.leaf, private_nginx, before)
        with httpx.Client(verify=trusting(root, check_hostname=False), timeout=30) as client:
            page = client.get(f"https://127.0.0.1:{https_port}/")
            assert page.status_code == 200 and 'id="verdict">OK<' in page.text
            assert page.headers["strict-transport-security"] == "max-age=86400"
            moved = client.get(f"http://127.0.0.1:{http_port}/status.json")
            assert moved.status_code == 307
            assert moved.headers["location"] == f"https://{box.host}:{https_port}/status.json"


@needs_nginx
def test_nginx_refusing_at_start_is_one_clear_error(
    tmp_path: Path, private_nginx: PrivateNginx
) -> None:
    options = FrontOptions(
        tmp_path / "front",
        https_port=free_port(),
        http_port=None,
        listen="127.0.0.1",
        upstream="http://no-such-host.invalid:1",
        nginx=NginxOptions(
            private_nginx.sites / "boxcert.conf", tmp_path / "pair", private_nginx.command
        ),
    )
    with (
        pytest.raises(FrontError, match="nginx -t failed"),
        running(
            AgentBackend(BoxAgent(box_home(tmp_path / "box"))),
            options,
            announce_password=lambda _: None,
        ),
    ):
        pass
    assert not (private_nginx.sites / "boxcert.conf").exists()


@needs_nginx
def test_box_run_with_the_nginx_front(tmp_path: Path, private_nginx: PrivateNginx) -> None:
    https_port, http_port = free_port(), free_port()
    assert private_nginx.command.conf is not None
    box = devstack.start_box(
        tmp_path / "box", "--front", "nginx", "--https-port", str(https_port),
        "--http-port", str(http_port), "--listen", "127.0.0.1",
        "--nginx-site", str(private_nginx.sites / "boxcert.conf"),
        "--nginx-conf", str(private_nginx.command.conf),
    )  # fmt: skip
    try:
        assert box.https_port == https_port and box.password
        assert pki.is_self_signed(served_leaf(https_port))  # the placeholder, by nginx
        with httpx.Client(verify=False, timeout=30) as client:
            page = client.get(f"https://127.0.0.1:{https_port}/")
            assert page.status_code == 200 and "HTTPS certificate" in page.text
            assert client.get(f"http://127.0.0.1:{http_port}/").status_code == 200
    finally:
        box.process.stop()
    assert box.process.proc.returncode == 0
