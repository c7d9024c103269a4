"""The invitations page in headless Chromium, on a phone-sized screen: starting a run from the
form, the progress moving live without a reload, the buttons following the run's state, and
nothing blocked by the Content-Security-Policy or logged to the console.

Chromium and the served app are the fixtures of tests/conftest.py (SQLite only; skipped without
/usr/bin/chromium unless PETITIONS_TEST_REQUIRE_BROWSER=1).
"""

from playwright.sync_api import expect

import tests.browser.test_signing as browser_tests
from tests.browser_support import PHONE, RECORD_VIOLATIONS, open_page, session_cookie
from tests.helpers import add_members, open_petition, sign_in
from tests.invitations.test_runs import invitation_mail, make_due, runs

database_url = browser_tests.database_url

MEMBERS = [
    (f"M{n}", f"m{n}@example.org", "active", "North" if n % 2 else "South") for n in range(8)
]


def test_a_run_started_in_the_browser_shows_its_progress_live(
    app, client, base_url, browser, worker
):
    add_members(app, *MEMBERS)
    open_petition(app, threshold=100)
    sign_in(app, client)
    context, page, errors = open_page(browser, viewport=PHONE)
    context.add_cookies([session_cookie(client, base_url)])
    page.add_init_script(RECORD_VIOLATIONS)
    try:
        page.goto(f"{base_url}/organiser/p/vote/invitations")
        page.select_option("#region", label="North (4 to invite)")
        page.fill("#rate", "24")  # two a batch
        page.get_by_role("button", name="Start sending invitations").click()
        expect(page.locator("p.notice")).to_contain_text("Sending invitations to 4 members")
        row = page.locator("tr[data-run]")
        numbers = row.locator('[data-field="numbers"]')
        expect(numbers).to_have_text("0 of 4 sent")
        expect(numbers).to_have_attribute("aria-live", "polite")

        worker.run_pending()  # the first batch, while the page stays open
        expect(numbers).to_have_text("2 of 4 sent", timeout=10_000)
        assert row.locator("progress").evaluate("bar => [bar.value, bar.max]") == [2, 4]
        expect(row.get_by_role("button", name="Pause run")).to_be_visible()
        expect(row.get_by_role("button", name="Resume run")).to_be_hidden()

        make_due(app)
        worker.run_pending()  # the last batch: the run finishes
        expect(row.locator('[data-field="state"]')).to_have_text("Finished", timeout=10_000)
        expect(numbers).to_have_text("4 of 4 sent")
        expect(row.get_by_role("button", name="Pause run")).to_be_hidden()
        expect(row.get_by_role("button", name="Cancel run")).to_be_hidden()
        assert sorted(m.to_address for m in invitation_mail(app)) == [
            "m1@example.org",
            "m3@example.org",
            "m5@example.org",
            "m7@example.org",
        ]
        assert runs(app)[0].region == "North"
        # Nothing wider than a phone's screen but the table, which scrolls in its own box.
        overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
        assert not overflow
        assert page.evaluate("window.__cspViolations") == []
    finally:
        context.close()
    assert errors == []
