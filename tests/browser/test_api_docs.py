"""The API's page for people, /api/docs, in Chromium at a phone's width and a desktop's: drawn
by Swagger UI from /api/v1/openapi.json under the strict content security policy (nothing
blocked, nothing in the console), clean under axe with its operations closed and open, no
sideways scrolling, and reached from every page's footer."""

import os

import pytest
from playwright.sync_api import expect

from petitions.web.api import openapi
from tests.browser.test_accessibility import BLOCKING
from tests.browser_support import (
    AXE,
    DESKTOP,
    PHONE,
    RECORD_VIOLATIONS,
    SCREENSHOTS,
    WCAG_TAGS,
    page_in_context,
    require_axe,
    served,
)

SIZES = [("phone", PHONE), ("desktop", DESKTOP)]
# Opened in the test: one answer with a JSON example, one request with a body.
OPENED = ("getPetition", "requestSignature")


@pytest.fixture
def database_url(tmp_path):
    """SQLite only: the page reads nothing from the database."""
    return f"sqlite:///{tmp_path / 'test.db'}"


def _axe(page, label: str) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_TAGS
    )
    return [
        f"{label}: {v['id']} [{v['impact']}] {v['help']}: "
        + "; ".join(str(node["target"]) for node in v["nodes"][:3])
        for v in result["violations"]
        if v["impact"] in BLOCKING
    ]


def _overflow(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


@pytest.mark.parametrize(("size", "viewport"), SIZES)
def test_the_api_page_draws_every_operation_under_the_policy(browser, app, size, viewport):
    operations = [
        operation["operationId"]
        for path in openapi.document()["paths"].values()
        for operation in path.values()
    ]
    with served(app) as base, page_in_context(browser, viewport=viewport) as (page, errors):
        page.add_init_script(RECORD_VIOLATIONS)
        page.goto(base + "/")
        page.locator(".site-footer").get_by_role("link", name="JSON API").click()
        page.wait_for_url(base + "/api/docs/")
        # One h1, the page's own: Swagger UI's title is not shown.
        expect(page.get_by_role("heading", level=1)).to_have_text("JSON API")
        for operation in operations:
            expect(page.locator(f"#operations-default-{operation}")).to_be_visible()
        page.locator(f"#operations-default-{OPENED[0]} button.opblock-summary-control").click()
        example = page.locator(f"#operations-default-{OPENED[0]} .highlight-code").first
        expect(example).to_contain_text('"threshold"')
        assert page.evaluate("window.__cspViolations") == []
        assert errors == []
        raw = page.get_by_role("link", name="OpenAPI 3.1 document").first
        assert raw.get_attribute("href") == "/api/v1/openapi.json"


@pytest.mark.parametrize(("size", "viewport"), SIZES)
def test_the_api_page_passes_axe_and_fits_a_phone(browser, app, size, viewport):
    require_axe()
    with (
        served(app) as base,
        page_in_context(browser, viewport=viewport, bypass_csp=True) as (page, errors),
    ):
        page.goto(base + "/api/docs/")
        expect(page.locator(f"#operations-default-{OPENED[0]}")).to_be_visible()
        problems = _axe(page, f"closed ({size})")
        if os.environ.get("PETITIONS_SCREENSHOTS") == "1":
            page.screenshot(path=str(SCREENSHOTS / f"api-docs-{size}.png"), full_page=True)
        for operation in OPENED:
            page.locator(f"#operations-default-{operation} button.opblock-summary-control").click()
            expect(page.locator(f"#operations-default-{operation} .opblock-body")).to_be_visible()
        problems += _axe(page, f"open ({size})")
        if size == "phone":
            assert _overflow(page) <= 1
        if os.environ.get("PETITIONS_SCREENSHOTS") == "1":
            page.screenshot(path=str(SCREENSHOTS / f"api-docs-open-{size}.png"), full_page=True)
    assert problems == []
    assert errors == []
