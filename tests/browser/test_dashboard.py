"""The live count in headless Chromium: signatures confirmed by ANOTHER PROCESS against the same
database show on the organisers' dashboard and on the public petition page within 2 seconds,
without a reload; the dashboard's sections follow; the page runs under the Content-Security-Policy
without errors and fits a phone.

Chromium, the served app and the console capture come from tests/browser_support.py (SQLite
only; skipped without /usr/bin/chromium unless PETITIONS_TEST_REQUIRE_BROWSER=1). With
PETITIONS_SCREENSHOTS=1 the dashboard is also saved as docs/screenshots/dashboard-phone.png and
dashboard-desktop.png.
"""

import os
import re
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select, update
from sqlmodel import Session

from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.engine import utcnow
from petitions.db.models import Member, Signature
from petitions.signatures import signing, tokens
from tests.browser_support import (
    DESKTOP,
    PHONE,
    RECORD_VIOLATIONS,
    SCREENSHOTS,
    open_page,
    session_cookie,
)
from tests.helpers import add_members, configure, open_petition, petition, sign_in
from tests.receiver import free_port

ROOT = Path(__file__).resolve().parents[2]
FRESH_WITHIN_MS = 2000
REGIONS = ["North", "South", "East", "West", None]
MEMBERS = [
    (f"M{n:03d}", f"m{n}@example.org", "active", REGIONS[n % len(REGIONS)]) for n in range(1, 41)
]


@pytest.fixture
def database_url(tmp_path):
    """SQLite only: a file that another process can open too."""
    return f"sqlite:///{tmp_path / 'test.db'}"


# Run by another Python process: confirm the tokens given, as a worker on another machine would.
CONFIRM_ELSEWHERE = """
import sys
from app import create_app
from petitions.config import settings_of
from petitions.signatures import signing
from petitions.db import flask_db
app = create_app()
for token in sys.argv[1:]:
    print(signing.confirm(flask_db.engine_of(app), settings_of(app), token).status)
"""


def tokens_for(app, *member_ids: str) -> list[str]:
    """Confirmation tokens for members of the petition "vote"."""
    with Session(flask_db.engine_of(app)) as session:
        pks = dict(
            session.execute(
                select(Member.number, Member.id).where(Member.number.in_(member_ids))
            ).all()
        )
    target = petition(app).id
    return [tokens.make_token(app.config["SECRET_KEY"], [], target, pks[m]) for m in member_ids]


