"""On a phone (375 x 812): the site header and the organiser tabs leave the page's heading in
the top quarter of the screen on every organiser page, and the tables of those pages become
cards, each cell named by its column."""

import pytest

from tests import walk
from tests.browser_support import DESKTOP, PHONE, page_in_context, served, session_cookie
from tests.helpers import sign_in


@pytest.fixture
def database_url(tmp_path):
    """SQLite only: these tests are about the pages, not the backend."""
    return f"sqlite:///{tmp_path / 'test.db'}"


def organiser_pages(app, client) -> list[str]:
    """Every organiser and scrutiny page reachable by links from the petitions list."""

    get = walk.getter(client)

    return [
        path
        for path, status, body, _forms in walk.walk(get, ("/organiser/", "/scrutiny/"))
        if status == 200 and path.startswith(("/organiser", "/scrutiny")) and "<h1" in body
    ]


def test_the_heading_starts_in_the_top_quarter_of_a_phone_on_every_organiser_page(browser, app):
    arranged = walk.arrange(app)
    client = arranged.test_client()
    sign_in(arranged, client, "organiser@example.org", "organiser")
    pages = organiser_pages(arranged, client)
    assert len(pages) > 10
    with served(arranged) as base, page_in_context(browser, viewport=PHONE) as (page, errors):
        page.context.add_cookies([session_cookie(client, base)])
        tops = {}
        for path in pages:
            page.goto(base + path)
            tops[path] = page.evaluate("document.querySelector('h1').getBoundingClientRect().top")
    assert {path: top for path, top in tops.items() if top >= PHONE["height"] / 4} == {}
    assert errors == []


# Each wide table of the page: its display, its first row's display, whether its headings
# are on screen (on a desktop), where its first row ends on the right, and each cell of its
# first body row as (the name shown before it, its text).
TABLES = r"""
() => [...document.querySelectorAll("table.data-table")]
  .filter((table) => table.tHead && table.tHead.rows[0].cells.length >= 4)
  .map((table) => {
    const row = table.tBodies[0].rows[0];
    const head = table.tHead.getBoundingClientRect();
    return {
      cards: table.hasAttribute("data-cards"),
      display: getComputedStyle(table).display,
      row: getComputedStyle(row).display,
      right: row.getBoundingClientRect().right,
      headings: head.width > 1 && head.height > 1,
      names: [...table.tHead.rows[0].cells].map((cell) => {
        const words = cell.cloneNode(true);
        words.querySelectorAll("[hidden], input, label, button").forEach((part) => part.remove());
        return words.textContent.replace(/\s+/g, " ").trim();
      }),
      cells: [...row.cells].map((cell) => [
        getComputedStyle(cell, "::before").content, cell.textContent.trim(),
      ]),
    };
  })
"""
CARD_PAGES = (
    "/organiser/",
    "/organiser/roll",
    f"/organiser/p/{walk.REACHED}/signatures",
    "/scrutiny/",
    f"/scrutiny/p/{walk.REACHED}",
)


@pytest.mark.parametrize(("size", "viewport"), [("phone", PHONE), ("desktop", DESKTOP)])
def test_wide_tables_are_cards_on_a_phone_and_tables_on_a_desktop(browser, app, size, viewport):
    arranged = walk.arrange(app)
    client = arranged.test_client()
    sign_in(arranged, client, "organiser@example.org", "organiser")
    with served(arranged) as base, page_in_context(browser, viewport=viewport) as (page, errors):
        page.context.add_cookies([session_cookie(client, base)])
        for path in CARD_PAGES:
            page.goto(base + path)
            page.wait_for_load_state("networkidle")
            tables = page.evaluate(TABLES)
            assert tables, path
            for table in tables:
                assert table["cards"], path
                if size == "desktop":
                    assert (table["display"], table["row"]) == ("table", "table-row"), path
                    assert table["headings"], path
                    continue
                assert (table["display"], table["row"]) == ("block", "block"), path
                # The card fits the screen: nothing of it is out of sight to the right.
                assert table["right"] <= viewport["width"], path
                for (before, text), name in zip(table["cells"], table["names"], strict=True):
                    # Every cell with something in it is named by its column.
                    if text:
                        assert before == f'"{name}: "', (path, name, text)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, (path, overflow)
    assert errors == []
