"""What our three web sites share: the hub's pages, the box's homepage, the vendor's portal.

Server-rendered HTML that works without JavaScript, behind a login, with the protections every
form and page needs. A site is put together like this (see ``boxcert.hub.app`` for a real one)::

    pages = Pages("My site", PackageLoader("boxcert.mysite", "templates"), nav=[("/", "Home")])
    gate = LoginGate(accounts, pages, throttle=LoginThrottle(clock=clock), clock=clock)
    app = Starlette(routes=[*gate.routes(), pages.stylesheet_route(),
                            Route("/", gate.page(home))])
    app = Sessions(app, store=MemorySessionStore(), stamp_of=accounts.stamp, clock=clock,
                   exempt=("/api/machine/",), refuse=pages.refusal)
    app = SecurityHeaders(app, no_store=lambda path: not path.startswith("/static/"))

- :mod:`boxcert.web.sessions` — the cookie, server-side sessions (:class:`SessionStore`), CSRF
  tokens checked on every POST before the application sees it; :func:`visit_of` gives an
  endpoint its :class:`Visit` (``logged_in``, ``account_id``, ``form``, ``csrf_token``).
- :mod:`boxcert.web.auth` — :class:`Accounts` (a site's accounts), :class:`LoginGate` (login
  and logout routes, ``page``/``api`` wrappers for endpoints behind the login).
- :mod:`boxcert.web.throttle` — :class:`LoginThrottle`: failed logins per address and overall.
- :mod:`boxcert.web.headers` — :class:`SecurityHeaders` middleware.
- :mod:`boxcert.web.pages` — :class:`Pages`: Jinja2 with ``base.html`` and the stylesheet.
- Passwords are hashed with :mod:`boxcert.secrets` (salted scrypt, parameters in the hash).
"""

from boxcert.web.auth import Account, Accounts, LoginGate
from boxcert.web.headers import SecurityHeaders
from boxcert.web.pages import Pages
from boxcert.web.sessions import (
    MemorySessionStore,
    Session,
    SessionPolicy,
    Sessions,
    SessionStore,
    Visit,
    visit_of,
)
from boxcert.web.throttle import LoginThrottle, Window

__all__ = [
    "Account",
    "Accounts",
    "LoginGate",
    "LoginThrottle",
    "MemorySessionStore",
    "Pages",
    "SecurityHeaders",
    "Session",
    "SessionPolicy",
    "SessionStore",
    "Sessions",
    "Visit",
    "Window",
    "visit_of",
]
