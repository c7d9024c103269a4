"""Withdrawing a signature in headless Chromium, at a phone's width and a desktop's: from the
petition page to the "manage my signature" form, the uniform answer, the mailed link's page
(which says that a triggered petition stays triggered) and its button, the receipt that then
says the member withdrew it, and the page for a link used after the close. axe finds no
serious or critical problem on any of them, and nothing scrolls sideways on the phone.

With PETITIONS_SCREENSHOTS=1 each page is saved as docs/screenshots/withdraw-*-{phone,desktop}.png.
"""

import os

import pytest
from playwright.sync_api import expect

from petitions.jobs.dispatch import housekeeping
from tests.browser_support import DESKTOP, PHONE, SCREENSHOTS, axe_problems, page_in_context
from tests.helpers import add_members, open_petition, petition, sent_mail
from tests.signatures.test_withdrawal import withdraw_token_in
from tests.transparency.test_store import confirm

SIZES = [("phone", PHONE), ("desktop", DESKTOP)]
MEMBERS = [("W1", "ann@example.org"), ("W2", "bob@example.org")]


@pytest.fixture
def database_url(tmp_path):
    """SQLite only: these tests are about the browser, not the backend."""
    return f"sqlite:///{tmp_path / 'test.db'}"


def looked_at(page, name: str, size: str) -> None:
    """Check the page as it is now with axe and for sideways scrolling; save it if asked."""
    assert axe_problems(page) == [], name
    if size == "phone":
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1
    if os.environ.get("PETITIONS_SCREENSHOTS") == "1":
        page.screenshot(path=SCREENSHOTS / f"withdraw-{name}-{size}.png", full_page=True)


@pytest.mark.parametrize(("size", "viewport"), SIZES)
def test_a_member_withdraws_in_the_browser(app, base_url, browser, worker, size, viewport):
    add_members(app, *MEMBERS)
    open_petition(app, threshold=2)
    receipt = confirm(app, "W1")
    confirm(app, "W2")
    assert petition(app).state == "triggered"
    with page_in_context(browser, viewport=viewport, bypass_csp=True) as (page, errors):
        page.goto(f"{base_url}/p/vote")
        page.get_by_role("link", name="Manage or withdraw your signature").click()
        expect(page.locator("h1")).to_have_text("Manage your signature")
        looked_at(page, "manage", size)

        page.get_by_label("E-mail address").fill("Ann@Example.org")
        page.get_by_role("button", name="E-mail me the link").click()
        expect(page.locator("h1")).to_have_text("Check your inbox")
        expect(page.locator("main")).to_contain_text("this page says the same whoever asks")
        looked_at(page, "check-email", size)

        worker.run_pending()
        [mail] = [m for m in sent_mail(app, "ann@example.org") if m.purpose == "manage_link"]
        page.goto(f"{base_url}/p/vote/withdraw?token={withdraw_token_in(mail.text_body)}")
        expect(page.locator("h1")).to_have_text("Withdraw your signature")
        expect(page.locator(".withdraw-note")).to_contain_text("It stays called")
        looked_at(page, "confirm", size)
        assert petition(app).signature_count == 2  # opening the link changed nothing

        page.get_by_role("button", name="Withdraw my signature").click()
        expect(page.locator("h1")).to_have_text("Your signature is withdrawn")
        expect(page.locator("main")).to_contain_text("The petition now has 1 signature.")
        looked_at(page, "done", size)
        stored = petition(app)
        assert (stored.signature_count, stored.state) == (1, "triggered")

        housekeeping(app)
        page.goto(
            f"{base_url}/p/vote/receipt?index={receipt['leaf_index']}"
            f"&leaf_hash={receipt['leaf_hash']}"
        )
        result = page.locator("#receipt-result")
        expect(result).to_have_class("check-cancelled", timeout=15_000)
        expect(page.locator("#receipt-cancelled")).to_contain_text("the member withdrew it")
        looked_at(page, "receipt", size)

        runner = app.test_cli_runner()
        assert runner.invoke(args=["petition", "close", "vote"]).exit_code == 0
        page.goto(f"{base_url}/p/vote/withdraw?token={withdraw_token_in(mail.text_body)}")
        expect(page.locator("h1")).to_have_text("This petition is closed")
        expect(page.locator("main")).to_contain_text("can no longer be withdrawn")
        looked_at(page, "closed", size)
    # The closed page is answered 409, which the browser reports as a failed load.
    unexpected = [e for e in errors if "status of 409" not in e]
    assert not unexpected, f"console errors: {unexpected}"
