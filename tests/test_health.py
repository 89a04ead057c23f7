"""``GET /healthz`` (issuer/health.py): 200 while the database and the CA answer; 503 naming the
failing part when the PostgreSQL server is gone, the local CA's files are unreadable or the
ACME CA's directory does not answer — and never the vendor's internal addresses."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from boxcert import naming
from boxcert.issuer.app import create_app
from boxcert.issuer.ca.acme import AcmeCA, AcmeOptions
from boxcert.issuer.ca.dns01 import SqlTxtStore
from boxcert.issuer.health import DATABASE_WAIT
from tests.issuer_support import Issuer, make_issuer, sessions_for, sqlite_url


async def _health(issuer: Issuer) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_app(issuer.service))
    async with httpx.AsyncClient(transport=transport, base_url="http://issuer.test") as client:
        return await client.get("/healthz")


async def test_healthy(tmp_path: Path) -> None:
    answer = await _health(make_issuer(tmp_path))
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"
    assert answer.json()["checks"] == {"database": "ok", "ca": "ok"}
    assert answer.headers["cache-control"] == "no-store"


@pytest.mark.slow
async def test_database_down_is_503(tmp_path: Path) -> None:
    from tests.postgres import pg_bin, running_postgres

    if pg_bin() is None:
        pytest.skip("PostgreSQL server binaries are not installed")
    with running_postgres() as cluster:
        issuer = make_issuer(tmp_path, url=cluster.url)
        assert (await _health(issuer)).status_code == 200
        cluster.stop()
        answer = await _health(issuer)
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "failing" and body["failing"] == ["database"]
    assert body["checks"]["ca"] == "ok"
    assert "127.0.0.1" not in answer.text and "postgres" not in answer.text
    assert DATABASE_WAIT < 10  # a gone server answers the probe quickly, not after TCP retries


async def test_unreadable_local_ca_is_503(tmp_path: Path) -> None:
    issuer = make_issuer(tmp_path)
    shutil.rmtree(tmp_path / "ca")
    answer = await _health(issuer)
    assert answer.status_code == 503
    assert answer.json()["failing"] == ["ca"]
    assert str(tmp_path) not in answer.text


async def test_unreachable_acme_ca_is_503_without_its_address(tmp_path: Path) -> None:
    from boxcert.devstack import free_port

    directory = f"https://127.0.0.1:{free_port()}/dir"  # nothing listens there
    sessions = sessions_for(sqlite_url(tmp_path))
    acme = AcmeCA(tmp_path / "acme", AcmeOptions(directory_url=directory), SqlTxtStore(sessions))
    answer = await _health(make_issuer(tmp_path, ca=acme))
    assert answer.status_code == 503
    assert answer.json()["failing"] == ["ca"]
    assert answer.json()["checks"]["ca"] == "the ACME CA does not answer"
    assert directory not in answer.text and "127.0.0.1" not in answer.text


def test_zone_and_ca_named(tmp_path: Path) -> None:
    import asyncio

    body = asyncio.run(_health(make_issuer(tmp_path))).json()
    assert body["zone"] == naming.DEFAULT_ZONE and body["ca"] == "local"
