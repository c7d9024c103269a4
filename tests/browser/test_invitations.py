"""The invitations page in headless Chromium: reviewing a run (recipients, pace, time and the
e-mail) and confirming it, the progress moving live without a reload, the buttons following the
run's state, and nothing blocked by the Content-Security-Policy or logged to the console; the
review page at a phone's width and a desktop's, checked with axe.

Chromium and the served app are the fixtures of tests/conftest.py (SQLite only; skipped without
/usr/bin/chromium unless PETITIONS_TEST_REQUIRE_BROWSER=1).
"""

import pytest
from playwright.sync_api import expect

import tests.browser.test_signing as browser_tests
from tests.browser_support import (
    AXE,
    DESKTOP,
    PHONE,
    RECORD_VIOLATIONS,
    WCAG_TAGS,
    open_page,
    require_axe,
    session_cookie,
)
from tests.helpers import add_members, open_petition, petition, sign_in
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
        page.get_by_role("button", name="Review the invitations").click()
        expect(page.locator("h1")).to_have_text("Send 4 invitations?")
        page.get_by_role("button", name="Yes, send 4 invitations").click()
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


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_invitations_are_reviewed_before_they_go(app, client, base_url, browser, viewport):
    require_axe()
    add_members(app, *MEMBERS)
    open_petition(app, threshold=100)
    sign_in(app, client)
    # axe is injected as a script of its own: the content security policy would refuse it.
    context, page, errors = open_page(browser, viewport=viewport, bypass_csp=True)
    context.add_cookies([session_cookie(client, base_url)])
    try:
        page.goto(f"{base_url}/organiser/p/vote/invitations")
        page.fill("#rate", "6")
        page.get_by_role("button", name="Review the invitations").click()
        expect(page.locator("h1")).to_have_text("Send 8 invitations?")
        expect(page.locator("#review-recipients")).to_have_text("8 members")
        expect(page.locator("#review-pace")).to_contain_text("6 e-mails a minute")
        # 6 a minute is one a batch, a batch every 10 seconds: 70 seconds for 8.
        expect(page.locator("#review-duration")).to_have_text("About 1 minute")
        subject = f"You are invited to sign: {petition(app).title}"
        expect(page.locator("#review-subject")).to_have_text(subject)
        mail = page.frame_locator("iframe.invite-preview-frame")
        expect(mail.get_by_text("Hello Jo Bloggs,")).to_be_visible()
        button = mail.get_by_role("link", name="Sign the petition")
        expect(button).to_have_attribute("href", "https://link-made-when-sent.invalid/link")
        assert runs(app) == [], "nothing starts before the confirmation"

        page.add_script_tag(path=str(AXE))
        result = page.evaluate(
            "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_TAGS
        )
        problems = [
            f"{v['id']} [{v['impact']}] {v['help']}"
            for v in result["violations"]
            if v["impact"] in {"serious", "critical"}
        ]
        assert problems == []
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"the review scrolls sideways by {overflow}px"
        # Its screenshots are the accessibility test's (invitations-review-*.png).

        page.get_by_role("button", name="Yes, send 8 invitations").click()
        expect(page.locator("p.notice")).to_contain_text("Sending invitations to 8 members")
        assert [(run.total, run.rate_per_minute) for run in runs(app)] == [(8, 6)]
    finally:
        context.close()
    assert errors == []
