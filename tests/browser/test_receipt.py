"""A receipt tells the truth about its signature, in headless Chromium at a phone's width and a
desktop's: a signature later invalidated is shown as no longer counted (when, why, by which
entry), the browser proves the cancelling entry's inclusion, reads the whole log of a small
head to find any cancellation the server leaves out, and says when the log is too long for
that. Dates are the reader's; numbers count from 1 on every page.

With PETITIONS_SCREENSHOTS=1 the cancelled receipt is saved as receipt-cancelled-{phone,desktop}.
"""

import os
import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect
from sqlalchemy import select
from sqlmodel import Session

from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.models import Member
from petitions.jobs.dispatch import housekeeping
from petitions.lifecycle import actions
from petitions.signatures import invalidation, signing, tokens
from petitions.transparency import roll_commitment
from petitions.web import log_pages
from tests.browser_support import DESKTOP, PHONE, SCREENSHOTS, page_in_context
from tests.helpers import add_members, open_petition, petition

MEMBERS = [(f"M{n:03d}", f"m{n}@example.org") for n in range(1, 9)]
SIZES = [("phone", PHONE), ("desktop", DESKTOP)]
# An afternoon in January: 18:30 in UTC is 13:30 in New York.
DECIDED = datetime(2026, 1, 15, 18, 30, tzinfo=UTC)
READER = {"locale": "en-GB", "timezone_id": "America/New_York"}


@pytest.fixture
def database_url(tmp_path):
    """SQLite only: these tests are about the browser, not the backend."""
    return f"sqlite:///{tmp_path / 'test.db'}"


def confirm(app, member_id: str) -> dict:
    """Confirm ``member_id``'s signature as its e-mailed link would; the receipt."""
    with Session(flask_db.engine_of(app)) as session:
        member = session.exec(select(Member).where(Member.number == member_id)).scalar_one()
    token = tokens.make_token(app.config["SECRET_KEY"], [], petition(app).id, member.id)
    result = signing.confirm(flask_db.engine_of(app), settings_of(app), token)
    assert result.status == "confirmed"
    return result.receipt


def signed(app, count: int = 5) -> list[dict]:
    """An open petition with ``count`` confirmed signatures; their receipts."""
    add_members(app, *MEMBERS)
    open_petition(app, threshold=1000)
    return [confirm(app, member_id) for member_id, _ in MEMBERS[:count]]


def invalidate(app, number: int, reason: str = "duplicate_person") -> None:
    invalidation.invalidate(
        flask_db.engine_of(app),
        settings_of(app),
        "vote",
        [number],
        reason,
        "organiser@example.org",
        "a note for the scrutineers only" if reason == "other" else "",
        now=DECIDED,
    )


def receipt_url(base_url: str, receipt: dict) -> str:
    return (
        f"{base_url}/p/vote/receipt?index={receipt['leaf_index']}&leaf_hash={receipt['leaf_hash']}"
    )


def checked(page, url: str, kind: str) -> str:
    """Open a receipt, wait for its check to end as ``kind`` (ok, bad, cancelled); its words."""
    page.goto(url)
    result = page.locator("#receipt-result")
    expect(result).to_have_class(f"check-{kind}", timeout=15_000)
    return " ".join(result.inner_text().split())


