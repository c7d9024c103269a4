"""The privacy page and a member's data export in headless Chromium, at a phone's width and a
desktop's: asking by address, the mailed link, the export page and its JSON download, the used
link refused; axe-core finds no serious violation on any of them and the phone never scrolls
sideways. With PETITIONS_SCREENSHOTS=1 each page is saved under docs/screenshots.

SQLite only; skipped without /usr/bin/chromium unless PETITIONS_TEST_REQUIRE_BROWSER=1.
"""

import json
import os
import re

import pytest
from playwright.sync_api import expect

from tests.browser_support import (
    DESKTOP,
    PHONE,
    SCREENSHOTS,
    axe_problems,
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

EXPORT_LINK = re.compile(r"^(http://\S+/privacy/export/\S+)$", re.MULTILINE)


@pytest.fixture
def database_url(tmp_path):
    """SQLite only: this test is about the browser, not the backend."""
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def browser(browser):
    """The session's Chromium, once axe-core is there to inject."""
    require_axe()
    return browser


def checked(page, name: str, size: str) -> list[str]:
    """axe's serious problems and sideways scrolling on the page as it is; saved as
    ``name-size.png`` with PETITIONS_SCREENSHOTS=1."""
    problems = [f"{name}: {problem}" for problem in axe_problems(page)]
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    if size == "phone" and overflow > 1:
        problems.append(f"{name} (phone): scrolls sideways by {overflow}px")
    if os.environ.get("PETITIONS_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{size}.png"), full_page=True)
    return problems


@pytest.mark.parametrize(("size", "viewport"), [("phone", PHONE), ("desktop", DESKTOP)])
def test_a_member_sees_what_is_held_from_the_privacy_page(app, worker, browser, size, viewport):
    configure(app, org_name="Union of Examples", org_contact_email="dpo@example.org")
    add_members(app, ("JO-0001", "jo@example.org"), ("SAM-0002", "sam@example.org"))
    open_petition(app)
    client = app.test_client()
    assert client.post("/p/vote/sign", data={"email": "jo@example.org"}).status_code == 303
    worker.run_pending()
    link = link_in(sent_mail(app)[0].text_body)
    assert client.post("/p/vote/confirm", data={"token": token_of(link)}).status_code == 200
    worker.run_pending()
    problems = []
    with (
        served(app) as base,
        page_in_context(browser, viewport=viewport, bypass_csp=True, accept_downloads=True) as (
            page,
            errors,
        ),
    ):
        configure(app, base_url=base)
        page.goto(f"{base}/p/vote")
        page.get_by_role("contentinfo").get_by_role("link", name="Privacy").click()
        expect(page.locator("h1")).to_have_text("Privacy: what we hold about you")
        expect(page.get_by_role("link", name="dpo@example.org").first).to_be_visible()
        problems += checked(page, "privacy", size)

        page.get_by_label("Your e-mail address").fill("not an address")
        page.get_by_role("button", name="E-mail me what you hold").click()
        expect(page.locator(".error-summary")).to_be_visible()
        problems += checked(page, "privacy-error", size)

        page.get_by_label("Your e-mail address").fill("JO@example.org")
        page.get_by_role("button", name="E-mail me what you hold").click()
        expect(page.locator("h1")).to_have_text("Check your e-mail")
        problems += checked(page, "privacy-sent", size)
        worker.run_pending()
        [mail] = [m for m in sent_mail(app) if m.purpose == "data_export"]
        export_link = EXPORT_LINK.search(mail.text_body).group(1)

        page.goto(export_link)
        expect(page.locator("h1")).to_have_text("See your data")
        problems += checked(page, "export-link", size)
        page.get_by_role("button", name="Show my data").click()
        expect(page.locator("h1")).to_have_text("The data we hold")
        expect(page.get_by_text("jo@example.org").first).to_be_visible()
        expect(page.get_by_text("sam@example.org")).to_have_count(0)
        problems += checked(page, "export", size)

        with page.expect_download() as download:
            page.get_by_role("button", name="Download as JSON").click()
        data = json.loads(download.value.path().read_text())
        assert [entry["member_number"] for entry in data["roll_entries"]] == ["JO-0001"]
        assert [signature["state"] for signature in data["signatures"]] == ["counted"]

        page.goto(export_link)
        expect(page.locator("h1")).to_have_text("This link does not work")
        expect(page.get_by_text("This link has already been used")).to_be_visible()
        problems += checked(page, "export-used", size)
    assert problems == []
    # The refused address (400) and the used link (410) are answers the test asked for.
    assert [error for error in errors if "400" not in error and "410" not in error] == []


@pytest.mark.parametrize(("size", "viewport"), [("phone", PHONE), ("desktop", DESKTOP)])
def test_an_organiser_exports_for_a_request_by_post(app, browser, size, viewport):
    add_members(app, ("JO-0001", "jo@example.org"))
    client = app.test_client()
    sign_in(app, client)
    problems = []
    with (
        served(app) as base,
        page_in_context(browser, viewport=viewport, bypass_csp=True) as (page, errors),
    ):
        page.context.add_cookies([session_cookie(client, base)])
        page.goto(f"{base}/organiser/")
        page.get_by_role("link", name="Members' data").click()
        expect(page.locator("h1")).to_have_text("Export a member's data")
        problems += checked(page, "export-postal", size)
        page.get_by_label("The member's e-mail address").fill("jo@example.org")
        page.get_by_label("Reference of the letter (optional)").fill("letter 42")
        page.get_by_role("button", name="Show the export").click()
        expect(page.locator("h1")).to_have_text("The data held about a member")
        expect(page.get_by_text("(reference letter 42)")).to_be_visible()
        expect(page.get_by_text("JO-0001")).to_be_visible()
        problems += checked(page, "export-postal-shown", size)
    assert problems == []
    assert errors == []
