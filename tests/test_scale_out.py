"""Several issuers on one PostgreSQL database: one ACME order per holder, whoever is asked.

A real PostgreSQL cluster, two issuer processes, our DNS server (reading TXT values from the
same database) and Pebble.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from boxcert import devstack, naming
from boxcert.issuer.db import open_engine
from boxcert.issuer.models import Certificate
from tests.helpers import IOT_LINE, cli
from tests.postgres import pg_bin, postgres_cluster

pytestmark = pytest.mark.skipif(
    not devstack.pebble_available() or pg_bin() is None, reason="needs pebble and PostgreSQL"
)


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_cluster() as url:
        yield url


def test_two_issuers_order_once(tmp_path: Path, pg_url: str) -> None:
    stack = devstack.start_acme_stack(tmp_path, naming.DEFAULT_ZONE, db_url=pg_url)
    second = None
    try:
        second, second_url = devstack.start_issuer(tmp_path / "issuer2", *stack.issuer_args)
        for args in (
            ("subscription", "add", "--code", "C-1", "--line", IOT_LINE),
            ("database", "add", "--uuid", "db-1", "--subscription", "C-1"),
        ):
            code, out = cli(
                "issuer", args[0], args[1], "--data", str(stack.data_dir), "--db", pg_url, *args[2:]
            )
            assert code == 0, out
        body = {"params": {"db_uuid": "db-1", "enterprise_code": "C-1"}}
        urls = [stack.issuer_url, second_url]

        def ask(i: int) -> str:
            with httpx.Client(timeout=120) as client:
                answer = client.post(urls[i % 2] + "/iot/x509", json=body).json()
            return str(answer["result"]["x509_pem"])

        with ThreadPoolExecutor(max_workers=40) as pool:
            answers = list(pool.map(ask, range(40)))
        assert len(set(answers)) == 1
        engine = open_engine(pg_url)
        with engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(Certificate)) == 1
        engine.dispose()
        assert stack.pebble.process.log().count("Added order") == 1
    finally:
        if second is not None:
            second.stop()
        stack.stop()
