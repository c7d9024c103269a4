"""The retention in force, shown to organisers under the list of petitions: every kind of
personal data with its days and setting, readable on a phone without sideways scrolling, and
clean under axe."""

import os

import pytest

from tests.browser_support import (
    DESKTOP,
    PHONE,
    SCREENSHOTS,
    axe_problems,
    page_in_context,
    served,
    session_cookie,
)
from tests.helpers import configure, open_petition, sign_in


@pytest.fixture
def database_url(tmp_path):
    """SQLite only: what the page shows does not depend on the database."""
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.mark.parametrize(("size", "viewport"), [("phone", PHONE), ("desktop", DESKTOP)])
def test_organisers_see_the_retention_in_force(browser, app, size, viewport):
    open_petition(app, "vote", threshold=3)
    configure(app, mail_body_retention_days=14, sign_request_retention_days=1)
    client = app.test_client()
    sign_in(app, client, "organiser@example.org", "organiser")
    with (
        served(app) as base,
        page_in_context(browser, viewport=viewport, bypass_csp=True) as (
            page,
            errors,
        ),
    ):
        page.context.add_cookies([session_cookie(client, base)])
        page.goto(base + "/organiser/")
        section = page.get_by_role("region", name="How long personal data is kept")
        section.scroll_into_view_if_needed()
        terms = section.locator("dt").all_inner_texts()
        assert terms == [
            "Mail bodies",
            "Sign requests",
            "Sessions and sign-in links",
            "Invitations",
            "Roll import reports",
            "Requests for members' data",
        ]
        details = section.locator("dd").all_inner_texts()
        assert "kept 14 days after it was sent" in details[0]
        assert "MAIL_BODY_RETENTION_DAYS" in details[0]
        assert "kept 1 day after the petition closes" in details[1]
        assert "kept 30 days" in details[2]
        assert "kept 90 days after the import finished" in details[4]
        assert "PRIVACY_REQUEST_RETENTION_DAYS" in details[5]
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1
        assert axe_problems(page) == []
        if os.environ.get("PETITIONS_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"retention-{size}.png"), full_page=True)
        assert errors == []


def test_scrutineers_see_it_too(app):
    client = app.test_client()
    sign_in(app, client, "scrutineer@example.org", "scrutineer")
    page = client.get("/organiser/").get_data(as_text=True)
    assert "How long personal data is kept" in page
    assert "SIGN_REQUEST_RETENTION_DAYS" in page
