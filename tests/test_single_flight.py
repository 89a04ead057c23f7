"""Concurrent requests for one holder lead to one issuance; the rest share its result."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import func, select

from boxcert.issuer.db import database_url, open_engine
from boxcert.issuer.models import Certificate
from tests.helpers import IssuerProcess


def test_concurrent_wildcard_requests_issue_once(
    issuer: IssuerProcess, eligible: tuple[str, str]
) -> None:
    body: dict[str, Any] = {"params": {"db_uuid": eligible[0], "enterprise_code": eligible[1]}}
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda _: issuer.post(body).json()["result"], range(20)))
    assert len({a["x509_pem"] for a in answers}) == 1
    engine = open_engine(database_url(issuer.data_dir, None))
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Certificate)) == 1
    engine.dispose()
