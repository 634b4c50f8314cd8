"""Headless Chromium for tests, driven over the DevTools protocol on a pipe (no web socket, no
driver library): open a page, wait for its load event, evaluate JavaScript in it, and list every
request the page made.

    with Browser() as browser:
        page = browser.open(path)          # waits for the load event
        page.requests                      # every URL the page asked for
        page.evaluate("document.title")
        page.screenshot()                  # PNG bytes of the whole page
"""
from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Everything that could make Chromium fetch on its own is off, so any request it makes is the
# page's own.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
         "--remote-debugging-pipe"]


_PLACE_FDS = ("import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
              "os.execv(sys.argv[3], sys.argv[3:])")


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Page:
    def __init__(self, browser: "Browser", session: str, url: str):
        self._browser, self.session, self.url = browser, session, url
        self.requests: list[str] = []

    def call(self, method: str, **params):
        return self._browser.call(method, session=self.session, **params)

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression!r} failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, width: int = 1200) -> bytes:
        import base64

        height = int(self.evaluate("document.documentElement.scrollHeight"))
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)
        return base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])


class Browser:
    def __init__(self, executable: str | None = None, timeout: float = 60.0):
        self.executable = executable or find_chromium()
        if self.executable is None:
            raise FileNotFoundError("chromium is not installed")
        self.timeout = timeout
        self._profile = tempfile.mkdtemp(prefix="frameloom-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # The protocol pipe is fd 3 (commands in) and fd 4 (answers out) of the browser. A tiny
        # Python exec wrapper puts them there (a shell's redirections stop at fd 9).
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _PLACE_FDS, str(to_browser_r), str(from_browser_w),
             self.executable, *FLAGS, f"--user-data-dir={self._profile}", "about:blank"],
            pass_fds=(to_browser_r, from_browser_w), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict] = []

    # ---- the protocol ----------------------------------------------------------------------

    def _send(self, message: dict) -> None:
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise ConnectionError("chromium closed the protocol pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, session: str | None = None, **params):
        self._next_id += 1
        mid = self._next_id
        message = {"id": mid, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self._send(message)
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == mid:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self._events.append(reply)

    def _wait_event(self, method: str, session: str) -> dict:
        deadline = time.monotonic() + self.timeout
        while True:
            for i, event in enumerate(self._events):
                if event.get("method") == method and event.get("sessionId") == session:
                    return self._events.pop(i)
            self._events.append(self._receive(deadline))

    # ---- pages -----------------------------------------------------------------------------

    def open(self, path_or_url) -> Page:
        """Open a page (a file path or a URL), wait for its load event, and collect the URLs
        of every request it made on the way."""
        url = path_or_url if "://" in str(path_or_url) else Path(path_or_url).resolve().as_uri()
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        page = Page(self, session, url)
        page.call("Page.enable")
        page.call("Network.enable")
        page.call("Page.navigate", url=url)
        self._wait_event("Page.loadEventFired", session)
        # Requests the load event did not wait for would still show up here.
        page.evaluate("new Promise(r => setTimeout(r, 300))")
        for event in self._events:
            if event.get("sessionId") == session and event.get("method") == "Network.requestWillBeSent":
                page.requests.append(event["params"]["request"]["url"])
        return page

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (OSError, ConnectionError, TimeoutError, AssertionError):
            pass
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
