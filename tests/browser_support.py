"""Headless Chromium for the browser tests: Debian's /usr/bin/chromium driven by Playwright (no
browser is ever downloaded), the app served on a free loopback port, and pages that collect
console errors.

Without Chromium the browser tests skip and say how to enable them, unless
PETITIONS_TEST_REQUIRE_BROWSER=1 (CI sets it), which makes that a failure.
"""

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright
from werkzeug.serving import make_server

from tests.helpers import configure

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Loopback only: every other host name fails to resolve.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}


AXE = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# Every violation of the page's policy, recorded before any script of the page runs.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline"}`);
});
"""


def require_axe() -> None:
    """Skip (or fail, when the browser is required) unless axe-core is installed from npm."""
    if AXE.exists():
        return
    message = f"{AXE} not found: run `npm ci` (make test does) to check accessibility"
    if os.environ.get("PETITIONS_TEST_REQUIRE_BROWSER") == "1":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def require_chromium() -> None:
    """Skip (or fail, when the browser is required) unless Debian's Chromium is installed."""
    if CHROMIUM.exists():
        return
    message = (
        f"Chromium not found at {CHROMIUM}: install Debian's chromium to run the browser "
        "tests; set PETITIONS_TEST_REQUIRE_BROWSER=1 to fail instead"
    )
    if os.environ.get("PETITIONS_TEST_REQUIRE_BROWSER") == "1":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium for the duration of the block."""
    require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _closing_bodies(app):
    """``app`` with every response body closed when it is dropped unfinished.

    Werkzeug's development server skips a body's close() when the client resets the
    connection after the last write (a browser moving on while the favicon is sent): the
    static file it holds would be closed only by the garbage collector, with a ResourceWarning
    that the suite, which turns warnings into errors, pins on whichever test runs then."""

    def wsgi(environ, start_response):
        body = app(environ, start_response)
        try:
            yield from body
        finally:
            if hasattr(body, "close"):
                body.close()

    return wsgi


@contextlib.contextmanager
def served(app) -> Iterator[str]:
    """Serve ``app`` on a free loopback port for the block; yields its base URL, which e-mailed
    links then point at."""
    server = make_server("127.0.0.1", 0, _closing_bodies(app), threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    configure(app, base_url=base)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield base
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def open_page(browser: Browser, **options):
    """A page in a fresh context, and the list its console errors and uncaught errors go to."""
    context = browser.new_context(**options)
    page = context.new_page()
    errors: list[str] = []

    def on_console(message) -> None:
        if message.type == "error":
            errors.append(f"{message.text} ({message.location.get('url', '')})")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return context, page, errors


@contextlib.contextmanager
def page_in_context(browser: Browser, **options):
    """open_page() for the block: its context is closed however the block ends, so a failed
    test leaves no page polling in the shared browser."""
    context, page, errors = open_page(browser, **options)
    try:
        yield page, errors
    finally:
        context.close()


def session_cookie(client, base_url: str) -> dict:
    """The signed-in session of a Flask test client, as a cookie for a browser context."""
    cookie = client.get_cookie("petitions_session")
    assert cookie is not None, "the test client is not signed in"
    return {"name": cookie.key, "value": cookie.value, "url": base_url, "httpOnly": True}


def axe_problems(page) -> list[str]:
    """The serious and critical WCAG 2.1 AA violations axe-core finds on the page as it is now,
    e.g. after a refused form (the page's context must bypass its CSP, which would refuse the
    injected script)."""
    require_axe()
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_TAGS
    )
    return [
        f"{v['id']} [{v['impact']}] {v['help']}: " + "; ".join(n["target"][0] for n in v["nodes"])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