def confirm_in_another_process(app, *member_ids: str) -> float:
    """Confirm the members' signatures from a separate Python process (the same database, found
    through the environment the app fixture set); return the time the last one was committed."""
    result = subprocess.run(
        [sys.executable, "-c", CONFIRM_ELSEWHERE, *tokens_for(app, *member_ids)],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    committed = time.monotonic()
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["confirmed"] * len(member_ids), result.stdout + result.stderr
    return committed


def signed_in_context(app, browser, **options):
    """A browser context signed in as an organiser, with the session cookie a sign-in sets."""
    client = app.test_client()
    sign_in(app, client)
    context, page, errors = open_page(browser, **options)
    context.add_cookies([session_cookie(client, settings_of(app).base_url)])
    page.add_init_script(RECORD_VIOLATIONS)
    return context, page, errors


def wait_for_count(page, text: str, since: float) -> float:
    """Wait (at most 2 s after ``since``) until the page's count reads ``text``; how long it took
    from ``since``."""
    left = FRESH_WITHIN_MS - (time.monotonic() - since) * 1000
    expect(page.locator("[data-live-value]").first).to_have_text(text, timeout=max(left, 1))
    return time.monotonic() - since


def test_counts_move_on_the_dashboard_and_the_public_page_without_a_reload(app, base_url, browser):
    configure(app, dashboard_ttl=1.0)
    add_members(app, *MEMBERS)
    open_petition(app, threshold=20)
    context, dashboard, errors = signed_in_context(app, browser)
    public_context, public, public_errors = open_page(browser)
    try:
        dashboard.goto(f"{base_url}/organiser/p/vote")
        expect(dashboard.locator("h1")).to_have_text("Petition vote")
        expect(dashboard.locator("[data-live-value]")).to_have_text("0")
        expect(dashboard.locator("[data-live-status]")).to_have_text("The count updates live.")
        public.goto(f"{base_url}/p/vote")
        expect(public.locator("[data-live-status]")).to_have_text("The count updates live.")
        expect(public.locator("[data-live-value]")).to_have_text("0")
        loaded = dashboard.evaluate("performance.timeOrigin")

        committed = confirm_in_another_process(app, "M001")
        took = wait_for_count(dashboard, "1", committed)
        wait_for_count(public, "1", committed)
        assert took < FRESH_WITHIN_MS / 1000
        expect(dashboard.locator("[data-live-percent]")).to_have_text("(5%)")
        assert dashboard.locator("progress").get_attribute("value") is not None
        assert dashboard.evaluate("document.querySelector('progress').value") == 1
        expect(dashboard.locator("[data-live-announce]")).to_have_text("1 of 20 signatures.")

        committed = confirm_in_another_process(app, "M002", "M003")
        wait_for_count(dashboard, "3", committed)
        wait_for_count(public, "3", committed)
        expect(public.locator("[data-live-percent]")).to_have_text("(15%)")
        assert public.evaluate("document.querySelector('progress').value") == 3

        # No reload happened: the page is the one first loaded.
        assert dashboard.evaluate("performance.timeOrigin") == loaded
        # The sections follow within their cache age and the script's poll.
        regions = dashboard.locator('[data-section="regions"]')
        expect(regions).to_contain_text("West", timeout=12000)  # M003's region
        expect(regions).to_contain_text("South")
        funnel = dashboard.locator('[data-section="funnel"]')
        expect(funnel.locator("tr", has_text="Counted")).to_contain_text("3")
        for tab in (dashboard, public):
            assert tab.evaluate("window.__cspViolations || []") == []
    finally:
        context.close()
        public_context.close()
    assert not errors, f"console errors: {errors}"
    assert not public_errors, f"console errors: {public_errors}"


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_words_follow_the_count_past_the_threshold_without_a_reload(
    app, base_url, browser, viewport
):
    add_members(app, *MEMBERS[:3])
    open_petition(app, threshold=2)
    context, page, errors = open_page(browser, viewport=viewport, timezone_id="Asia/Tokyo")
    try:
        page.goto(f"{base_url}/p/vote")
        words = page.locator(".progress-text")
        expect(words).to_contain_text("0 of 2 signatures needed")
        loaded = page.evaluate("performance.timeOrigin")

        confirm_in_another_process(app, "M001", "M002")

        expect(words).to_contain_text("2 signatures: threshold of 2 reached on", timeout=5000)
        reached = petition(app).reached_at
        # The date is the reader's: in Tokyo, nine hours ahead of UTC.
        expect(words.locator("time")).to_have_attribute("datetime", re.compile(r"^\d{4}-"))
        local = (reached + timedelta(hours=9)).date()
        expect(words.locator("time")).to_have_text(f"{local.day} {local:%B %Y}")
        assert "needed" not in words.inner_text()
        expect(page.locator("[data-live-percent]")).to_have_text("(100%)")

        confirm_in_another_process(app, "M003")
        expect(page.locator("[data-live-value]")).to_have_text("3", timeout=5000)
        expect(words).to_contain_text("3 signatures: threshold of 2 reached on")
        assert page.evaluate("performance.timeOrigin") == loaded
    finally:
        context.close()
    assert not errors, f"console errors: {errors}"


def test_the_public_page_works_without_javascript(app, base_url, browser):
    add_members(app, *MEMBERS[:3])
    open_petition(app, threshold=20)
    confirm_in_another_process(app, "M001")
    context, page, errors = open_page(browser, java_script_enabled=False)
    try:
        page.goto(f"{base_url}/p/vote")
        expect(page.locator("[data-live-value]")).to_have_text("1")
        assert page.locator("[data-live-status]").is_hidden()
        expect(page.locator("#email")).to_be_visible()
    finally:
        context.close()
    assert not errors


def arrange_a_busy_petition(app) -> None:
    """Signatures spread over the last hour, in every region, past the threshold, requests to
    sign that ended in several ways (answered when the worker runs), and a webhook the ballot
    system did not take."""
    add_members(app, *MEMBERS, ("L1", "lapsed@example.org", "lapsed", "North"))
    configure(app, ballot_webhook_url=f"http://127.0.0.1:{free_port()}/ballot")
    open_petition(app, threshold=25)
    for member_id, *_ in MEMBERS[:32]:
        [token] = tokens_for(app, member_id)
        assert (
            signing.confirm(flask_db.engine_of(app), settings_of(app), token).status == "confirmed"
        )
    start = utcnow() - timedelta(minutes=45)
    with Session(flask_db.engine_of(app)) as session:
        for number in range(1, 33):
            moment = start + timedelta(seconds=number * number * 2.5)
            session.execute(
                update(Signature).where(Signature.number == number).values(confirmed_at=moment)
            )
        session.commit()
    client = app.test_client()
    asking = [email for _id, email, *_ in MEMBERS[30:]]  # two signed, eight not yet
    asking += ["lapsed@example.org", "stranger@example.org", "someone@example.org"]
    for email in asking:
        response = client.post("/api/v1/petitions/vote/signatures", json={"email": email})
        assert response.status_code == 202


@pytest.mark.parametrize(("name", "viewport"), [("phone", PHONE), ("desktop", DESKTOP)])
def test_the_dashboard_fits_the_screen_and_retries_a_webhook(
    app, base_url, browser, worker, name, viewport
):
    arrange_a_busy_petition(app)
    worker.run_pending()  # the webhook's first try fails: nothing listens there
    context, page, errors = signed_in_context(app, browser, viewport=viewport)
    try:
        page.goto(f"{base_url}/organiser/p/vote")
        expect(page.locator("[data-live-value]")).to_have_text("32")
        expect(page.locator('[data-section="webhooks"]')).to_contain_text("Not delivered yet")
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        # One chart is shown (and in the accessibility tree): the narrow one on a phone.
        chart = page.get_by_role("img", name="Counted signatures over time")
        expect(chart).to_have_count(1)
        expect(chart).to_be_visible()
        variant = "chart-narrow" if name == "phone" else "chart-wide"
        assert variant in chart.get_attribute("class")
        if os.environ.get("PETITIONS_SCREENSHOTS") == "1":
            page.screenshot(path=SCREENSHOTS / f"dashboard-{name}.png", full_page=True)
        page.get_by_role("button", name="Retry now").click()
        expect(page.locator(".notice")).to_contain_text("will be tried again within a few seconds")
        assert page.url.endswith("/organiser/p/vote#webhooks")
        assert page.evaluate("window.__cspViolations || []") == []
    finally:
        context.close()
    assert not errors, f"console errors: {errors}"
