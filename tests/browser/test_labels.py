"""Words, not codes, in a real browser: no page a member, an organiser or a scrutineer can
reach shows an ISO moment, a code or a bare slug in its visible text, and every moment is
shown in the reader's own time zone (the browser's, here fixed), keeping its ISO datetime."""

import os
import re
from zoneinfo import ZoneInfo

import pytest

from tests import walk
from tests.browser_support import (
    DESKTOP,
    PHONE,
    SCREENSHOTS,
    page_in_context,
    served,
    session_cookie,
)
from tests.helpers import petition, sign_in

SIZES = [("phone", PHONE), ("desktop", DESKTOP)]
# What a reader is told in words: the visible text, less what they are shown to type as it is
# (code, pre, and the hints of form fields).
VISIBLE_WORDS = """
() => {
  const body = document.body.cloneNode(true);
  body.querySelectorAll("code, pre, .hint, script, style").forEach((part) => part.remove());
  document.body.after(body);
  const text = body.innerText;
  body.remove();
  return text;
}
"""

ZONE = "Pacific/Auckland"
MOMENTS = (
    "[...document.querySelectorAll('time')]"
    ".map((t) => [t.dateTime, t.dataset.style, t.textContent])"
)
# Every moment of the page has been rewritten from UTC.
ALL_LOCAL = "[...document.querySelectorAll('time')].every((t) => !t.textContent.includes('UTC'))"


@pytest.fixture
def database_url(tmp_path):
    """SQLite only: these tests are about the pages, not the backend."""
    return f"sqlite:///{tmp_path / 'test.db'}"


def _pages(client, starts) -> list[str]:
    get = walk.getter(client)

    return [
        path
        for path, status, body, _forms in walk.walk(get, starts)
        if status == 200 and "<h1" in body
    ]


@pytest.mark.parametrize("role", ["organiser", "scrutineer"])
@pytest.mark.parametrize(("size", "viewport"), SIZES)
def test_no_page_shows_an_iso_moment_a_code_or_a_bare_slug(browser, app, role, size, viewport):
    arranged = walk.arrange(app)
    client = arranged.test_client()
    sign_in(arranged, client, f"{role}@example.org", role)
    starts = walk.STARTS
    pages = _pages(client, starts)
    assert len(pages) > 15
    found = {}
    with served(arranged) as base, page_in_context(browser, viewport=viewport) as (page, errors):
        page.context.add_cookies([session_cookie(client, base)])
        for path in pages:
            page.goto(base + path)
            if codes := walk.codes_in(page.evaluate(VISIBLE_WORDS)):
                found[path] = codes
    assert found == {}
    assert errors == []


@pytest.mark.parametrize(("size", "viewport"), SIZES)
def test_moments_are_shown_in_the_readers_time_zone(browser, app, size, viewport):
    arranged = walk.arrange(app)
    client = arranged.test_client()
    sign_in(arranged, client, "organiser@example.org", "organiser")
    reached = petition(arranged, walk.REACHED).reached_at
    here = reached.astimezone(ZoneInfo(ZONE))
    with (
        served(arranged) as base,
        page_in_context(browser, viewport=viewport, timezone_id=ZONE) as (page, errors),
    ):
        page.context.add_cookies([session_cookie(client, base)])
        page.goto(f"{base}/p/{walk.REACHED}")
        page.wait_for_function(ALL_LOCAL)
        shown = page.evaluate(MOMENTS)
        iso = reached.isoformat()
        # Auckland is 13 hours ahead in December: the day may already be the next one.
        assert [iso, "date", f"{here.day} {here:%B %Y}"] in shown
        [minute] = [words for when, style, words in shown if when == iso and style == "minute"]
        assert re.fullmatch(rf"{here.day} {here:%B %Y, %H:%M} \S+", minute), minute
        assert "UTC" not in minute
        # The dashboard's moments, and those its own script refreshes, are the reader's too.
        page.goto(f"{base}/organiser/p/{walk.REACHED}")
        page.wait_for_function(ALL_LOCAL)
        updated = page.locator("[data-updated] time")
        first = updated.get_attribute("datetime")
        page.wait_for_function(
            "(first) => document.querySelector('[data-updated] time').dateTime !== first", arg=first
        )
        page.wait_for_function(ALL_LOCAL)
        assert re.fullmatch(r"\d{2}:\d{2}:\d{2} \S+", updated.inner_text())
    assert errors == []


# Where each petition's count is told, and the words it must be told in.
COUNT_WORDS = {
    f"/p/{walk.REACHED}": r"7 signatures: threshold of 5 reached on \d{1,2} \w+ \d{4}",
    f"/p/{walk.CLOSED}": r"Closed with 3 of 30 signatures",
    f"/p/{walk.OPEN}": r"2 of 30 signatures needed",
    "/": r"7 signatures: threshold of 5 reached on \d{1,2} \w+ \d{4}",
    f"/p/{walk.CLOSED}/results": r"Closed with 3 of 30 signatures",
    f"/organiser/p/{walk.CLOSED}": r"Closed with 3 of 30 signatures",
    f"/organiser/p/{walk.REACHED}": r"7 signatures: threshold of 5 reached on \d{1,2} \w+ \d{4}",
}
SCREENSHOT_NAMES = {
    f"/p/{walk.REACHED}": "petition-reached",
    f"/p/{walk.CLOSED}": "petition-closed",
    f"/organiser/p/{walk.CLOSED}": "dashboard-closed",
}


@pytest.mark.parametrize(("size", "viewport"), SIZES)
def test_counts_past_the_threshold_and_closed_counts_are_told_in_words(
    browser, app, size, viewport
):
    arranged = walk.arrange(app)
    client = arranged.test_client()
    sign_in(arranged, client, "organiser@example.org", "organiser")
    with served(arranged) as base, page_in_context(browser, viewport=viewport) as (page, errors):
        page.context.add_cookies([session_cookie(client, base)])
        for path, words in COUNT_WORDS.items():
            page.goto(base + path)
            text = " ".join(page.locator("main").inner_text().split())
            assert re.search(words, text), (path, text[:400])
            if os.environ.get("PETITIONS_SCREENSHOTS") == "1" and path in SCREENSHOT_NAMES:
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                shot = SCREENSHOTS / f"{SCREENSHOT_NAMES[path]}-{size}.png"
                page.screenshot(path=str(shot), full_page=True)
        page.goto(base + "/organiser/")
        listing = " ".join(page.locator("main").inner_text().split())
        assert "Closed with 3 of 30 signatures" in listing
        assert re.search(r"7 signatures: threshold of 5 reached on \d{1,2} \w+ \d{4}", listing)
    assert errors == []
