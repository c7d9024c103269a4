"""Importing the roll in headless Chromium: an organiser chooses a file, watches the progress
bar and lands on the report with the rejected rows, which downloads as CSV; the pages run under
the content security policy, work without JavaScript, and pass axe's WCAG checks.

SQLite only; skipped without /usr/bin/chromium unless PETITIONS_TEST_REQUIRE_BROWSER=1. With
PETITIONS_SCREENSHOTS=1 the report is saved under docs/screenshots at a phone's and a desktop's
width.
"""

import csv
import io
import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from petitions.config import settings_of
from petitions.db import flask_db
from petitions.outbox import progress, work
from petitions.roll import uploads
from petitions.roll.importer import import_roll
from tests.browser_support import (
    AXE,
    DESKTOP,
    PHONE,
    RECORD_VIOLATIONS,
    SCREENSHOTS,
    WCAG_TAGS,
    open_page,
    require_axe,
    served,
    session_cookie,
)
from tests.helpers import configure, sign_in

ROLL = (
    "member_id,email,name,region,status,joined_on\n"
    + "".join(
        f"M{n:03d},m{n}@example.org,Member {n},{('North', 'South', 'East')[n % 3]},active,\n"
        for n in range(1, 31)
    )
    + "M900,not-an-address,Broken Row,North,active,\n"
    + "M901,ok@example.org,Unknown Status,North,retired,\n"
    + "M902,late@example.org,Bad Date,South,active,2024-13-40\n"
    + "M001,again@example.org,Repeated Number,East,active,\n"
    + "M031,home@example.org,Alex Evans,South,active,\n"
    + "M032,Home@Example.org,Priya Evans,South,active,\n"
)


@pytest.fixture
def database_url(tmp_path):
    """SQLite only: these tests are about the browser, not the backend."""
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def signed_in(app, client):
    """A signed-in organiser's session cookie, for a browser context, and the base URL."""
    sign_in(app, client, "organiser@example.org", "organiser")
    with served(app) as base:
        yield base, session_cookie(client, base)


IMPORTING = "Importing roll.csv"


def _choose_and_upload(page, base: str, path: Path, *, strict: bool = False) -> None:
    page.goto(f"{base}/organiser/roll")
    expect(page.locator("h1")).to_have_text("Membership roll")
    page.get_by_label("Roll file (CSV)").set_input_files(str(path))
    if strict:
        page.get_by_label("Refuse the whole file if any row is bad").check()
    page.get_by_role("button", name="Upload and import").click()


def _axe_problems(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_TAGS
    )
    return [
        f"{page.url}: {v['id']} [{v['impact']}] {v['help']}"
        for v in result["violations"]
        if v["impact"] in {"serious", "critical"}
    ]


