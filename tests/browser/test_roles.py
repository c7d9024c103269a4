"""Role-aware pages in a real browser: the header names who is signed in and their role in
words, and a scrutineer, following every link on every page they reach, never meets a 403,
nor a form whose target would refuse their role."""

import os
from urllib.parse import urljoin, urlsplit

import pytest

from tests import walk
from tests.browser_support import (
    DESKTOP,
    PHONE,
    SCREENSHOTS,
    page_in_context,
    served,
    session_cookie,
)
from tests.helpers import sign_in

SIZES = [("phone", PHONE), ("desktop", DESKTOP)]
LINKS_AND_FORMS = """
() => ({
  links: [...document.querySelectorAll("a[href]")].map((a) => a.href),
  forms: [...document.querySelectorAll("form")].map((f) => [
    (f.getAttribute("method") || "get").toUpperCase(), f.action,
  ]),
})
"""


@pytest.fixture
def database_url(tmp_path):
    """SQLite only: these tests are about the pages, not the backend."""
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.mark.parametrize("role", ["organiser", "scrutineer"])
@pytest.mark.parametrize(("size", "viewport"), SIZES)
def test_the_header_names_the_role_in_words(browser, app, role, size, viewport):
    arranged = walk.arrange(app)
    client = arranged.test_client()
    sign_in(arranged, client, f"{role}@example.org", role)
    with served(arranged) as base, page_in_context(browser, viewport=viewport) as (page, errors):
        page.context.add_cookies([session_cookie(client, base)])
        for path in ("/organiser/", "/"):
            page.goto(base + path)
            header = page.locator(".site-header").inner_text()
            assert f"Signed in as {role}@example.org, {role}" in header
            assert f"({role})" not in header
        if role == "scrutineer" and os.environ.get("PETITIONS_SCREENSHOTS") == "1":
            # What a scrutineer sees: no roll, invitations or settings to be refused.
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.goto(f"{base}/organiser/p/{walk.REACHED}")
            shot = SCREENSHOTS / f"scrutineer-dashboard-{size}.png"
            page.screenshot(path=str(shot), full_page=True)
    assert errors == []


@pytest.mark.parametrize(("size", "viewport"), SIZES)
def test_a_scrutineer_follows_every_link_and_meets_no_403(browser, app, size, viewport):
    arranged = walk.arrange(app)
    client = arranged.test_client()
    sign_in(arranged, client, "scrutineer@example.org", "scrutineer")
    adapter = arranged.url_map.bind("localhost")
    refused, forms_refused, seen = [], [], set()
    with served(arranged) as base, page_in_context(browser, viewport=viewport) as (page, errors):
        page.context.add_cookies([session_cookie(client, base)])
        queue = [base + "/organiser/", base + "/scrutiny/"]
        while queue and len(seen) < 150:
            url = queue.pop(0)
            parts = urlsplit(url)
            if parts.path in seen or parts.path.startswith(walk.NEVER):
                continue
            seen.add(parts.path)
            answer = page.request.get(url)
            if answer.status == 403:
                refused.append(parts.path)
                continue
            if not answer.headers.get("content-type", "").startswith("text/html"):
                continue
            page.goto(url)
            found = page.evaluate(LINKS_AND_FORMS)
            for link in found["links"]:
                target = urljoin(url, link).split("#")[0]
                if target.startswith(base) and "/static/" not in target:
                    queue.append(target)
            for method, action in found["forms"]:
                target = urlsplit(action)
                if method == "GET":
                    queue.append(action)
                    continue
                endpoint, _args = adapter.match(target.path, method=method)
                roles = getattr(arranged.view_functions[endpoint], "allowed_roles", None)
                if roles is not None and "scrutineer" not in roles:
                    forms_refused.append((parts.path, target.path))
    assert {"/organiser/", "/scrutiny/", f"/organiser/p/{walk.REACHED}/signatures"} <= seen
    assert f"/scrutiny/p/{walk.REACHED}" in seen
    assert refused == []
    assert forms_refused == []
    assert errors == []
