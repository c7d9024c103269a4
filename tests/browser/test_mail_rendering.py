"""The e-mail a member gets, as a phone shows it: a real confirmation mail's HTML part rendered
in headless Chromium at 390 px (and at a desktop's width) wraps its long link instead of
scrolling sideways, with the button and the whole link in view; and the dev mailbox shows that
HTML part, in a sandboxed frame, above the text part.

SQLite only; skipped without /usr/bin/chromium unless PETITIONS_TEST_REQUIRE_BROWSER=1. With
PETITIONS_SCREENSHOTS=1 the pages are saved as docs/screenshots/mail-html-*.png and
dev-mail-*.png.
"""

import os

import pytest
from playwright.sync_api import expect

import tests.browser.test_signing as browser_tests
from tests.browser_support import DESKTOP, SCREENSHOTS, axe_problems, page_in_context
from tests.helpers import add_members, link_in, open_petition, sent_mail

database_url = browser_tests.database_url
# The width of a common phone's screen in CSS pixels.
PHONE_390 = {"width": 390, "height": 844}
SIZES = [("phone", PHONE_390), ("desktop", DESKTOP)]


def confirmation_mail(app, base_url: str, worker):
    """A confirmation mail as the worker sent it, asked for through the sign form."""
    add_members(app, ("M1", "ann.longname-for-testing@example.org"))
    open_petition(app, threshold=100)
    response = app.test_client().post(
        "/p/vote/sign", data={"email": "ann.longname-for-testing@example.org"}
    )
    assert response.status_code == 303
    assert worker.run_pending() >= 1
    (mail,) = sent_mail(app)
    assert link_in(mail.text_body).startswith(f"{base_url}/p/vote/confirm?token=")
    return mail


def sideways(page) -> int:
    """How far the page scrolls sideways, in CSS pixels."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


@pytest.mark.parametrize(("size", "viewport"), SIZES)
def test_a_confirmation_mails_html_part_fits_a_phone(
    app, base_url, browser, worker, size, viewport
):
    mail = confirmation_mail(app, base_url, worker)
    link = link_in(mail.text_body)
    assert len(link) > 100, "the test needs a link longer than a phone's line"
    with page_in_context(browser, viewport=viewport) as (page, errors):
        page.set_content(mail.html_body)
        assert sideways(page) <= 0
        button = page.get_by_role("link", name="Confirm my signature")
        expect(button).to_have_attribute("href", link)
        expect(button).to_be_in_viewport()
        copy = page.get_by_text("Or copy this address into your browser")
        expect(copy).to_contain_text(link)
        box = copy.bounding_box()
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= viewport["width"]
        if os.environ.get("PETITIONS_SCREENSHOTS") == "1":
            page.screenshot(path=SCREENSHOTS / f"mail-html-{size}.png", full_page=True)
    assert errors == []


@pytest.mark.parametrize(("size", "viewport"), SIZES)
def test_the_dev_mailbox_shows_the_html_part_as_members_see_it(
    app, base_url, browser, worker, size, viewport
):
    mail = confirmation_mail(app, base_url, worker)
    link = link_in(mail.text_body)
    with page_in_context(browser, viewport=viewport) as (page, errors):
        page.goto(f"{base_url}/dev/mail")
        frame = page.frame_locator(f"#mail-{mail.id} iframe.mail-html")
        button = frame.get_by_role("link", name="Confirm my signature")
        expect(button).to_be_visible()
        expect(button).to_have_attribute("href", link)
        expect(frame.locator("body")).to_contain_text(link)
        # Its own inline styles apply under its own policy: the button is drawn as a button.
        expect(button).to_have_css("background-color", "rgb(11, 83, 148)")
        # The text part is still there, its link clickable.
        expect(page.locator(f"#mail-{mail.id} pre.mail-body a")).to_have_attribute("href", link)
        assert sideways(page) <= 0
        if os.environ.get("PETITIONS_SCREENSHOTS") == "1":
            page.screenshot(path=SCREENSHOTS / f"dev-mail-{size}.png", full_page=True)
    assert errors == []
    # axe is injected as a script of its own, which the page's policy would refuse.
    with page_in_context(browser, viewport=viewport, bypass_csp=True) as (page, _errors):
        page.goto(f"{base_url}/dev/mail")
        assert axe_problems(page) == []