@pytest.mark.parametrize(("size", "viewport"), SIZES)
def test_an_invalidated_signature_says_it_no_longer_counts_when_and_why(
    app, base_url, browser, size, viewport
):
    receipts = signed(app)
    invalidate(app, 2)
    housekeeping(app)
    with page_in_context(browser, viewport=viewport, **READER) as (page, errors):
        text = checked(page, receipt_url(base_url, receipts[1]), "cancelled")
        assert "Your signature is in the log" not in text
        assert text.startswith("Your signature was in the log, but it no longer counts.")
        # Five signatures are entries 1 to 5; the invalidation is entry 6.
        assert "Entry 6, added on 15 January 2026" in text
        assert "13:30" in text
        assert "18:30" not in text
        assert "The published reason: one person signed twice under two memberships." in text
        assert "duplicate_person" not in text
        assert "both your entry 2 and entry 6 are in the head of 6 entries" in text

        notice = page.locator("#receipt-cancelled")
        expect(notice).to_contain_text("This signature no longer counts")
        expect(notice).to_contain_text("Entry 6 of the public log")
        expect(notice).to_contain_text("one person signed twice under two memberships")
        expect(notice.locator("time")).to_contain_text("13:30")
        expect(page.locator("h1")).to_have_text("Check your signature")
        expect(page.locator(".receipt-petition")).to_contain_text("Petition vote")
        expect(page.locator("#receipt-number")).to_have_text("2")
        expect(page.locator("#receipt-index")).to_have_text("2 (index 1 in the log's API)")
        expect(page.locator("#numbering-heading")).to_have_text("How the numbers count")
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1
        if os.environ.get("PETITIONS_SCREENSHOTS") == "1":
            page.screenshot(path=SCREENSHOTS / f"receipt-cancelled-{size}.png", full_page=True)

        # The others still count, and the browser read the whole log to say so.
        text = checked(page, receipt_url(base_url, receipts[2]), "ok")
        assert text.startswith("Your signature is in the log and still counts.")
        assert "read all 6 entries of that head, checked them against its root" in text
        assert page.locator("#receipt-cancelled").count() == 0
    assert not errors, f"console errors: {errors}"


def test_the_reason_other_keeps_the_note_private(app, base_url, browser):
    receipts = signed(app, 3)
    invalidate(app, 1, "other")
    housekeeping(app)
    with page_in_context(browser, **READER) as (page, errors):
        text = checked(page, receipt_url(base_url, receipts[0]), "cancelled")
        assert "another reason, recorded with the decision for the scrutineers" in text
        assert "a note for the scrutineers only" not in page.content()
    assert not errors, f"console errors: {errors}"


def test_a_cancellation_the_server_leaves_out_is_found_in_the_whole_log(app, base_url, browser):
    receipts = signed(app, 4)
    invalidate(app, 3)
    housekeeping(app)
    with page_in_context(browser) as (page, errors):
        page.route(
            re.compile(r".*/log/cancellations\?index=2$"),
            lambda route: route.fulfill(
                json={"index": 2, "cancelled_by": []}, content_type="application/json"
            ),
        )
        text = checked(page, receipt_url(base_url, receipts[2]), "bad")
        assert "no longer counts, and the server did not say so: entry 5" in text
    assert not errors, f"console errors: {errors}"


def test_a_forged_cancellation_does_not_check_out(app, base_url, browser):
    receipts = signed(app, 4)
    invalidate(app, 2)
    housekeeping(app)

    def forged(route):
        answer = route.fetch().json()
        leaf = answer["cancelled_by"][0]
        leaf["leaf_input"] = leaf["leaf_input"][:-8] + "AAAAAA=="
        route.fulfill(json=answer, content_type="application/json")

    with page_in_context(browser) as (page, errors):
        page.route(re.compile(r".*/log/cancellations\?index=1$"), forged)
        text = checked(page, receipt_url(base_url, receipts[1]), "bad")
        assert "said to cancel yours, does not check out" in text
    assert not errors, f"console errors: {errors}"


def test_a_log_changed_under_the_head_is_caught(app, base_url, browser):
    receipts = signed(app, 4)
    housekeeping(app)

    def altered(route):
        answer = route.fetch().json()
        answer["leaves"] = answer["leaves"][:-1]
        answer["leaves"].append(dict(answer["leaves"][-1], index=3))
        route.fulfill(json=answer, content_type="application/json")

    with page_in_context(browser) as (page, errors):
        page.route(re.compile(r".*/log\?start=0&limit=4$"), altered)
        text = checked(page, receipt_url(base_url, receipts[0]), "bad")
        assert "do not lead to the signed root" in text
    assert not errors, f"console errors: {errors}"


@pytest.mark.parametrize(("size", "viewport"), SIZES)
def test_above_the_browser_limit_the_check_says_it_relies_on_the_server(
    app, base_url, browser, monkeypatch, size, viewport
):
    monkeypatch.setattr(log_pages, "BROWSER_READS_UP_TO", 3)
    receipts = signed(app, 4)
    invalidate(app, 4)
    housekeeping(app)
    with page_in_context(browser, viewport=viewport) as (page, errors):
        leaves_read = []
        page.on("request", lambda request: "/log?start=" in request.url and leaves_read.append(1))
        text = checked(page, receipt_url(base_url, receipts[0]), "ok")
        assert "The server says no entry cancels yours. The log has 5 entries, more than" in text
        assert "the 3 your browser reads, so it did not check that itself" in text
        expect(page.locator("main")).to_contain_text("at most 3 entries")
        # The cancellation the server reports is still proved.
        text = checked(page, receipt_url(base_url, receipts[3]), "cancelled")
        assert "both your entry 4 and entry 5 are in the head of 5 entries" in text
        assert leaves_read == []
    assert not errors, f"console errors: {errors}"


