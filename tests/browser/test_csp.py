"""The signer's pages under the Content-Security-Policy, in Debian's headless Chromium: nothing
on them is blocked, and nothing is logged to the console.

Chromium, the served app and the console capture are those of tests/browser_support.py (SQLite
only; skipped without /usr/bin/chromium unless PETITIONS_TEST_REQUIRE_BROWSER=1).
"""

import re

from playwright.sync_api import expect

import tests.browser.test_signing as browser_tests
from petitions.jobs.dispatch import housekeeping
from tests.browser_support import RECORD_VIOLATIONS, open_page
from tests.helpers import add_members, link_in, open_petition, sent_mail

# SQLite only, as in tests/browser/test_signing.py.
database_url = browser_tests.database_url


def test_the_signing_pages_run_under_the_policy_without_violations(app, base_url, browser, worker):
    add_members(app, *browser_tests.MEMBERS[:2])
    open_petition(app, threshold=1000, body="Hold a vote.\n\nA second paragraph.")
    context, page, errors = open_page(browser)
    page.add_init_script(RECORD_VIOLATIONS)
    violations: list[str] = []

    def visited(response, path_pattern: str) -> None:
        """Check the page just opened: served with the policy, and nothing on it blocked."""
        assert response is not None
        assert re.search(path_pattern, page.url), page.url
        assert "script-src 'self'" in response.headers["content-security-policy"]
        violations.extend(f"{page.url}: {v}" for v in page.evaluate("window.__cspViolations"))

    try:
        visited(page.goto(f"{base_url}/"), r"/$")
        expect(page.locator("h1")).to_have_text("Open petitions")

        visited(page.goto(f"{base_url}/p/vote"), r"/p/vote$")
        page.fill("#email", browser_tests.MEMBERS[0][1])
        with page.expect_navigation() as signed:
            page.get_by_role("button", name="Sign").click()
        visited(signed.value, r"/p/vote/check-email$")
        assert worker.run_pending() >= 1

        link = link_in(sent_mail(app)[-1].text_body)
        visited(page.goto(link), r"/p/vote/confirm\?token=")
        expect(page.locator("h1")).to_have_text("Confirm your signature")
        with page.expect_navigation() as confirmed:
            page.get_by_role("button", name="Confirm my signature").click()
        visited(confirmed.value, r"/p/vote/confirm$")
        expect(page.locator("h1")).to_have_text("Thank you: your signature is counted")

        housekeeping(app)
        with page.expect_navigation() as receipt:
            page.get_by_role("link", name="Check my signature in the public log").click()
        visited(receipt.value, r"/p/vote/receipt\?index=0&leaf_hash=[0-9a-f]{64}$")
        # The receipt's script (a file of our own) runs: it fetches the head and the proof.
        expect(page.locator("#receipt-result")).to_contain_text(browser_tests.IN_LOG)
        violations.extend(page.evaluate("window.__cspViolations"))

        assert not errors, f"console errors: {errors}"
        assert not violations, f"CSP violations: {violations}"

        # The check above can see a violation: an inline style is refused and reported.
        page.evaluate("document.body.setAttribute('style', 'color: red')")
        page.wait_for_function("window.__cspViolations.length > 0")
        assert "style-src" in page.evaluate("window.__cspViolations")[0]
        assert any("Content Security Policy" in error for error in errors)
    finally:
        context.close()
