"""Everything the front's pages share, in one object built by the server at start."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources

from jinja2 import PackageLoader
from markupsafe import Markup, escape

from boxcert.box.front.backend import FrontBackend
from boxcert.box.front.certswitch import CertificateSwitch
from boxcert.box.front.password import PasswordFile
from boxcert.clock import Clock, system_clock
from boxcert.web import LoginGate, LoginThrottle, Pages

SITE = "IoT box"
MOUNT = "/box"  # the box's own paths; every other path belongs to the upstream
NAV = (("/", "Status"), ("/box/credentials", "Credentials"), ("/box/errors/", "Help"))
_BACKTICKS = re.compile(r"`([^`]+)`")
LOGIN_INTRO = (
    "The credentials page and the pairing form are protected by the box password. It was "
    "printed once on the box's console when the box first started."
)


def box_css() -> bytes:
    """The box's own additions to the shared stylesheet."""
    return resources.files("boxcert.box.front").joinpath("static/box.css").read_bytes()


def code_spans(text: str) -> Markup:
    """The backtick spans of the texts in ``boxcert.codes`` as ``<code>``, after escaping, so
    one table of texts reads well on the console, in the docs and on the page."""
    return Markup(_BACKTICKS.sub(r"<code>\1</code>", str(escape(text))))  # noqa: S704


def box_pages() -> Pages:
    pages = Pages(
        SITE,
        PackageLoader("boxcert.box.front", "templates"),
        nav=NAV,
        globals={"login_intro": LOGIN_INTRO, "nav_public": True},
        mount=MOUNT,
        extra_css=box_css(),
    )
    pages.env.filters["code_spans"] = code_spans
    return pages


@dataclass
class FrontContext:
    backend: FrontBackend
    switch: CertificateSwitch
    accounts: PasswordFile
    https_port: int
    upstream: str | None = None
    clock: Clock = system_clock
    hsts_max_age: int = 86400
    pages: Pages = field(default_factory=box_pages)
    gate: LoginGate = field(init=False)

    def __post_init__(self) -> None:
        self.gate = LoginGate(
            self.accounts,
            self.pages,
            throttle=LoginThrottle(clock=self.clock),
            home="/box/credentials",
            clock=self.clock,
        )

    def trusted(self) -> bool:
        """Is the served certificate one browsers may trust (so plain HTTP redirects)?"""
        return self.switch.served.trusted(self.clock())
