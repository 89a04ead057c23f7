"""Everything the front's pages share, in one object built by the server at start."""

from __future__ import annotations

from dataclasses import dataclass, field

from boxcert.box.front.backend import FrontBackend
from boxcert.box.front.certswitch import CertificateSwitch
from boxcert.box.front.pages import Pages
from boxcert.box.front.password import PasswordFile
from boxcert.box.front.sessions import LoginThrottle, SessionBook
from boxcert.clock import Clock, system_clock


@dataclass
class FrontContext:
    backend: FrontBackend
    switch: CertificateSwitch
    passwords: PasswordFile
    https_port: int
    upstream: str | None = None
    clock: Clock = system_clock
    hsts_max_age: int = 86400
    sessions: SessionBook = field(default_factory=SessionBook)
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    pages: Pages = field(default_factory=Pages)

    def trusted(self) -> bool:
        """Is the served certificate one browsers may trust (so plain HTTP redirects)?"""
        return self.switch.served.trusted(self.clock())
