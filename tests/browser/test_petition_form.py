"""The new-petition form in headless Chromium, at a phone's width and a desktop's: the title
comes first and the web address follows it as it is typed, until the organiser edits the
address; the closing time, picked in the browser's own date and time control, is read as UTC;
without JavaScript an empty address is made on the server. Checked with axe; nothing blocked by
the content security policy.
"""

import os
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

import tests.browser.test_signing as browser_tests
from tests.browser_support import (
    AXE,
    DESKTOP,
    PHONE,
    RECORD_VIOLATIONS,
    SCREENSHOTS,
    WCAG_TAGS,
    open_page,
    require_axe,
    session_cookie,
)
from tests.helpers import petition, sign_in

database_url = browser_tests.database_url
NEXT_YEAR = datetime.now(UTC).year + 1


def _axe_problems(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_TAGS
    )
    return [
        f"{v['id']} [{v['impact']}] {v['help']}"
        for v in result["violations"]
        if v["impact"] in {"serious", "critical"}
    ]


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_address_follows_the_title_until_edited(app, client, base_url, browser, viewport):
    require_axe()
    sign_in(app, client, "organiser@example.org", "organiser")
    # axe is injected as a script of its own: the policy is checked by a page without it below.
    context, page, errors = open_page(browser, viewport=viewport, bypass_csp=True)
    context.add_cookies([session_cookie(client, base_url)])
    try:
        page.goto(f"{base_url}/organiser/petitions/new")
        labels = page.locator("form.petition-form label").all_inner_texts()
        assert labels[0] == "Title"
        assert labels[1].startswith("Web address")
        title, slug = page.get_by_label("Title", exact=True), page.locator("#slug")
        title.press_sequentially("Fair pay for all — now!")
        expect(slug).to_have_value("fair-pay-for-all-now")
        title.fill("Ça ira: élections")
        expect(slug).to_have_value("ca-ira-elections")

        # Edited by hand, the address stays as typed.
        slug.fill("vote-2027")
        title.fill("Fair pay for all staff")
        expect(slug).to_have_value("vote-2027")
        # Emptied, it follows the title again.
        slug.fill("")
        title.fill("Fair pay for all staff today")
        expect(slug).to_have_value("fair-pay-for-all-staff-today")

        expect(page.get_by_text("Closing time, in UTC")).to_be_visible()
        page.locator("#closes_at").fill(f"{NEXT_YEAR}-06-30T18:05")
        page.locator("#threshold").fill("4000")
        assert _axe_problems(page) == []
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"the form scrolls sideways by {overflow}px"
        if os.environ.get("PETITIONS_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            name = "phone" if viewport == PHONE else "desktop"
            shot = SCREENSHOTS / f"new-petition-filled-{name}.png"
            page.screenshot(path=str(shot), full_page=True)

        page.get_by_role("button", name="Create draft petition").click()
        page.wait_for_url(f"{base_url}/organiser/p/fair-pay-for-all-staff-today/settings")
        created = petition(app, "fair-pay-for-all-staff-today")
        assert created.title == "Fair pay for all staff today"
        assert created.closes_at.replace(tzinfo=UTC) == datetime(
            NEXT_YEAR, 6, 30, 18, 5, tzinfo=UTC
        )
    finally:
        context.close()
    assert errors == []


def test_the_script_runs_under_the_policy_and_the_address_is_made_without_it(
    app, client, base_url, browser
):
    sign_in(app, client, "organiser@example.org", "organiser")
    context, page, errors = open_page(browser, viewport=PHONE)
    context.add_cookies([session_cookie(client, base_url)])
    page.add_init_script(RECORD_VIOLATIONS)
    try:
        page.goto(f"{base_url}/organiser/petitions/new")
        page.get_by_label("Title", exact=True).fill("Fair pay")
        expect(page.locator("#slug")).to_have_value("fair-pay")
        assert page.evaluate("window.__cspViolations") == []
    finally:
        context.close()
    assert errors == []

    context, page, errors = open_page(browser, viewport=PHONE, java_script_enabled=False)
    context.add_cookies([session_cookie(client, base_url)])
    try:
        page.goto(f"{base_url}/organiser/petitions/new")
        page.get_by_label("Title", exact=True).fill("Fair pay")
        expect(page.locator("#slug")).to_have_value("")
        page.locator("#threshold").fill("10")
        page.get_by_role("button", name="Create draft petition").click()
        page.wait_for_url(f"{base_url}/organiser/p/fair-pay/settings")
    finally:
        context.close()
    assert errors == []
