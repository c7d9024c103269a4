"""Forms a person can fix, in headless Chromium at a phone's width and a desktop's: a refused
form opens on an error summary that has the focus, links to each field at fault (following a
link puts the focus in the field), "Error: " starts the page's title, the messages are in plain
words, and the summary is there without JavaScript too. On a phone the sign form comes before
the petition's text.

SQLite only; skipped without /usr/bin/chromium unless PETITIONS_TEST_REQUIRE_BROWSER=1. With
PETITIONS_SCREENSHOTS=1 the refused sign form is saved as docs/screenshots/sign-error-*.png.
"""

import io
import os

import pytest
from playwright.sync_api import expect

import tests.browser.test_signing as browser_tests
from petitions.db import flask_db
from petitions.roll.importer import import_roll
from tests.browser_support import (
    DESKTOP,
    PHONE,
    SCREENSHOTS,
    axe_problems,
    page_in_context,
    served,
    session_cookie,
)
from tests.helpers import open_petition, sign_in

database_url = browser_tests.database_url
SIZES = [("phone", PHONE), ("desktop", DESKTOP)]
LONG_TEXT = "\n\n".join(
    "We, the undersigned members, ask for an all-member vote on the proposal. " * 12
    for _ in range(6)
)


def unexpected(errors: list[str]) -> list[str]:
    """The console errors other than the refused form's own 400 answer."""
    return [e for e in errors if "status of 400" not in e]


def expect_summary(page, title: str, messages: list[str]) -> None:
    """The page is a refused form's: its title, a focused summary listing ``messages``."""
    expect(page).to_have_title(f"Error: {title} · Member petitions")
    summary = page.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    expect(summary).to_have_attribute("role", "alert")
    expect(summary.locator("h2")).to_have_text("There is a problem")
    expect(summary.locator("li")).to_have_text(messages)


def follow_each_link(page) -> list[str]:
    """Follow every link of the summary; the ids of the fields that got the focus."""
    focused = []
    links = page.locator("[data-error-summary] a")
    for index in range(links.count()):
        links.nth(index).click()
        focused.append(page.evaluate("document.activeElement.id"))
    return focused


@pytest.mark.parametrize(("size", "viewport"), SIZES)
def test_a_refused_sign_form_opens_on_a_summary_that_leads_to_the_field(
    app, browser, size, viewport
):
    open_petition(app, threshold=100, body=LONG_TEXT)
    with (
        served(app) as base,
        page_in_context(browser, viewport=viewport, bypass_csp=True) as (page, errors),
    ):
        page.goto(f"{base}/p/vote")
        # The form comes before the long text, and on a phone within the first screens.
        sign_top = page.locator("section.sign").bounding_box()["y"]
        assert sign_top < page.locator(".petition-text").bounding_box()["y"]
        assert sign_top < viewport["height"]

        page.fill("#email", "jo at example dot org")
        page.fill("#member_id", "m 12")
        page.get_by_role("button", name="Sign").click()
        message = "Enter your e-mail address in the form name@example.org, without spaces."
        expect_summary(page, "Petition vote", [message])
        assert "@-sign" not in page.locator("main").inner_text()
        expect(page.locator("#email-error")).to_have_text(f"Error: {message}")
        expect(page.locator("#email")).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#email")).to_have_value("jo at example dot org")
        expect(page.locator("#member_id")).to_have_value("m 12")
        if os.environ.get("PETITIONS_SCREENSHOTS") == "1":
            page.screenshot(path=str(SCREENSHOTS / f"sign-error-{size}.png"))
        assert follow_each_link(page) == ["email"]
        assert axe_problems(page) == []

        page.fill("#email", "")
        page.get_by_role("button", name="Sign").click()
        expect_summary(page, "Petition vote", ["Enter your e-mail address."])
    assert unexpected(errors) == []


def test_the_summary_is_there_without_javascript(app, browser):
    open_petition(app, threshold=100)
    with (
        served(app) as base,
        page_in_context(browser, viewport=PHONE, java_script_enabled=False) as (page, errors),
    ):
        page.goto(f"{base}/p/vote")
        page.fill("#email", "nobody")
        page.get_by_role("button", name="Sign").click()
        expect(page).to_have_title("Error: Petition vote · Member petitions")
        summary = page.locator(".error-summary")
        expect(summary).to_be_visible()
        expect(summary.get_by_role("link")).to_have_attribute("href", "#email")
        # Above the petition's heading, where a reader starts.
        assert summary.bounding_box()["y"] < page.locator("h1").bounding_box()["y"]
    assert unexpected(errors) == []


@pytest.mark.parametrize(("size", "viewport"), SIZES)
def test_sign_in_and_the_organiser_forms_sum_up_their_errors(app, browser, size, viewport):
    import_roll(
        flask_db.engine_of(app), io.BytesIO(b"member_id,email\nM1,m1@example.org\n"), "roll.csv"
    )
    open_petition(app, threshold=100)
    client = app.test_client()
    sign_in(app, client, "organiser@example.org", "organiser")
    with (
        served(app) as base,
        page_in_context(browser, viewport=viewport, bypass_csp=True) as (page, errors),
    ):
        page.goto(f"{base}/sign-in")
        page.fill("#email", "organiser at example")
        page.get_by_role("button", name="E-mail me a sign-in link").click()
        expect_summary(
            page,
            "Sign in",
            ["Enter your e-mail address in the form name@example.org, without spaces."],
        )
        assert follow_each_link(page) == ["email"]
        assert axe_problems(page) == []

        page.context.add_cookies([session_cookie(client, base)])
        page.goto(f"{base}/organiser/petitions/new")
        page.get_by_role("button", name="Create draft petition").click()
        summary = page.locator("[data-error-summary]")
        expect(summary).to_be_focused()
        assert page.title().startswith("Error: New petition")
        assert summary.locator("li").count() >= 2
        focused = follow_each_link(page)
        assert "threshold" in focused
        assert "title" in focused
        assert axe_problems(page) == []

        page.goto(f"{base}/organiser/p/vote/invitations")
        page.fill("#rate", "0")
        page.get_by_role("button", name="Review the invitations").click()
        expect(page.locator("[data-error-summary]")).to_be_focused()
        assert page.title().startswith("Error: Invitations: Petition vote")
        assert follow_each_link(page) == ["rate"]
        assert axe_problems(page) == []

        page.goto(f"{base}/organiser/roll")
        page.set_input_files(
            "#roll-file", files=[{"name": "empty.csv", "mimeType": "text/csv", "buffer": b""}]
        )
        page.get_by_role("button", name="Upload and import").click()
        expect_summary(page, "Membership roll", ["The file empty.csv is empty: nothing to import."])
        assert follow_each_link(page) == ["roll-file"]
        assert axe_problems(page) == []

        page.goto(f"{base}/scrutiny/p/vote/commitment-key")
        page.get_by_role("button", name="Reveal the commitment key").click()
        expect_summary(
            page,
            "Commitment key: Petition vote",
            ["Tick the box to confirm: revealing the key is recorded in the audit trail."],
        )
        assert follow_each_link(page) == ["confirm"]
        assert axe_problems(page) == []
    assert unexpected(errors) == []
