"""Debian's chromium, headless, driven through Playwright's Python API — never a downloaded
browser (``executable_path`` is /usr/bin/chromium).

Each :class:`Chromium` gets a fresh profile and a fresh ``$HOME`` whose NSS database
(``~/.pki/nssdb``, where chromium on Linux reads user trust) trusts exactly the roots given, and
``--host-resolver-rules`` that map the box's names to loopback, so a test can open
``https://<ip-label>.<label>.<zone>:<port>/`` and see what a user's browser sees: a padlock, or a
certificate error. ``javascript=False`` browses with script turned off (our pages must work
without it); ``phone=True`` lays pages out as a phone of ``width`` × ``height`` does.

This is the one browser harness of the tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def available() -> bool:
    return Path(CHROMIUM).exists() and shutil.which("certutil") is not None


needs_chromium = pytest.mark.skipif(
    not available(), reason="needs Debian's chromium and certutil (make system-deps)"
)


def nss_home(home: Path, roots: Sequence[Path]) -> Path:
    """A ``$HOME`` whose NSS database trusts ``roots`` for TLS servers (and nothing else)."""
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["certutil", "-N", "-d", f"sql:{db}", "--empty-password"], check=True, capture_output=True
    )
    for i, root in enumerate(roots):
        subprocess.run(
            ["certutil", "-A", "-d", f"sql:{db}", "-n", f"root-{i}", "-t", "C,,", "-i", str(root)],
            check=True,
            capture_output=True,
        )
    return home


@dataclass
class PageVisit:
    """What a visit gave: the HTTP status and the page, or the browser's error text."""

    status: int | None
    error: str | None
    text: str
    url: str


class Chromium:
    """A headless chromium with its own profile; use :func:`chromium` to get one."""

    def __init__(self, context: object) -> None:
        self._context = context

    def visit(
        self,
        url: str,
        *,
        screenshot: Path | None = None,
        wait_for: str | None = None,
        timeout_ms: float = 20000,
    ) -> PageVisit:
        from playwright.sync_api import Error

        page = self._context.new_page()  # type: ignore[attr-defined]
        try:
            try:
                response = page.goto(url, timeout=timeout_ms)
            except Error as err:
                return PageVisit(None, str(err).splitlines()[0], "", url)
            if wait_for is not None:
                page.wait_for_selector(wait_for, timeout=timeout_ms)
            if screenshot is not None:
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshot), full_page=True)
            return PageVisit(
                response.status if response else None, None, page.inner_text("body"), page.url
            )
        finally:
            page.close()

    def page(self) -> Any:
        """A new Playwright page, for tests that click and type."""
        return self._context.new_page()  # type: ignore[attr-defined]


def fits_width(page: Any) -> bool:
    """The page does not scroll sideways (measured by the browser's layout, so it works with
    script turned off as well)."""
    return bool(
        page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
    )


@contextmanager
def chromium(
    *,
    trust: Sequence[Path] = (),
    resolve: Mapping[str, str] | None = None,
    extra_flags: Sequence[str] = (),
    width: int = 1100,
    height: int = 800,
    javascript: bool = True,
    phone: bool = False,
) -> Iterator[Chromium]:
    """Start chromium trusting ``trust`` with ``resolve`` (name -> address) as its resolver."""
    from playwright.sync_api import sync_playwright

    home = Path(tempfile.mkdtemp(prefix="boxcert-chromium-"))
    try:
        nss_home(home, trust)
        flags = list(FLAGS) + list(extra_flags)
        if resolve:
            rules = ", ".join(f"MAP {name} {addr}" for name, addr in resolve.items())
            flags.append(f"--host-resolver-rules={rules}")
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                str(home / "profile"),
                executable_path=CHROMIUM,
                headless=True,
                args=flags,
                env={**os.environ, "HOME": str(home)},
                viewport={"width": width, "height": height},
                java_script_enabled=javascript,
                is_mobile=phone,
                has_touch=phone,
                device_scale_factor=2 if phone else 1,
            )
            try:
                yield Chromium(context)
            finally:
                context.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
