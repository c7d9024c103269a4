""" "Was my name used?" in headless Chromium, at a phone's width and a desktop's: the small form on
the petition page, the uniform answer, the mail in the development mailbox (the signature's
entry, its receipt link and the "I did not sign this" button), the receipt the mail links to
(checked in the browser), the report page and its button, and the results page that then counts
the report. axe finds no serious or critical problem on any of them, and nothing scrolls
sideways on the phone.

With PETITIONS_SCREENSHOTS=1 each page is saved as
docs/screenshots/name-check-*-{phone,desktop}.png.
"""

import os
import re

import pytest
from playwright.sync_api import expect

from petitions.jobs.dispatch import housekeeping
from tests.browser_support import DESKTOP, PHONE, SCREENSHOTS, axe_problems, page_in_context
from tests.helpers import add_members, open_petition, sent_mail
from tests.signatures.test_name_check import RECEIPT_LINK, report_token_in
from tests.transparency.test_store import confirm

SIZES = [("phone", PHONE), ("desktop", DESKTOP)]
MEMBERS = [("N1", "ann@example.org"), ("N2", "bob@example.org")]


@pytest.fixture
def database_url(tmp_path):
    """SQLite only: these tests are about the browser, not the backend."""
    return f"sqlite:///{tmp_path / 'test.db'}"


def looked_at(page, name: str, size: str, axe: bool = True) -> None:
    """Check the page as it is now with axe and for sideways scrolling; save it if asked."""
    if axe:
        assert axe_problems(page) == [], name
    if size == "phone":
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1
    if os.environ.get("PETITIONS_SCREENSHOTS") == "1":
        page.screenshot(path=SCREENSHOTS / f"name-check-{name}-{size}.png", full_page=True)


@pytest.mark.parametrize(("size", "viewport"), SIZES)
def test_a_member_asks_and_reports_in_the_browser(app, base_url, browser, worker, size, viewport):
    add_members(app, *MEMBERS)
    open_petition(app, threshold=5)
    confirm(app, "N1")
    confirm(app, "N2")
    housekeeping(app)
    with page_in_context(browser, viewport=viewport, bypass_csp=True) as (page, errors):
        page.goto(f"{base_url}/p/vote")
        form = page.locator("section.name-check")
        expect(form.get_by_role("heading", name="Was my name used?")).to_be_visible()
        form.scroll_into_view_if_needed()
        looked_at(page, "petition", size)

        form.get_by_label("E-mail address").fill("Bob@Example.org")
        form.get_by_role("button", name="E-mail me the answer").click()
        expect(page.locator("h1")).to_have_text("Check your inbox")
        expect(page.locator("main")).to_contain_text("this page says the same whoever asks")
        looked_at(page, "answer", size)

        worker.run_pending()
        [mail] = [m for m in sent_mail(app, "bob@example.org") if m.purpose == "name_used"]
        page.goto(f"{base_url}/dev/mail")
        frame = page.frame_locator(f"#mail-{mail.id} iframe.mail-html")
        expect(frame.get_by_role("link", name="I did not sign this")).to_be_visible()
        expect(frame.locator("body")).to_contain_text("entry 2 of the public log")
        looked_at(page, "mail", size)

        # The HTML part on its own: its long receipt link wraps rather than scrolling sideways.
        page.set_content(mail.html_body)
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
        expect(page.get_by_role("link", name="I did not sign this")).to_be_visible()
        if os.environ.get("PETITIONS_SCREENSHOTS") == "1":
            page.screenshot(path=SCREENSHOTS / f"name-check-mail-html-{size}.png", full_page=True)

        # The receipt the mail links to checks the entry in the browser.
        [receipt] = RECEIPT_LINK.findall(mail.text_body)
        page.goto(base_url + receipt)
        expect(page.locator("#receipt-result")).to_have_class("check-ok", timeout=15_000)
        looked_at(page, "receipt", size)

        page.goto(f"{base_url}/p/vote/name-report?token={report_token_in(mail.text_body)}")
        expect(page.locator("h1")).to_have_text("Report a signature you did not make")
        expect(page.locator("main")).to_contain_text("entry 2 of the public log")
        looked_at(page, "report", size)

        page.get_by_role("button", name="I did not sign this").click()
        expect(page.locator("h1")).to_have_text("Thank you: your report is made")
        looked_at(page, "reported", size)

        page.go_back()
        page.reload()
        expect(page.locator("h1")).to_have_text("This signature was already reported")
        looked_at(page, "already-reported", size)

        page.goto(f"{base_url}/p/vote/results")
        expect(page.locator("#name-reports")).to_contain_text(re.compile(r"^1\b"))
        looked_at(page, "results", size)
    assert errors == []