@pytest.mark.parametrize(("size", "viewport"), SIZES)
def test_the_confirmed_page_the_receipt_and_the_results_number_alike(
    app, base_url, browser, worker, size, viewport
):
    add_members(app, *MEMBERS[:3])
    open_petition(app, threshold=1000)
    confirm(app, MEMBERS[0][0])
    with page_in_context(browser, viewport=viewport, **READER) as (page, errors):
        page.goto(f"{base_url}/p/vote")
        page.fill("#email", MEMBERS[1][1])
        page.get_by_role("button", name="Sign").click()
        page.wait_for_url(f"{base_url}/p/vote/check-email")
        assert worker.run_pending() >= 1
        page.goto(f"{base_url}/dev/mail")
        link = page.locator("a[href*='/p/vote/confirm?token=']").first.get_attribute("href")
        page.goto(link)
        page.get_by_role("button", name="Confirm my signature").click()
        receipt = page.locator(".receipt dl")
        expect(receipt).to_contain_text(re.compile(r"Petition\s*Petition vote"))
        expect(receipt).to_contain_text(re.compile(r"Signature number\s*2"))
        expect(receipt).to_contain_text(
            re.compile(r"Entry in the public log\s*2 \(index 1 in the log's API\)")
        )
        # The page is served in UTC and the script rewrites it in the reader's zone: wait for it.
        expect(receipt.locator("time")).to_have_text(re.compile(r"(EST|GMT-5)"))
        confirmed = receipt.locator("time").inner_text()
        assert not re.search(r"\d{4}-\d\d-\d\dT", confirmed), confirmed
        expect(page.locator("#numbering-heading")).to_have_text("How the numbers count")
        if os.environ.get("PETITIONS_SCREENSHOTS") == "1":
            page.screenshot(path=SCREENSHOTS / f"confirmed-{size}.png", full_page=True)

        housekeeping(app)
        page.get_by_role("link", name="Check my signature in the public log").click()
        text = checked(page, page.url, "ok")
        assert "Entry 2 of the log is included in the head of 2 entries" in text
        expect(page.locator("#receipt-number")).to_have_text("2")
        expect(page.locator("#receipt-index")).to_have_text("2 (index 1 in the log's API)")
        if os.environ.get("PETITIONS_SCREENSHOTS") == "1":
            page.screenshot(path=SCREENSHOTS / f"receipt-counted-{size}.png", full_page=True)

        page.goto(f"{base_url}/p/vote/results")
        expect(page.locator("main")).to_contain_text(
            "2 (entries 1 to 2; indexes 0 to 1 in the API)"
        )
        expect(page.locator("#numbering-heading")).to_have_text("How the numbers count")
    assert not errors, f"console errors: {errors}"


def test_a_receipt_checks_out_in_a_log_that_starts_with_its_committed_roll(app, base_url, browser):
    """The roll committed at opening is the log's entry 1: the browser reads it with the rest,
    counts nobody for it, and the signature is entry 2."""
    add_members(app, *MEMBERS)
    actions.create_petition(
        flask_db.engine_of(app),
        "organiser@example.org",
        slug="vote",
        title="Petition vote",
        threshold=1000,
        open_now=True,
        commit_roll=roll_commitment.committer(settings_of(app), "organiser@example.org"),
    )
    receipts = [confirm(app, member_id) for member_id, _ in MEMBERS[:3]]
    housekeeping(app)
    with page_in_context(browser, **READER) as (page, errors):
        text = checked(page, receipt_url(base_url, receipts[0]), "ok")
        assert text.startswith("Your signature is in the log and still counts.")
        assert "read all 4 entries of that head, checked them against its root" in text
        expect(page.locator("#receipt-number")).to_have_text("1")
        expect(page.locator("#receipt-index")).to_have_text("2 (index 1 in the log's API)")
    assert not errors, f"console errors: {errors}"
