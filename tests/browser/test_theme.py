"""The organisation's own look in Chromium, at a phone's width and a desktop's: its name, logo,
colour and contact on the pages (axe still clean, nothing blocked by the content security
policy, no sideways scrolling), in the mail a member gets, and a favicon with no 404."""

import os

import pytest
from playwright.sync_api import expect

from petitions import organisation
from tests.browser.test_accessibility import _check
from tests.browser_support import (
    DESKTOP,
    PHONE,
    RECORD_VIOLATIONS,
    SCREENSHOTS,
    page_in_context,
    require_axe,
    served,
)
from tests.helpers import add_members, configure, open_petition, sent_mail

SIZES = [("phone", PHONE), ("desktop", DESKTOP)]
COLOUR = "#c8102e"
LOGO = (
    "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 40 40'>"
    "<circle cx='20' cy='20' r='19' fill='#ffffff'/>"
    "<path d='M10 27l10-15 10 15z' fill='#c8102e'/></svg>"
)


@pytest.fixture
def database_url(tmp_path):
    """SQLite only: these tests are about the pages."""
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def themed(app, tmp_path):
    """An open petition, on an app with every ORG_* setting given."""
    logo = tmp_path / "logo.svg"
    logo.write_text(LOGO)
    configure(
        app,
        org_name="Northern Rail Union",
        org_logo_file=logo,
        org_primary_colour=COLOUR,
        org_contact_email="help@nru.example.org",
        org_contact_url="https://nru.example.org/contact",
    )
    add_members(app, ("M1", "m1@example.org"))
    open_petition(app, threshold=100, body="Hold a vote on the new rota.")
    return app


def _rgb(hex_colour: str) -> str:
    red, green, blue = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({red}, {green}, {blue})"


@pytest.mark.parametrize(("size", "viewport"), SIZES)
def test_the_pages_wear_the_organisation_s_look(browser, themed, size, viewport):
    require_axe()
    with served(themed) as base, page_in_context(browser, viewport=viewport) as (page, errors):
        page.add_init_script(RECORD_VIOLATIONS)
        page.goto(base + "/p/vote")
        expect(page).to_have_title(page.locator("h1").inner_text() + " · Northern Rail Union")
        header = page.locator(".site-header")
        expect(header.get_by_role("link", name="Northern Rail Union")).to_be_visible()
        logo = header.locator("img.site-logo")
        expect(logo).to_be_visible()
        assert logo.evaluate("img => img.complete && img.naturalWidth > 0")
        dark = organisation.darkened(COLOUR, organisation.DARK_CONTRAST)
        assert header.evaluate("h => getComputedStyle(h).backgroundColor") == _rgb(dark)
        button = page.get_by_role("button", name="Sign")
        assert button.evaluate("b => getComputedStyle(b).backgroundColor") == _rgb(COLOUR)
        footer = page.locator(".site-footer")
        expect(footer.get_by_role("link", name="help@nru.example.org")).to_have_attribute(
            "href", "mailto:help@nru.example.org"
        )
        expect(footer.get_by_role("link", name="Contact us")).to_have_attribute(
            "href", "https://nru.example.org/contact"
        )
        # The browser's own request for an icon is answered: the console stays empty.
        icon = page.request.get(base + "/favicon.ico")
        assert icon.ok
        assert icon.headers["content-type"].startswith("image/svg+xml")
        assert page.evaluate("window.__cspViolations") == []
        assert errors == []
    with (
        served(themed) as base,
        page_in_context(browser, viewport=viewport, bypass_csp=True) as (page, errors),
    ):
        problems = _check(page, base, "themed-petition", "/p/vote", size)
        problems += _check(page, base, "themed-home", "/", size)
    assert problems == []
    assert errors == []


@pytest.mark.parametrize(("size", "viewport"), SIZES)
def test_the_mail_a_member_gets_is_signed_by_the_organisation(
    browser, themed, client, worker, size, viewport
):
    client.post("/api/v1/petitions/vote/signatures", json={"email": "m1@example.org"})
    worker.run_pending()
    (mail,) = sent_mail(themed)
    with page_in_context(browser, viewport=viewport) as (page, errors):
        page.set_content(mail.html_body)
        button = page.get_by_role("link", name="Confirm my signature")
        assert button.evaluate("a => getComputedStyle(a).backgroundColor") == _rgb(COLOUR)
        signature = page.locator("p", has_text="Northern Rail Union")
        expect(signature).to_contain_text("Questions: help@nru.example.org")
        expect(signature.get_by_role("link")).to_have_attribute(
            "href", "https://nru.example.org/contact"
        )
        if os.environ.get("PETITIONS_SCREENSHOTS") == "1":
            page.screenshot(path=str(SCREENSHOTS / f"themed-mail-{size}.png"), full_page=True)
    assert errors == []


def test_without_settings_the_favicon_still_answers(browser, app):
    with served(app) as base, page_in_context(browser, viewport=PHONE) as (page, errors):
        page.goto(base + "/")
        href = page.locator("link[rel=icon]").get_attribute("href")
        assert page.request.get(base + href).ok
        assert page.request.get(base + "/favicon.ico").ok
        expect(page).to_have_title("Open petitions · Member petitions")
        assert page.locator(".site-logo").count() == 0
    assert errors == []
