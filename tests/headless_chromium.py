"""Renders a local HTML file in headless Chromium and reports what a browser saw.

Drives Debian's `chromium` over the DevTools protocol (websocket-client): collects
console errors, uncaught exceptions and browser log errors (e.g. a resource that failed
to load), checks that every <img> decoded, and takes a full-page screenshot. A missing
browser fails the test with what to install; it is never skipped.
"""
from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
from typing import List

import pytest
import websocket

CHROMIUM = os.environ.get("CLASSICS_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--remote-debugging-port=0", "--remote-allow-origins=*"]


@dataclasses.dataclass
class Rendered:
    errors: List[str]  # console errors, exceptions, browser log errors
    images: int
    broken_images: List[str]  # alt text of <img>s that did not decode
    title: str
    text: str  # the page's visible text (document.body.innerText)
    screenshot: bytes  # PNG of the full page


def require_chromium() -> str:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"headless Chromium not found at {CHROMIUM}: install it with "
                    "`apt-get install -y chromium` (Debian), or set CLASSICS_CHROMIUM")
    return CHROMIUM


class _Session:
    def __init__(self, ws_url: str):
        self.ws = websocket.create_connection(ws_url, timeout=60)
        self.next_id = 0
        self.events: List[dict] = []

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_for(self, event: str, timeout: float = 60.0) -> None:
        deadline = time.time() + timeout
        while not any(e.get("method") == event for e in self.events):
            if time.time() > deadline:
                raise TimeoutError(f"no {event} within {timeout}s")
            self.events.append(json.loads(self.ws.recv()))


def _errors(events: List[dict]) -> List[str]:
    out = []
    for e in events:
        method, params = e.get("method"), e.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            out.append("console: " + " ".join(str(a.get("value", a.get("description")))
                                              for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            out.append("exception: " + details.get("exception", {}).get(
                "description", details.get("text", "")))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            out.append(f"log: {entry.get('text')} {entry.get('url', '')}".strip())
    return out


def render(html_path: str, width: int = 1200) -> Rendered:
    """Loads `html_path` (file://) and returns what the browser reported."""
    chromium = require_chromium()
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    proc = subprocess.Popen([chromium, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    lines: List[str] = []
    # Drained all along: a full stderr pipe would stall the browser.
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")),
                              daemon=True)
    reader.start()
    try:
        port = None
        deadline = time.time() + 60
        while port is None:
            found = [re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", l)
                     for l in list(lines)]
            port = next((int(m.group(1)) for m in found if m), None)
            if port is None and (proc.poll() is not None or time.time() > deadline):
                raise RuntimeError("chromium did not open its DevTools port: "
                                   + "".join(lines[-5:]))
            time.sleep(0.1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as r:
            page = next(t for t in json.load(r) if t["type"] == "page")
        s = _Session(page["webSocketDebuggerUrl"])
        for domain in ("Runtime", "Log", "Page"):
            s.call(f"{domain}.enable")
        s.call("Emulation.setDeviceMetricsOverride", width=width, height=900,
               deviceScaleFactor=1, mobile=False)
        s.call("Page.navigate", url="file://" + os.path.abspath(html_path))
        s.wait_for("Page.loadEventFired")

        def js(expression: str):
            return s.call("Runtime.evaluate", expression=expression,
                          returnByValue=True)["result"].get("value")

        images = js("Array.from(document.images).map(i => [i.alt, i.complete && "
                    "i.naturalWidth > 0])") or []
        height = int(js("document.documentElement.scrollHeight") or 900)
        s.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
               deviceScaleFactor=1, mobile=False)
        shot = base64.b64decode(s.call("Page.captureScreenshot", format="png")["data"])
        title, text = js("document.title"), js("document.body.innerText")
        s.ws.close()
        return Rendered(errors=_errors(s.events), images=len(images),
                        broken_images=[alt for alt, ok in images if not ok], title=title,
                        text=text, screenshot=shot)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the browser and the helpers it started
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        reader.join(timeout=10)
        proc.stderr.close()
        shutil.rmtree(profile, ignore_errors=True)
