"""The pairing form on the box's homepage: behind the box login and CSRF, the same step as
``boxcert box connect`` against a real hub (in-process over a real socket); a refused token is
one line on the page and changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from boxcert.httpserver import running
from boxcert.hub.app import create_app
from boxcert.hub.server import open_service
from boxcert.hub.service import HubConfig, HubService
from tests.front_support import RunningFront, csrf_of, front
from tests.hub_running import BoxClient

CODE = "C-pairing-form-never-shown"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[tuple[HubService, str]]:
    service = open_service(tmp_path / "hub", None)
    service.configure(HubConfig("uuid-7", CODE, "https://issuer.example", "iot.example.test"))
    with running(create_app(service)) as url:
        service.set_public_url(url)
        yield service, url


def logged_in(f: RunningFront, client: httpx.Client) -> str:
    form = client.get(f.url("/box/login")).text
    done = client.post(
        f.url("/box/login"), data={"csrf_token": csrf_of(form), "password": f.password}
    )
    assert done.status_code == 303
    return client.get(f.url("/")).text


def test_the_form_pairs_the_box(tmp_path: Path, hub: tuple[HubService, str]) -> None:
    service, url = hub
    with front(tmp_path) as f, f.client() as client:
        anonymous = client.get(f.url("/")).text
        assert 'action="/box/pair"' not in anonymous and CODE not in anonymous
        blind = client.post(f.url("/box/pair"), data={"csrf_token": csrf_of(anonymous)})
        assert blind.status_code == 303 and blind.headers["location"].startswith("/box/login")
        page = logged_in(f, client)
        assert 'action="/box/pair"' in page and 'id="hub-state">Not paired<' in page
        token = service.new_token().encode()
        assert client.post(f.url("/box/pair"), data={"token": token}).status_code == 403
        done = client.post(f.url("/box/pair"), data={"csrf_token": csrf_of(page), "token": token})
        assert done.status_code == 303 and done.headers["location"] == "/?paired=1"
        after = client.get(f.url("/?paired=1")).text
        assert 'id="hub-state">Paired<' in after and 'id="pair-done"' in after
        assert CODE not in after and token not in after
        config = json.loads(f.paths.config.read_text())
        assert config["server"] == url and config["enterprise_code"] == CODE
        assert config["identifier"] == "front-test-box"
        assert service.box("front-test-box").identifier == "front-test-box"
        assert f.backend.status().to_json()["hub"]["state"] == "paired"


def test_a_refused_token_is_one_line_and_changes_nothing(
    tmp_path: Path, hub: tuple[HubService, str]
) -> None:
    service, _ = hub
    used = service.new_token().encode()
    with front(tmp_path) as f, f.client() as client:
        page = logged_in(f, client)
        BoxClient("another-box").connect(used)  # another box used it first
        before = f.paths.config.read_bytes()
        for token, message in [
            ("not a token", "this is not a pairing token"),
            (used, "this pairing token was already used; make a new one"),
        ]:
            refused = client.post(
                f.url("/box/pair"), data={"csrf_token": csrf_of(page), "token": token}
            )
            assert refused.status_code == 400
            assert message in refused.text and 'id="pair-error"' in refused.text
            assert f.paths.config.read_bytes() == before
