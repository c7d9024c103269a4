"""An organiser signs in in headless Chromium through the dev mailbox, and signs out.

SQLite only; skipped without /usr/bin/chromium unless PETITIONS_TEST_REQUIRE_BROWSER=1.
"""

import pytest
from playwright.sync_api import expect

from tests.browser_support import PHONE, page_in_context, served


@pytest.fixture
def database_url(tmp_path):
    """SQLite only: this test is about the browser, not the backend."""
    return f"sqlite:///{tmp_path / 'test.db'}"


def test_an_organiser_signs_in_by_the_mailed_link_and_signs_out(app, runner, worker, browser):
    assert (
        runner.invoke(args=["user", "add", "ada@example.org", "--role", "organiser"]).exit_code == 0
    )
    with served(app) as base, page_in_context(browser, viewport=PHONE) as (page, errors):
        page.goto(f"{base}/organiser/")
        expect(page.locator("h1")).to_have_text("Sign in")
        page.get_by_label("Your e-mail address").fill("ada@example.org")
        page.get_by_role("button", name="E-mail me a sign-in link").click()
        expect(page.locator("h1")).to_have_text("Check your e-mail")
        assert worker.run_pending() >= 1

        page.goto(f"{base}/dev/mail")
        link = page.get_by_role("link", name="/sign-in/link?token=").first
        page.goto(link.get_attribute("href"))
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("h1")).to_have_text("Petitions")
        expect(page.locator(".account-name")).to_contain_text(
            "Signed in as ada@example.org, organiser"
        )

        page.get_by_role("button", name="Sign out").click()
        expect(page.locator("h1")).to_have_text("You are signed out")
        page.goto(f"{base}/organiser/")
        expect(page.locator("h1")).to_have_text("Sign in")
    assert errors == []
