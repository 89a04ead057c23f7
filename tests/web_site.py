"""A small site built from boxcert.web only, for the web package's tests: accounts in a dict,
one page and one form behind the login, a JSON API, an exempt machine endpoint."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
from jinja2 import DictLoader
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from boxcert import secrets
from boxcert.web import (
    Account,
    LoginGate,
    LoginThrottle,
    MemorySessionStore,
    Pages,
    SecurityHeaders,
    SessionPolicy,
    Sessions,
    visit_of,
)

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class DictAccounts:
    """Accounts in memory; hashes at the token cost so the tests stay quick."""

    hashes: dict[str, str] = field(default_factory=dict)

    def set_password(self, name: str, password: str) -> None:
        self.hashes[name] = secrets.hash_secret(password, secrets.TOKEN_COST)

    def authenticate(self, username: str, password: str) -> Account | None:
        stored = self.hashes.get(username)
        if stored is None:
            secrets.burn_time(secrets.TOKEN_COST)
            return None
        if not secrets.verify_secret(password, stored):
            return None
        return Account(username, hashlib.sha256(stored.encode()).hexdigest()[:16])

    def stamp(self, account_id: str) -> str | None:
        stored = self.hashes.get(account_id)
        return hashlib.sha256(stored.encode()).hexdigest()[:16] if stored else None


TEMPLATES = {
    "home.html": """{% extends "base.html" %}{% block content %}
<h1>Hello {{ visit.account_id }}</h1>
<form method="post" action="/act">{{ csrf_field() }}<input name="thing"><button>Go</button></form>
<p id="echo">{{ echo }}</p>
{% endblock %}""",
}


def build_site(
    clock: FakeClock,
    accounts: DictAccounts,
    *,
    throttle: LoginThrottle | None = None,
    hsts: bool = False,
    ask_username: bool = True,
) -> ASGIApp:
    pages = Pages("Test site", DictLoader(TEMPLATES), nav=[("/", "Home")])
    gate = LoginGate(
        accounts,
        pages,
        throttle=throttle or LoginThrottle(clock=clock),
        clock=clock,
        ask_username=ask_username,
    )

    async def home(request: Request) -> Response:
        return pages.render(request, "home.html", title="Home", echo="")

    async def act(request: Request) -> Response:
        visit = visit_of(request)
        assert visit is not None
        return pages.render(request, "home.html", title="Done", echo=visit.form.get("thing", ""))

    async def me(request: Request) -> Response:
        visit = visit_of(request)
        assert visit is not None
        return JSONResponse({"account": visit.account_id})

    async def machine(request: Request) -> Response:
        return JSONResponse(
            {"visit": visit_of(request) is not None, "body": (await request.body()).decode()}
        )

    async def public(request: Request) -> Response:
        return pages.message(request, 200, "Public", "Anyone may read this.")

    app = Starlette(
        routes=[
            *gate.routes(),
            pages.stylesheet_route(),
            Route("/", gate.page(home)),
            Route("/act", gate.page(act), methods=["POST"]),
            Route("/api/me", gate.api(me)),
            Route("/machine/ping", machine, methods=["POST"]),
            Route("/public", public),
        ]
    )
    wrapped = Sessions(
        app,
        store=MemorySessionStore(max_sessions=50),
        stamp_of=accounts.stamp,
        clock=clock,
        policy=SessionPolicy(idle=timedelta(hours=1), absolute=timedelta(hours=8)),
        exempt=("/machine/", "/static/"),
        refuse=pages.refusal,
    )
    return SecurityHeaders(wrapped, no_store=lambda p: p.startswith("/api/"), hsts=hsts)


def csrf_of(response: httpx.Response) -> str:
    match = CSRF.search(response.text)
    assert match, response.text
    return match.group(1)


def login(client: httpx.Client, name: str, password: str) -> httpx.Response:
    token = csrf_of(client.get("/login"))
    return client.post("/login", data={"csrf_token": token, "username": name, "password": password})
