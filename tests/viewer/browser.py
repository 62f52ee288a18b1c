"""Headless Chromium (the Debian package) driven by Playwright's Python package, for page tests.

``chromium_page()`` skips the calling test with the reason when either is missing; CI
(``.ci/run``) installs the browser, so there the tests run.
"""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# software WebGL (SwiftShader) for the 3D scene on machines without a GPU
LAUNCH_ARGS = ["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]


def chromium_path() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    found = shutil.which("chromium")
    if found is None:
        pytest.skip("browser test: no Chromium at /usr/bin/chromium "
                    "(Debian: apt-get install -y chromium; .ci/run does this)")
    return Path(found)


@contextmanager
def chromium_page(width: int = 1200, height: int = 700):
    """(page, messages): ``messages`` collects console messages and uncaught page errors."""
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="browser test: the playwright Python package is not installed")
    exe = chromium_path()
    messages: list[tuple[str, str]] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(exe), args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.on("console", lambda m: messages.append((m.type, m.text)))
            page.on("pageerror", lambda e: messages.append(("pageerror", str(e))))
            yield page, messages
        finally:
            browser.close()


def errors(messages: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [m for m in messages if m[0] in ("error", "pageerror")]
