"""Garbage at the hub's doors: random and mutated bodies to every box endpoint and to the login
form get a 4xx with a JSON or page answer, never a 500, and the hub keeps serving."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from boxcert.hub.app import create_app
from boxcert.hub.server import open_service
from boxcert.hub.service import HubConfig
from boxcert.wire.hub import CONNECT_PATH, LEGACY_REPORT_PATH, REPORT_PATH, BoxReport, BoxState
from tests.fuzzing import budget, report
from tests.hub_running import BoxClient
from tests.web_running import serve_app

pytestmark = pytest.mark.fuzz
ALLOWED = {200, 400, 401, 403, 404, 405, 413}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=20), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = [
    "token",
    "identifier",
    "name",
    "ip",
    "url",
    "certificate_end_date",
    "status",
    "error_code",
    "detail",
    "ssl_certificate_end_date",
]
params = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=8)
bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    params.map(lambda p: json.dumps({"params": p}).encode()),
    st.binary(max_size=200),
)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    service = open_service(tmp_path_factory.mktemp("hub"), None)
    service.configure(HubConfig("uuid-1", "C-code", "https://issuer.example", "iot.example"))
    with serve_app(create_app(service)) as url:
        service.set_public_url(url)
        box = BoxClient("box-1")
        answer = box.connect(service.new_token().encode())
        box.report(BoxReport("box-1", BoxState.OK))
        yield url, answer.box_secret.authorization()


def check(answer: httpx.Response) -> None:
    assert answer.status_code in ALLOWED, (answer.status_code, answer.text[:300])
    if answer.headers.get("content-type", "").startswith("application/json"):
        body: Any = answer.json()
        assert "error" in body or "result" in body


@pytest.mark.parametrize("path", [CONNECT_PATH, REPORT_PATH, LEGACY_REPORT_PATH, "/login"])
def test_garbage_gets_a_clear_refusal(
    hub: tuple[str, dict[str, str]], path: str, tmp_path: Path
) -> None:
    url, auth = hub
    seen: dict[int, int] = {}
    with httpx.Client(base_url=url, timeout=30) as client:

        @settings(
            max_examples=budget(60, 2000), deadline=None, suppress_health_check=list(HealthCheck)
        )
        @given(body=bodies, authorized=st.booleans())
        def one(body: bytes, authorized: bool) -> None:
            headers = {"content-type": "application/json", **(auth if authorized else {})}
            answer = client.post(path, content=body, headers=headers)
            seen[answer.status_code] = seen.get(answer.status_code, 0) + 1
            check(answer)

        one()
        assert client.get("/healthz").json()["status"] == "ok"
    report(f"hub garbage {path}", statuses=seen)
