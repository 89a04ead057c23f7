"""Debian's chromium, headless, driven through the DevTools protocol over a pipe.

``--remote-debugging-pipe`` makes chromium read commands on fd 3 and write answers on fd 4
(NUL-separated JSON), so the standard library is enough: no websocket client, no downloaded
browser. Each :class:`Chromium` gets a fresh ``--user-data-dir`` (no cookies from elsewhere).

    with Chromium(tmp_path) as browser:
        browser.navigate("http://127.0.0.1:8070/login")
        browser.fill_and_submit({"password": pw})
        text = browser.text()
        browser.screenshot(Path("docs/images/x.png"))
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

HANG_GUARD = 60.0  # seconds; a guard against a stuck browser, never a performance bound


class BrowserError(RuntimeError):
    pass


def chromium_path() -> str | None:
    return shutil.which("chromium")


class Chromium:
    def __init__(
        self, workdir: Path, *, width: int = 1200, height: int = 900, args: tuple[str, ...] = ()
    ) -> None:
        binary = chromium_path()
        if binary is None:
            raise BrowserError("chromium is not installed (Debian package 'chromium')")
        profile = workdir / "chromium-profile"
        profile.mkdir(parents=True, exist_ok=True)
        to_browser_r, to_browser_w = os.pipe()
        from_browser_r, from_browser_w = os.pipe()
        # Fresh copies above 4, so dup2 onto 3 and 4 in the child never clobbers its source.
        child_in, child_out = os.dup(to_browser_r), os.dup(from_browser_w)

        def wire_fds() -> None:
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        self.log_path = workdir / "chromium.log"
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                [
                    binary,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-first-run",
                    "--remote-debugging-pipe",
                    f"--user-data-dir={profile}",
                    f"--window-size={width},{height}",
                    *args,
                    "about:blank",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                preexec_fn=wire_fds,
                close_fds=False,
            )
        for fd in (to_browser_r, from_browser_w, child_in, child_out):
            os.close(fd)
        self._write_fd, self._read_fd = to_browser_w, from_browser_r
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        targets = self._call("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        attached = self._call("Target.attachToTarget", targetId=page["targetId"], flatten=True)
        self.session = attached["sessionId"]
        self.call("Page.enable")
        self.call("Runtime.enable")

    # --- protocol ---------------------------------------------------------------------

    def _send(self, method: str, params: dict[str, Any], session: str | None) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._write_fd, json.dumps(message).encode() + b"\0")
        return self._next_id

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self._read_fd], [], [], remaining)[0]:
                raise BrowserError(f"chromium did not answer: {self.log_path.read_text()[-500:]}")
            chunk = os.read(self._read_fd, 1 << 20)
            if not chunk:
                raise BrowserError(f"chromium exited: {self.log_path.read_text()[-500:]}")
            self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        message: dict[str, Any] = json.loads(raw)
        return message

    def _call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        call_id = self._send(method, params, session)
        deadline = time.monotonic() + HANG_GUARD
        while True:
            message = self._read_message(deadline)
            if message.get("id") == call_id:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            if "method" in message:
                self._events.append(message)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """A command to the page."""
        return self._call(method, self.session, **params)

    def wait_event(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + HANG_GUARD
        while True:
            for i, event in enumerate(self._events):
                if event["method"] == method:
                    del self._events[i]
                    return event
            message = self._read_message(deadline)
            if "method" in message:
                self._events.append(message)

    # --- page actions -----------------------------------------------------------------

    def navigate(self, url: str) -> None:
        self._events.clear()
        result = self.call("Page.navigate", url=url)
        if result.get("errorText"):
            raise BrowserError(f"{url}: {result['errorText']}")
        self.wait_event("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def fill_and_submit(self, fields: dict[str, str], form: str = "main form") -> None:
        """Fill the named inputs of the first ``form`` match, submit it, wait for the page."""
        self._events.clear()
        script = (
            f"(() => {{ const f = document.querySelector({json.dumps(form)});"
            f" const v = {json.dumps(fields)};"
            " for (const [k, x] of Object.entries(v)) {"
            "   const el = f.elements[k]; if (el.type === 'checkbox') el.checked = !!x;"
            "   else el.value = x; }"
            " f.requestSubmit(); return true; })()"
        )
        self.evaluate(script)
        self.wait_event("Page.loadEventFired")

    # Script-free: these go through the DevTools DOM and Input domains, so they work on a page
    # with script turned off (``Emulation.setScriptExecutionDisabled``).

    def html(self) -> str:
        root = self.call("DOM.getDocument")["root"]["nodeId"]
        return str(self.call("DOM.getOuterHTML", nodeId=root)["outerHTML"])

    def location(self) -> str:
        history = self.call("Page.getNavigationHistory")
        return str(history["entries"][history["currentIndex"]]["url"])

    def focus(self, selector: str) -> None:
        root = self.call("DOM.getDocument")["root"]["nodeId"]
        node = self.call("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
        if not node:
            raise BrowserError(f"nothing matches {selector}")
        self.call("DOM.focus", nodeId=node)

    def type_text(self, text: str) -> None:
        self.call("Input.insertText", text=text)

    def press_enter(self) -> None:
        """Press Enter in the focused element (submits its form) and wait for the next page."""
        self._events.clear()
        for kind in ("keyDown", "keyUp"):
            self.call(
                "Input.dispatchKeyEvent",
                type=kind,
                key="Enter",
                code="Enter",
                windowsVirtualKeyCode=13,
                text="\r" if kind == "keyDown" else "",
            )
        self.wait_event("Page.loadEventFired")

    def text(self) -> str:
        return str(self.evaluate("document.body.innerText"))

    def url(self) -> str:
        return str(self.evaluate("location.href"))

    def phone(self, width: int = 390, height: int = 844) -> None:
        """Lay pages out as a phone would (until the next ``desktop``)."""
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=2,
            mobile=True,
        )

    def screenshot(self, path: Path, full_page: bool = True) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
        data = self.call("Page.captureScreenshot", **params)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        with contextlib.suppress(BrowserError, OSError):
            self._call("Browser.close")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._write_fd, self._read_fd):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
