"""The signatures page in Debian's headless Chromium, under the Content-Security-Policy: its
script selects a page of signatures and counts them, the review and confirmation go through,
nothing is blocked or logged to the console, and it fits a 375px-wide phone.

SQLite only; skipped without /usr/bin/chromium unless PETITIONS_TEST_REQUIRE_BROWSER=1.
"""

import pytest
from playwright.sync_api import expect

from tests.browser_support import PHONE, RECORD_VIOLATIONS, open_page, served, session_cookie
from tests.helpers import add_members, open_petition, petition, sign_in
from tests.transparency.test_store import MEMBERS, confirm


@pytest.fixture
def database_url(tmp_path):
    """SQLite only: these tests are about the browser, not the backend."""
    return f"sqlite:///{tmp_path / 'test.db'}"


def test_selecting_reviewing_and_invalidating_in_the_browser(app, client, browser):
    add_members(app, *MEMBERS[:4])
    open_petition(app, threshold=100)
    for member_id, _ in MEMBERS[:4]:
        confirm(app, member_id)
    sign_in(app, client, "organiser@example.org", "organiser")
    with served(app) as base:
        context, page, errors = open_page(browser, viewport=PHONE)
        context.add_cookies([session_cookie(client, base)])
        page.add_init_script(RECORD_VIOLATIONS)
        violations: list[str] = []

        def record_violations() -> None:
            violations.extend(page.evaluate("window.__cspViolations"))

        try:
            page.goto(f"{base}/organiser/p/vote/signatures")
            expect(page.locator("h1")).to_have_text("Signatures: Petition vote")
            select_page = page.get_by_label("Select every counted signature on this page")
            select_page.check()
            expect(page.locator("#selected-count")).to_have_text(
                "4 signatures selected on this page"
            )
            page.get_by_label("Select signature 3").uncheck()
            expect(page.locator("#selected-count")).to_have_text(
                "3 signatures selected on this page"
            )
            # Nothing on the page is wider than a phone; wide tables scroll inside their box.
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

            record_violations()
            page.get_by_label("Reason").select_option("duplicate_person")
            page.get_by_role("button", name="Review the selection").click()
            expect(page.locator("h1")).to_have_text("Confirm the invalidation")
            record_violations()
            page.get_by_role("button", name="Invalidate 3 signatures").click()
            expect(page.locator(".notice").first).to_contain_text(
                "Invalidated 3 signatures (1-2, 4)"
            )
            record_violations()
            assert violations == []
            assert not errors, f"console errors: {errors}"
        finally:
            context.close()
    assert petition(app).signature_count == 1
