"""Links arriving slowly, in headless Chromium: the petition page, the check-your-inbox page and
the organisers' dashboard while mail is backed up, at a phone's width and a desktop's. The
notice shows with the delay, the pages have no serious WCAG 2.1 AA violation (axe-core), run
under the Content-Security-Policy without errors and do not scroll sideways on a phone. With
PETITIONS_SCREENSHOTS=1 each page is saved under docs/screenshots as petition-slow-mail-*,
check-email-slow-mail-* and dashboard-mail-backlog-*.
"""

import os

import pytest
from playwright.sync_api import expect

from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.engine import utcnow
from petitions.signatures import signing, tokens
from tests.browser_support import (
    AXE,
    DESKTOP,
    PHONE,
    RECORD_VIOLATIONS,
    SCREENSHOTS,
    WCAG_TAGS,
    open_page,
    require_axe,
    session_cookie,
)
from tests.helpers import add_members, open_petition, petition, sign_in
from tests.outbox.test_backlog import add_mail

MEMBERS = [
    (f"M{n:03d}", f"m{n}@example.org", "active", ("North", "South")[n % 2]) for n in range(12)
]


@pytest.fixture
def database_url(tmp_path):
    """SQLite only: these tests are about the pages, not the backend."""
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def browser(browser):
    """The session's Chromium, once axe-core is there to inject."""
    require_axe()
    return browser


@pytest.fixture
def backed_up(app):
    """An open petition with a few signatures, while mail is backed up: 480 links waiting for
    12 minutes (two of them after a failed try), 40 sent in the last minute, and sign-in links
    waiting too."""
    add_members(app, *MEMBERS)
    open_petition(app, "vote", threshold=50)
    for member_pk in range(1, 8):
        token = tokens.make_token(app.config["SECRET_KEY"], [], petition(app).id, member_pk)
        assert (
            signing.confirm(flask_db.engine_of(app), settings_of(app), token).status == "confirmed"
        )
    own, now = petition(app).id, utcnow()
    add_mail(app, 40, written=800, sent=30, petition_id=own, now=now)
    add_mail(app, 478, written=720, petition_id=own, now=now)
    add_mail(app, 2, written=700, attempts=3, retry_in=90, petition_id=own, now=now)
    add_mail(app, 3, written=600, now=now)
    return app


def _check(page, url: str, name: str, size: str) -> list[str]:
    """Open ``url``, run axe on it and the phone-width check; the problems found."""
    page.goto(url)
    page.wait_for_load_state("networkidle")
    problems = [f"{name}: CSP {v}" for v in page.evaluate("window.__cspViolations || []")]
    if os.environ.get("PETITIONS_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{size}.png"), full_page=True)
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_TAGS
    )
    problems += [
        f"{name} ({size}): {v['id']} [{v['impact']}] {v['help']}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    if size == "phone" and overflow > 1:
        problems.append(f"{name} (phone): scrolls sideways by {overflow}px")
    return problems


@pytest.mark.parametrize(("size", "viewport"), [("phone", PHONE), ("desktop", DESKTOP)])
def test_members_are_told_links_are_slow(backed_up, base_url, browser, size, viewport):
    context, page, errors = open_page(browser, viewport=viewport, bypass_csp=True)
    page.add_init_script(RECORD_VIOLATIONS)
    try:
        problems = _check(page, f"{base_url}/p/vote", "petition-slow-mail", size)
        notice = page.locator("#mail-delay")
        expect(notice).to_be_visible()
        expect(notice).to_contain_text(
            "Links are taking about 12 minutes to arrive because many members are signing."
        )
        page.fill("#email", "m1@example.org")
        page.get_by_role("button", name="Sign").click()
        expect(page.locator("h1")).to_have_text("Check your inbox")
        problems += _check(page, page.url, "check-email-slow-mail", size)
        expect(page.locator("#mail-delay")).to_contain_text(
            "Your request is queued and will be answered in turn: there is no need to ask again."
        )
    finally:
        context.close()
    assert problems == []
    assert errors == []


@pytest.mark.parametrize(("size", "viewport"), [("phone", PHONE), ("desktop", DESKTOP)])
def test_the_dashboard_shows_the_backlog(backed_up, base_url, browser, size, viewport):
    client = backed_up.test_client()
    sign_in(backed_up, client)
    context, page, errors = open_page(browser, viewport=viewport, bypass_csp=True)
    context.add_cookies([session_cookie(client, base_url)])
    page.add_init_script(RECORD_VIOLATIONS)
    try:
        problems = _check(page, f"{base_url}/organiser/p/vote#mail", "dashboard-mail-backlog", size)
        section = page.locator('[data-section="mail"]')
        expect(section).to_contain_text("Links are arriving slowly")
        expect(section.locator("tr", has_text="Waiting to be sent")).to_contain_text("480")
        expect(section.locator("tr", has_text="Sent in the last minute")).to_contain_text("40")
    finally:
        context.close()
    assert problems == []
    assert errors == []
