"""Erasure in headless Chromium, at a phone's width and a desktop's: a lapsed member asks on
the privacy page, opens the mailed link, sees what would go and erases it; a member still on
the roll is told why not; an organiser erases for a request by post. axe-core finds no serious
violation on any page and the phone never scrolls sideways. With PETITIONS_SCREENSHOTS=1 each
page is saved under docs/screenshots.

SQLite only; skipped without /usr/bin/chromium unless PETITIONS_TEST_REQUIRE_BROWSER=1.
"""

import re

import pytest
from playwright.sync_api import expect
from sqlmodel import Session, select

from petitions.db import flask_db
from petitions.db.models import Member
from tests.browser.test_privacy import checked
from tests.browser_support import (
    DESKTOP,
    PHONE,
    page_in_context,
    require_axe,
    served,
    session_cookie,
)
from tests.helpers import (
    add_members,
    configure,
    link_in,
    open_petition,
    sent_mail,
    sign_in,
    token_of,
)

ERASE_LINK = re.compile(r"^(http://\S+/privacy/erase/\S+)$", re.MULTILINE)


@pytest.fixture
def database_url(tmp_path):
    """SQLite only: this test is about the browser, not the backend."""
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def browser(browser):
    """The session's Chromium, once axe-core is there to inject."""
    require_axe()
    return browser


@pytest.fixture
def signed(app, worker):
    """Jo (lapsed since) and Sam (on the roll) both signed."""
    configure(app, org_name="Union of Examples", org_contact_email="dpo@example.org")
    add_members(app, ("JO-0001", "jo@example.org"), ("SAM-0002", "sam@example.org"))
    open_petition(app)
    client = app.test_client()
    for email in ("jo@example.org", "sam@example.org"):
        assert client.post("/p/vote/sign", data={"email": email}).status_code == 303
        worker.run_pending()
        link = link_in(sent_mail(app, email)[-1].text_body)
        assert client.post("/p/vote/confirm", data={"token": token_of(link)}).status_code == 200
    with Session(flask_db.engine_of(app)) as session:
        jo = session.exec(select(Member).where(Member.number == "JO-0001")).one()
        jo.status = "lapsed"
        session.commit()
    return app


def ask_for_link(page, base, app, worker, email) -> str:
    """Ask on the privacy page for ``email``'s erasure; the mailed link."""
    page.goto(f"{base}/privacy")
    page.get_by_label("The e-mail address to erase").fill(email)
    page.get_by_role("button", name="E-mail me a link to erase my data").click()
    expect(page.locator("h1")).to_have_text("Check your e-mail")
    worker.run_pending()
    mail = [m for m in sent_mail(app) if m.purpose == "erasure_link"][-1]
    return ERASE_LINK.search(mail.text_body).group(1)


@pytest.mark.parametrize(("size", "viewport"), [("phone", PHONE), ("desktop", DESKTOP)])
def test_a_member_erases_their_data(signed, worker, browser, size, viewport):
    app = signed
    problems = []
    with (
        served(app) as base,
        page_in_context(browser, viewport=viewport, bypass_csp=True) as (page, errors),
    ):
        configure(app, base_url=base)
        page.goto(f"{base}/privacy")
        page.get_by_label("The e-mail address to erase").fill("not an address")
        page.get_by_role("button", name="E-mail me a link to erase my data").click()
        expect(page.locator(".error-summary")).to_be_visible()
        expect(page.get_by_label("The e-mail address to erase")).to_have_value("not an address")
        problems += checked(page, "erase-error", size)

        link = ask_for_link(page, base, app, worker, "JO@example.org")
        problems += checked(page, "erase-sent", size)
        page.goto(link)
        expect(page.locator("h1")).to_have_text("Erase your data")
        expect(page.get_by_text("Signatures kept, linked to nobody, on: vote.")).to_be_visible()
        problems += checked(page, "erase-link", size)
        page.get_by_role("button", name="Erase my data").click()
        expect(page.locator("h1")).to_have_text("Your data has been erased")
        problems += checked(page, "erased", size)
        page.goto(link)
        expect(page.get_by_text("there is nothing left to erase")).to_be_visible()
        problems += checked(page, "erase-used", size)

        refused = ask_for_link(page, base, app, worker, "sam@example.org")
        page.goto(refused)
        expect(
            page.get_by_role("heading", name="You are on the current membership roll")
        ).to_be_visible()
        expect(page.locator("#main").get_by_role("link", name="dpo@example.org")).to_be_visible()
        expect(page.get_by_role("button", name="Erase my data")).to_have_count(0)
        problems += checked(page, "erase-refused", size)
    assert problems == []
    # The refused address (400), the used link (410) and the refusal (409) were asked for.
    assert [e for e in errors if not any(code in e for code in ("400", "409", "410"))] == []


@pytest.mark.parametrize(("size", "viewport"), [("phone", PHONE), ("desktop", DESKTOP)])
def test_an_organiser_erases_for_a_request_by_post(signed, browser, size, viewport):
    app = signed
    client = app.test_client()
    sign_in(app, client)
    problems = []
    with (
        served(app) as base,
        page_in_context(browser, viewport=viewport, bypass_csp=True) as (page, errors),
    ):
        page.context.add_cookies([session_cookie(client, base)])
        page.goto(f"{base}/organiser/")
        page.get_by_role("link", name="Erase a member's data").click()
        expect(page.locator("h1")).to_have_text("Erase a member's data")
        problems += checked(page, "erase-postal", size)
        page.get_by_label("The member's e-mail address").fill("sam@example.org")
        page.get_by_role("button", name="Show what would be erased").click()
        expect(page.get_by_text("This member is on the current membership roll")).to_be_visible()
        problems += checked(page, "erase-postal-refused", size)
        page.get_by_label("The member's e-mail address").fill("jo@example.org")
        page.get_by_label("Reference of the letter (optional)").fill("letter 9")
        page.get_by_role("button", name="Show what would be erased").click()
        expect(page.get_by_role("button", name="Erase this member's data")).to_be_visible()
        problems += checked(page, "erase-postal-plan", size)
        page.get_by_role("button", name="Erase this member's data").click()
        expect(page.get_by_role("heading", name="Erased")).to_be_visible()
        problems += checked(page, "erase-postal-done", size)
    assert problems == []
    assert [e for e in errors if "409" not in e] == []
