"""The pages a signer uses, in headless Chromium: the receipt check that runs in the browser
(Ed25519 with WebCrypto, then the RFC 6962 inclusion proof), the results page without JavaScript,
and signing from the petition page to a checked receipt.

The app is served on a free loopback port by a werkzeug thread, on SQLite only. Debian's Chromium
at /usr/bin/chromium is used and no browser is ever downloaded; without it these tests are
skipped, unless PETITIONS_TEST_REQUIRE_BROWSER=1, which makes that a failure. With
PETITIONS_SCREENSHOTS=1 the end-to-end test also saves the receipt page under docs/screenshots.
"""

import os
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select, update
from sqlmodel import Session

from app import create_app
from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.models import Member, TreeHead
from petitions.jobs.dispatch import housekeeping
from petitions.signatures import signing, tokens
from tests.browser_support import (
    AXE,
    DESKTOP,
    PHONE,
    SCREENSHOTS,
    WCAG_TAGS,
    axe_problems,
    open_page,
    page_in_context,
    require_axe,
    served,
)
from tests.helpers import add_members, configure, open_petition, petition

SCREENSHOT_SIZES = {"phone": (390, 844), "desktop": (1280, 800)}
MEMBERS = [(f"M{n:03d}", f"m{n}@example.org") for n in range(1, 16)]

IN_LOG = "Your signature is in the log"
NOT_IN_HEAD = "NOT in this head"
BAD_SIGNATURE = "The latest head's signature does not verify with the published key."
NEWER = "it is newer than the head"
INCOMPLETE = "This receipt is incomplete"


@pytest.fixture
def database_url(tmp_path):
    """SQLite only: these tests are about the browser, not the backend."""
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def page(browser, base_url):
    """A fresh page; the test fails if the page logged any error to the console."""
    context, tab, errors = open_page(browser)
    yield tab
    context.close()
    assert not errors, f"console errors: {errors}"


def confirm(app, member_id: str) -> dict:
    """Confirm ``member_id``'s signature as its e-mailed link would; the receipt."""
    with Session(flask_db.engine_of(app)) as session:
        member = session.exec(select(Member).where(Member.number == member_id)).scalar_one()
    token = tokens.make_token(app.config["SECRET_KEY"], [], petition(app).id, member.id)
    result = signing.confirm(flask_db.engine_of(app), settings_of(app), token)
    assert result.status == "confirmed"
    return result.receipt


def sign(app, count: int) -> list[dict]:
    """An open petition, far from its threshold, with ``count`` confirmed signatures."""
    add_members(app, *MEMBERS)
    open_petition(app, threshold=1000)
    return [confirm(app, member_id) for member_id, _ in MEMBERS[:count]]


def receipt_url(base_url: str, index="", leaf_hash="") -> str:
    return f"{base_url}/p/vote/receipt?index={index}&leaf_hash={leaf_hash}"


def check_result(page, url: str | None, expected: str):
    """Open a receipt page (or stay on the open one), wait until its check says ``expected``,
    and return what it says."""
    if url is not None:
        page.goto(url)
    result = page.locator("#receipt-result")
    expect(result).to_contain_text(expected)
    return result.text_content()


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 8, 13])
def test_every_leaf_of_a_signed_log_checks_out_in_the_browser(app, base_url, page, size):
    receipts = sign(app, size)
    housekeeping(app)
    for receipt in receipts:
        index = receipt["leaf_index"]
        url = receipt_url(base_url, index, receipt["leaf_hash"])
        text = check_result(page, url, IN_LOG)
        noun = "entry" if size == 1 else "entries"
        assert f"Entry {index + 1} of the log is included in the head of {size} {noun}" in text
        assert "still counts" in text
        assert f"read all {size} {noun} of that head" in text
        assert page.locator("#receipt-result").get_attribute("class") == "check-ok"


