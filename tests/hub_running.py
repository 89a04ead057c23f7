"""A real ``boxcert hub serve`` process on loopback, an admin's browser-like client, and the
box's side of the exchange written from :mod:`boxcert.wire.hub` (what ``boxcert box connect``
and the box's reporter send)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from boxcert import devstack
from boxcert.wire.hub import (
    CONNECT_PATH,
    LEGACY_REPORT_PATH,
    REPORT_PATH,
    BoxReport,
    BoxSecret,
    ConnectAnswer,
    ConnectRequest,
    LegacyReport,
    PairingToken,
)
from tests.helpers import cli

HANG_GUARD = 60.0
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class HubProcess:
    data_dir: Path
    url: str
    password: str
    process: devstack.Process
    stdout: str

    def cli(self, verb: str, *args: str, input: str | None = None) -> tuple[int, str]:
        return cli("hub", verb, "--data", str(self.data_dir), *args, input=input)

    def token(self, *args: str) -> str:
        code, out = self.cli("token", *args)
        assert code == 0, out
        return out.splitlines()[0]

    def log(self) -> str:
        return self.process.log()

    def stop(self) -> None:
        self.process.stop()


def start_hub(data_dir: Path, *extra: str) -> HubProcess:
    """Start the hub; its stderr (the log) goes to ``<data>.log``. Waits until it listens
    and returns the admin password it printed at its first start (empty after that)."""
    run = devstack.start_hub(data_dir, *extra)
    return HubProcess(data_dir, run.url, run.password, run.process, "\n".join(run.lines))


class AdminClient:
    """The admin in a browser: cookies kept, forms posted with the page's CSRF token."""

    def __init__(self, url: str, verify: Any = True) -> None:
        self.http = httpx.Client(base_url=url, timeout=30, verify=verify)

    def csrf(self, path: str = "/login") -> str:
        match = _CSRF.search(self.http.get(path).text)
        assert match, path
        return match.group(1)

    def login(self, password: str) -> httpx.Response:
        return self.http.post("/login", data={"csrf_token": self.csrf(), "password": password})

    def post_form(self, path: str, data: dict[str, str], page: str = "/boxes") -> httpx.Response:
        return self.http.post(path, data={"csrf_token": self.csrf(page), **data})

    def close(self) -> None:
        self.http.close()


class BoxClient:
    """What a box sends to its hub, over verified TLS or http to loopback."""

    def __init__(self, identifier: str, name: str = "", verify: Any = True) -> None:
        self.identifier = identifier
        self.name = name
        self.verify = verify
        self.answer: ConnectAnswer | None = None

    def connect_raw(self, token: str) -> httpx.Response:
        hub = PairingToken.parse(token).hub_url
        request = ConnectRequest(PairingToken.parse(token), self.identifier, self.name)
        with httpx.Client(verify=self.verify, timeout=30) as c:
            return c.post(hub + CONNECT_PATH, json=request.to_json())

    def connect(self, token: str) -> ConnectAnswer:
        answer = self.connect_raw(token)
        assert answer.status_code == 200, answer.text
        self.answer = ConnectAnswer.from_json(answer.json())
        return self.answer

    def report(self, report: BoxReport, secret: BoxSecret | None = None) -> httpx.Response:
        assert self.answer is not None
        with httpx.Client(verify=self.verify, timeout=30) as c:
            return c.post(
                self.answer.server_url + REPORT_PATH,
                json=report.to_json(),
                headers=(secret or self.answer.box_secret).authorization(),
            )


def legacy_report(hub_url: str, report: LegacyReport) -> httpx.Response:
    with httpx.Client(timeout=30) as c:
        return c.post(hub_url + LEGACY_REPORT_PATH, json=report.to_json())
