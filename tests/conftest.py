from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import IssuerProcess, start_issuer


@pytest.fixture
def issuer(tmp_path: Path) -> Iterator[IssuerProcess]:
    """A real issuer process (local CA, SQLite) on a free loopback port."""
    proc = start_issuer(tmp_path / "issuer")
    yield proc
    proc.stop()


@pytest.fixture
def eligible(issuer: IssuerProcess) -> tuple[str, str]:
    """A production database with an in-progress IoT subscription: (uuid, contract code)."""
    db_uuid, code = str(uuid.uuid4()), f"C-{uuid.uuid4().hex[:10]}"
    issuer.add_eligible(db_uuid, code)
    return db_uuid, code