@pytest.mark.parametrize("size", [1, 7])
def test_a_wrong_leaf_hash_is_not_in_the_head(app, base_url, page, size):
    receipts = sign(app, size)
    housekeeping(app)
    for index in sorted({0, size // 2, size - 1}):
        leaf_hash = receipts[index]["leaf_hash"]
        wrong = leaf_hash[:10] + ("0" if leaf_hash[10] != "0" else "1") + leaf_hash[11:]
        check_result(page, receipt_url(base_url, index, wrong), NOT_IN_HEAD)
        assert page.locator("#receipt-result").get_attribute("class") == "check-bad"


def test_a_leaf_checked_at_another_position_is_not_in_the_head(app, base_url, page):
    receipts = sign(app, 7)
    housekeeping(app)
    check_result(page, receipt_url(base_url, 4, receipts[3]["leaf_hash"]), NOT_IN_HEAD)


def test_a_tampered_head_signature_fails_the_check(app, base_url, page):
    receipts = sign(app, 3)
    housekeeping(app)
    with Session(flask_db.engine_of(app)) as session:
        signature = session.scalars(select(TreeHead.signature)).one()
        tampered = ("B" if signature[0] != "B" else "C") + signature[1:]
        session.execute(update(TreeHead).values(signature=tampered))
        session.commit()
    receipt = receipts[1]
    check_result(page, receipt_url(base_url, 1, receipt["leaf_hash"]), BAD_SIGNATURE)
    assert page.locator("#receipt-result").get_attribute("class") == "check-bad"


def test_a_leaf_newer_than_the_head_says_so(app, base_url, page):
    sign(app, 4)
    housekeeping(app)
    newer = confirm(app, MEMBERS[4][0])
    text = check_result(page, receipt_url(base_url, 4, newer["leaf_hash"]), NEWER)
    assert "covers 4 entries and yours is entry 5" in text
    housekeeping(app)
    page.get_by_role("button", name="Check now").click()
    check_result(page, None, IN_LOG)


def test_an_incomplete_receipt_says_so(app, base_url, page):
    sign(app, 2)
    housekeeping(app)
    for query in [
        {"leaf_hash": "ab" * 32},
        {"index": "0"},
        {"index": "0", "leaf_hash": "AB" * 32},
        {"index": "0", "leaf_hash": "ab" * 31},
        {},
    ]:
        check_result(page, receipt_url(base_url, **query), INCOMPLETE)


def test_the_results_page_shows_its_head_without_javascript(app, base_url, browser):
    sign(app, 3)
    housekeeping(app)
    with Session(flask_db.engine_of(app)) as session:
        head = session.scalars(select(TreeHead)).one()
    context, tab, errors = open_page(browser, java_script_enabled=False)
    try:
        tab.goto(f"{base_url}/p/vote/results")
        assert tab.locator("h1").text_content() == "Results: Petition vote"
        text = tab.locator("main").inner_text()
        assert head.root_hash in text
        assert head.signature in text
        assert re.search(r"Entries\s+3 \(entries 1 to 3; indexes 0 to 2 in the API\)\n", text)
        assert re.search(r"Signatures counted\s+3 of 1,000 signatures needed\n", text)
        tab.goto(receipt_url(base_url, 0, "ab" * 32))
        assert "This check needs JavaScript" in tab.locator("main").inner_text()
        assert tab.locator("#receipt-result").text_content() == ""
    finally:
        context.close()
    assert not errors, f"console errors: {errors}"


def test_signing_in_the_browser_ends_with_a_checked_receipt(app, base_url, page, worker):
    add_members(app, *MEMBERS[:3])
    open_petition(app, threshold=1000)
    page.goto(f"{base_url}/p/vote")
    page.fill("#email", MEMBERS[1][1])
    page.get_by_role("button", name="Sign").click()
    page.wait_for_url(f"{base_url}/p/vote/check-email")
    assert worker.run_pending() >= 1

    page.goto(f"{base_url}/dev/mail")
    link = page.locator("a[href*='/p/vote/confirm?token=']").first.get_attribute("href")
    assert link.startswith(f"{base_url}/p/vote/confirm?token=")
    page.goto(link)
    page.get_by_role("button", name="Confirm my signature").click()
    expect(page.locator("h1")).to_have_text("Thank you: your signature is counted")

    housekeeping(app)
    page.get_by_role("link", name="Check my signature in the public log").click()
    page.wait_for_url(re.compile(r".*/p/vote/receipt\?index=0&leaf_hash=[0-9a-f]{64}$"))
    text = check_result(page, None, IN_LOG)
    assert "Entry 1 of the log is included in the head of 1 entry" in text

    if os.environ.get("PETITIONS_SCREENSHOTS") == "1":
        for name, (width, height) in SCREENSHOT_SIZES.items():
            page.set_viewport_size({"width": width, "height": height})
            page.screenshot(path=SCREENSHOTS / f"receipt-{name}.png", full_page=True)


def screenshot(page, name: str) -> None:
    if os.environ.get("PETITIONS_SCREENSHOTS") == "1":
        page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def script_errors(errors: list[str]) -> list[str]:
    """The console errors other than Chromium's note that a page came with a 4xx status, which
    these pages answer with on purpose."""
    return [e for e in errors if "the server responded with a status of 4" not in e]


def no_sideways_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1


def no_serious_axe_violations(page) -> None:
    """axe-core on the open page (whose context bypasses the CSP to inject it): no serious or
    critical WCAG 2.1 A/AA violation."""
    require_axe()
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_TAGS
    )
    serious = [v["id"] for v in found["violations"] if v["impact"] in ("serious", "critical")]
    assert serious == []


@pytest.mark.parametrize(("size", "viewport"), [("phone", PHONE), ("desktop", DESKTOP)])
def test_an_old_link_to_a_closed_petition_says_how_it_ended_and_offers_no_fresh_link(
    app, base_url, browser, runner, size, viewport
):
    add_members(app, *MEMBERS[:4])
    open_petition(app, threshold=2)
    for member_id, _ in MEMBERS[:2]:
        confirm(app, member_id)
    with Session(flask_db.engine_of(app)) as session:
        member = session.exec(select(Member).where(Member.number == "M003")).scalar_one()
    token = tokens.make_token(app.config["SECRET_KEY"], [], petition(app).id, member.id)
    configure(app, confirm_link_max_age=-1)
    with page_in_context(browser, viewport=viewport, bypass_csp=True) as (page, errors):
        # While the petition is open, an expired link offers a fresh one ...
        page.goto(f"{base_url}/p/vote/confirm?token={token}")
        expect(page.locator("h1")).to_have_text("This link has expired")
        fresh = page.get_by_role("button", name="Send me a fresh link")
        expect(fresh).to_be_visible()

        # ... until it closes: pressing it then says so, and how the petition ended.
        assert runner.invoke(args=["petition", "close", "vote"]).exit_code == 0
        fresh.click()
        expect(page.locator("h1")).to_have_text("This petition is closed")
        outcome = page.locator("#closed-outcome")
        expect(outcome).to_contain_text("with 2 signatures, of the 2 it needed")
        expect(outcome).to_contain_text("The threshold was reached on")
        expect(page.locator("main")).not_to_contain_text("not valid")

        # The link itself, expired or mangled, leads there too, with no button.
        for link in (token, token[:-3], "garbage"):
            page.goto(f"{base_url}/p/vote/confirm?token={link}")
            expect(page.locator("h1")).to_have_text("This petition is closed")
            expect(page.get_by_role("button")).to_have_count(0)
            expect(page.locator("main")).not_to_contain_text("changed")
        expect(page.get_by_role("link", name="See the results")).to_be_visible()
        no_sideways_scroll(page)
        no_serious_axe_violations(page)
        screenshot(page, f"fresh-link-closed-{size}")
    assert not script_errors(errors), f"console errors: {errors}"


@pytest.mark.parametrize(("size", "viewport"), [("phone", PHONE), ("desktop", DESKTOP)])
def test_a_rate_limit_says_the_earlier_link_works_and_when_to_try_again(
    app, browser, size, viewport
):
    add_members(app, *MEMBERS[:3])
    open_petition(app, threshold=1000)
    limited = create_app(
        {
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "INPROCESS_WORKER_THREAD": False,
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_STORAGE_URI": "memory://",
            "SIGN_LIMIT_PER_NETWORK": "1 per 12 minutes",
        }
    )
    try:
        with (
            served(limited) as base,
            page_in_context(browser, viewport=viewport, bypass_csp=True) as (page, errors),
        ):
            for email in (MEMBERS[0][1], MEMBERS[1][1]):
                page.goto(f"{base}/p/vote")
                page.fill("#email", email)
                page.get_by_role("button", name="Sign").click()
            expect(page.locator("h1")).to_have_text("Too many requests to sign")
            expect(page).to_have_title(re.compile(r"try again in about 12 minutes"))
            main = page.locator("main")
            expect(main).to_contain_text(
                "If you asked for a signing link earlier, that link still works"
            )
            expect(main).to_contain_text("spam or junk folder")
            expect(main).to_contain_text("You can try again in about 12 minutes.")
            no_sideways_scroll(page)
            no_serious_axe_violations(page)
            screenshot(page, f"rate-limited-{size}")
        assert not script_errors(errors), f"console errors: {errors}"
    finally:
        flask_db.engine_of(limited).dispose()


def confirm_in_the_browser(app, page, base_url: str, member_id: str) -> None:
    """Open ``member_id``'s mailed link in ``page`` and confirm."""
    with Session(flask_db.engine_of(app)) as session:
        member = session.exec(select(Member.id).where(Member.number == member_id)).scalar_one()
    token = tokens.make_token(app.config["SECRET_KEY"], [], petition(app).id, member)
    page.goto(f"{base_url}/p/vote/confirm?token={token}")
    page.get_by_role("button", name="Confirm my signature").click()
    expect(page.locator("h1")).to_have_text("Thank you: your signature is counted")


@pytest.mark.parametrize(("size", "viewport"), [("phone", PHONE), ("desktop", DESKTOP)])
def test_the_petition_page_knows_this_browser_signed_and_offers_to_share_it(
    app, base_url, browser, size, viewport
):
    add_members(app, *MEMBERS[:3])
    open_petition(app, threshold=1000)
    with page_in_context(browser, viewport=viewport, bypass_csp=True) as (page, errors):
        page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
        confirm_in_the_browser(app, page, base_url, MEMBERS[1][0])
        housekeeping(app)

        page.goto(f"{base_url}/p/vote")
        signed = page.locator("section.signed")
        expect(signed.locator("h2")).to_have_text("You signed this petition")
        expect(signed).to_contain_text("This browser confirmed signature number 1.")
        # The form stays, below the text, for someone else on this device.
        assert page.locator("section.sign").bounding_box()["y"] > signed.bounding_box()["y"]

        link = signed.get_by_label("The petition's link")
        expect(link).to_have_value(f"{base_url}/p/vote")
        expect(link).to_have_attribute("readonly", "")
        signed.get_by_role("button", name="Copy link").click()
        expect(signed.get_by_role("status")).to_have_text(
            "Link copied. Paste it into a message or a post."
        )
        assert page.evaluate("navigator.clipboard.readText()") == f"{base_url}/p/vote"

        qr = signed.get_by_role("img", name=f"QR code of the petition's link, {base_url}/p/vote")
        expect(qr).to_be_visible()
        assert page.evaluate("img => img.complete && img.naturalWidth > 0", qr.element_handle())
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
        if os.environ.get("PETITIONS_SCREENSHOTS") == "1":
            page.screenshot(path=SCREENSHOTS / f"signed-petition-{size}.png", full_page=True)
        assert axe_problems(page) == []

        signed.get_by_role("link", name="Check your signature in the public log").click()
        page.wait_for_url(re.compile(r".*/p/vote/receipt\?index=0&leaf_hash=[0-9a-f]{64}$"))
        check_result(page, None, IN_LOG)
    assert errors == []

    with page_in_context(browser, viewport=viewport) as (other, errors):
        other.goto(f"{base_url}/p/vote")
        expect(other.locator("#sign-heading")).to_have_text("Sign this petition")
        expect(other.locator("section.signed")).to_have_count(0)
    assert errors == []


def test_without_javascript_the_link_to_share_is_in_a_field_to_copy(app, base_url, browser):
    add_members(app, *MEMBERS[:3])
    open_petition(app, threshold=1000)
    with page_in_context(browser, viewport=PHONE, java_script_enabled=False) as (page, errors):
        with Session(flask_db.engine_of(app)) as session:
            member = session.exec(select(Member.id).where(Member.number == "M001")).scalar_one()
        token = tokens.make_token(app.config["SECRET_KEY"], [], petition(app).id, member)
        page.goto(f"{base_url}/p/vote/confirm?token={token}")
        page.get_by_role("button", name="Confirm my signature").click()
        page.goto(f"{base_url}/p/vote")
        expect(page.get_by_label("The petition's link")).to_have_value(f"{base_url}/p/vote")
        expect(page.get_by_role("button", name="Copy link")).to_be_hidden()
    assert errors == []