def test_an_organiser_uploads_a_roll_watches_it_and_reads_the_report(
    app, browser, signed_in, tmp_path, monkeypatch
):
    # Progress is published on every chunk read, not at most twice a second.
    monkeypatch.setattr(uploads, "PROGRESS_EVERY_SECONDS", 0)
    base, cookie = signed_in
    path = tmp_path / "members-2026.csv"
    path.write_text(ROLL)
    context, page, errors = open_page(browser, viewport=DESKTOP, accept_downloads=True)
    context.add_cookies([cookie])
    page.add_init_script(RECORD_VIOLATIONS)
    try:
        _choose_and_upload(page, base, path)
        expect(page.locator("h1")).to_have_text("Importing members-2026.csv")
        message = page.locator("#roll-progress-message")
        expect(message).to_have_text("Waiting for a worker to start the import.")
        bar = page.locator("#roll-progress-bar")
        assert bar.get_attribute("value") is None, "waiting: a bar without a figure"

        # A worker takes the upload and reads a quarter of the file: the page's script shows it.
        engine = flask_db.engine_of(app)
        assert work.claim(engine, "roll_upload", 1)
        reporter = uploads._Reporter(
            progress.store_for(settings_of(app).redis_url), uploads.progress_key(1), 4096
        )
        reporter.start()
        reporter.read(1024)
        expect(message).to_have_text("Reading the file: 25% (1.0 KB of 4.0 KB).")
        expect(bar).to_have_attribute("value", "1024")
        expect(bar).to_have_attribute("max", "4096")
        reporter.phase("checking")
        expect(message).to_have_text("Checking the rows.")
        expect(bar).not_to_have_attribute("value", "1024")

        # The import itself, then the page opens the report by itself.
        uploads.run_upload(engine, settings_of(app), 1)
        expect(page.locator("h1")).to_contain_text("Roll import #1", timeout=10_000)
        assert page.url == f"{base}/organiser/roll/imports/1"
        expect(page.locator(".notice")).to_contain_text(
            "The file was imported with 5 rows rejected. The rejected rows were not imported; "
            "the other rows were: 31 added, 0 updated, 0 unchanged, 0 lapsed."
        )
        expect(page.locator("h1 .roll-outcome")).to_have_text("Imported with 5 rows rejected")
        rows = page.locator("table.roll-notes").first.locator("tbody tr")
        expect(rows).to_have_count(5)
        expect(rows.nth(0)).to_contain_text("M001")
        expect(rows.nth(0)).to_contain_text("given more than once in the file (lines 2, 35)")
        expect(rows.nth(1)).to_contain_text("invalid e-mail address 'not-an-address'")
        expect(rows.nth(2)).to_contain_text("unknown status 'retired'")
        expect(rows.nth(3)).to_contain_text("joined_on '2024-13-40' is not a date")

        with page.expect_download() as download:
            page.get_by_role("link", name="Download the report (CSV)").click()
        assert download.value.suggested_filename == "roll-import-1-report.csv"
        report = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
        assert report[0] == ["line", "member_id", "kind", "detail"]
        assert [(row[0], row[2]) for row in report[1:]] == [
            ("2", "rejected"),
            ("32", "rejected"),
            ("33", "rejected"),
            ("34", "rejected"),
            ("35", "rejected"),
            ("36", "household"),
            ("37", "household"),
        ]
        households = page.locator("table.roll-notes").nth(1).locator("tbody tr")
        expect(households).to_have_count(2)
        expect(households.nth(1)).to_contain_text("M032")

        page.goto(f"{base}/organiser/roll")
        history = page.locator("table.roll-history tbody tr")
        expect(history).to_have_count(1)
        expect(history.first).to_contain_text("members-2026.csv")
        expect(history.first).to_contain_text("organiser@example.org")

        page.goto(f"{base}/organiser/roll/imports/1")
        if os.environ.get("PETITIONS_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            for name, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
                page.set_viewport_size(viewport)
                page.screenshot(
                    path=str(SCREENSHOTS / f"roll-upload-report-{name}.png"), full_page=True
                )
        page.set_viewport_size(PHONE)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"the report scrolls sideways by {overflow}px on a phone"
        violations = page.evaluate("window.__cspViolations")
    finally:
        context.close()
    assert errors == []
    assert violations == []


def test_a_refused_file_shows_its_reason(app, browser, signed_in, tmp_path, worker):
    base, cookie = signed_in
    path = tmp_path / "roll.csv"
    path.write_text(ROLL)
    context, page, errors = open_page(browser, viewport=PHONE)
    context.add_cookies([cookie])
    try:
        _choose_and_upload(page, base, path, strict=True)
        expect(page.locator("h1")).to_have_text(IMPORTING)
        assert worker.run_pending() >= 1
        expect(page.locator("h1")).to_contain_text("Roll import #1", timeout=10_000)
        expect(page.locator(".roll-refusal")).to_contain_text(
            "The file was refused: nothing was imported."
        )
        expect(page.locator(".roll-refusal")).to_contain_text(
            "5 row(s) rejected and --strict given"
        )
        expect(page.locator("table.roll-notes").first.locator("tbody tr")).to_have_count(5)
    finally:
        context.close()
    assert errors == []


def test_a_file_over_the_limit_is_stopped_before_it_is_sent(app, browser, signed_in, tmp_path):
    configure(app, roll_upload_max_bytes=1024)
    base, cookie = signed_in
    path = tmp_path / "big.csv"
    path.write_text(ROLL)
    context, page, errors = open_page(browser, viewport=PHONE)
    context.add_cookies([cookie])
    try:
        _choose_and_upload(page, base, path)
        expect(page.locator("#roll-file-size-error")).to_have_text(
            "big.csv is larger than the 1.0 KB a browser upload may be."
        )
        assert page.url == f"{base}/organiser/roll", "the form was not sent"
        assert page.evaluate("document.getElementById('roll-file').validity.valid") is False
    finally:
        context.close()
    assert errors == []


def test_the_upload_works_without_javascript(app, browser, signed_in, tmp_path, worker):
    base, cookie = signed_in
    path = tmp_path / "roll.csv"
    path.write_text(ROLL)
    context, page, errors = open_page(browser, viewport=PHONE, java_script_enabled=False)
    context.add_cookies([cookie])
    try:
        _choose_and_upload(page, base, path)
        expect(page.locator("h1")).to_have_text(IMPORTING)
        expect(page.locator("#roll-progress-message")).to_have_text(
            "Waiting for a worker to start the import."
        )
        assert worker.run_pending() >= 1
        page.get_by_role("link", name="Refresh").click()
        expect(page.locator("h1")).to_contain_text("Roll import #1")
        expect(page.locator("table.roll-notes").first.locator("tbody tr")).to_have_count(5)
    finally:
        context.close()
    assert errors == []


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_roll_pages_pass_axe(app, browser, signed_in, tmp_path, worker, viewport):
    require_axe()
    base, cookie = signed_in
    path = tmp_path / "roll.csv"
    path.write_text(ROLL)
    # axe is injected as a script of its own: the content security policy would refuse it.
    context, page, errors = open_page(browser, viewport=viewport, bypass_csp=True)
    context.add_cookies([cookie])
    problems = []
    try:
        _choose_and_upload(page, base, path)
        expect(page.locator("h1")).to_have_text(IMPORTING)
        problems += _axe_problems(page)
        worker.run_pending()
        # The page follows the import and opens the report by itself.
        page.wait_for_url(f"{base}/organiser/roll/imports/1", timeout=10_000)
        problems += _axe_problems(page)
        page.goto(f"{base}/organiser/roll")
        problems += _axe_problems(page)
    finally:
        context.close()
    assert problems == []
    assert errors == []


CLEAN_ROLL = "member_id,email\nC1,c1@example.org\nC2,c2@example.org\n"


def _shoot(page, name: str, viewport: dict) -> None:
    if os.environ.get("PETITIONS_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        size = "phone" if viewport == PHONE else "desktop"
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{size}.png"), full_page=True)


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_an_import_with_rejected_rows_says_so_and_each_file_has_one_number(
    app, browser, signed_in, tmp_path, worker, viewport
):
    # A clean import from the command line first: the browser's upload becomes import #2,
    # while it is the first upload.
    import_roll(flask_db.engine_of(app), io.BytesIO(CLEAN_ROLL.encode()), "clean.csv")
    base, cookie = signed_in
    path = tmp_path / "members-2026.csv"
    path.write_text(ROLL)
    context, page, errors = open_page(browser, viewport=viewport)
    context.add_cookies([cookie])
    try:
        _choose_and_upload(page, base, path)
        expect(page.locator("h1")).to_have_text("Importing members-2026.csv")
        _shoot(page, "roll-upload", viewport)
        page.goto(f"{base}/organiser/roll")
        waiting = page.locator("table.roll-unfinished tbody tr")
        expect(waiting).to_have_count(1)
        expect(waiting.get_by_role("link", name="members-2026.csv")).to_be_visible()
        assert "#" not in waiting.inner_text(), "an upload shows no number of its own"

        assert worker.run_pending() >= 1
        page.goto(f"{base}/organiser/roll")
        history = page.locator("table.roll-history tbody tr")
        expect(history).to_have_count(2)
        newest, clean = history.nth(0), history.nth(1)
        expect(newest.get_by_role("link", name="#2")).to_be_visible()
        expect(newest.locator(".roll-outcome")).to_have_text("Imported with 5 rows rejected")
        expect(clean.locator(".roll-outcome")).to_have_text("Imported")
        _shoot(page, "roll-history", viewport)

        newest.get_by_role("link", name="see the rejected rows of import 2").click()
        assert page.url == f"{base}/organiser/roll/imports/2#rejected-heading"
        expect(page.locator("h1")).to_have_text("Roll import #2 Imported with 5 rows rejected")
        partial = page.locator(".roll-partial")
        expect(partial).to_contain_text("The file was imported with 5 rows rejected.")
        expect(partial.get_by_role("link", name="See the rejected rows")).to_have_attribute(
            "href", "#rejected-heading"
        )
        expect(partial.get_by_role("link", name="report as CSV")).to_have_attribute(
            "href", "/organiser/roll/imports/2/report.csv"
        )
        # The upload's own address leads to the import: the file's one number.
        page.goto(f"{base}/organiser/roll/uploads/1")
        assert page.url == f"{base}/organiser/roll/imports/2"
        main = page.locator("main").inner_text()
        assert "#1" not in main
        assert "upload #" not in main.lower()
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"the report scrolls sideways by {overflow}px"
    finally:
        context.close()
    assert errors == []
