"""After an organiser opens a petition, in headless Chromium at a phone's width and a
desktop's: the page they land on gives the public link (with a button to copy it), the QR code of
that link, and "Invite members" as the next step.

SQLite only; skipped without /usr/bin/chromium unless PETITIONS_TEST_REQUIRE_BROWSER=1. With
PETITIONS_SCREENSHOTS=1 the page is saved as docs/screenshots/petition-opened-*.png.
"""

import os

import pytest
from playwright.sync_api import expect
from sqlmodel import Session

import tests.browser.test_signing as browser_tests
from petitions.db import flask_db
from petitions.lifecycle import rules
from tests.browser_support import (
    DESKTOP,
    PHONE,
    SCREENSHOTS,
    axe_problems,
    page_in_context,
    session_cookie,
)
from tests.helpers import add_members, sign_in

database_url = browser_tests.database_url


@pytest.mark.parametrize(("size", "viewport"), [("phone", PHONE), ("desktop", DESKTOP)])
def test_opening_a_petition_lands_on_its_link_qr_code_and_invite_members(
    app, base_url, browser, size, viewport
):
    add_members(app, ("M1", "m1@example.org"))
    with Session(flask_db.engine_of(app)) as session:
        rules.create_petition(session, slug="vote", title="Fair pay", threshold=100)
        session.commit()
    client = app.test_client()
    sign_in(app, client)
    with page_in_context(browser, viewport=viewport, bypass_csp=True) as (page, errors):
        page.context.add_cookies([session_cookie(client, base_url)])
        page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
        page.goto(f"{base_url}/organiser/p/vote/settings")
        expect(page.locator(".next-steps")).to_have_count(0)
        page.goto(f"{base_url}/organiser/p/vote/open")
        page.get_by_role("button", name="Yes, open the petition").click()

        page.wait_for_url(f"{base_url}/organiser/p/vote/settings")
        steps = page.locator("section.next-steps")
        expect(steps.locator("h2")).to_have_text("Next steps: tell members")
        link = steps.get_by_label("The petition's link")
        expect(link).to_have_value(f"{base_url}/p/vote")
        steps.get_by_role("button", name="Copy link").click()
        expect(steps.get_by_role("status")).to_contain_text("Link copied")
        assert page.evaluate("navigator.clipboard.readText()") == f"{base_url}/p/vote"
        qr = steps.get_by_role("img", name=f"QR code of the petition's link, {base_url}/p/vote")
        assert page.evaluate("img => img.complete && img.naturalWidth > 0", qr.element_handle())
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
        if os.environ.get("PETITIONS_SCREENSHOTS") == "1":
            page.screenshot(path=SCREENSHOTS / f"petition-opened-{size}.png", full_page=True)
        assert axe_problems(page) == []

        steps.get_by_role("link", name="Invite members").click()
        page.wait_for_url(f"{base_url}/organiser/p/vote/invitations")
        expect(page.get_by_role("heading", name="Invite members to sign")).to_be_visible()
    assert errors == []
