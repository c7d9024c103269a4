"""The new-petition form: the title comes first and the web address (slug) is made from it
when it is left empty or was filled in by the page's script; an address the organiser typed is
kept and checked. The closing time is read as UTC from whatever a date picker, or a person
typing where none shows, gives."""

from datetime import UTC, datetime

import pytest

from tests.web.test_organiser_petitions import (
    NEW,
    assert_field_error,
    create,
    form,
    organiser,  # noqa: F401 - a fixture
    page_text,
    stored,
)

NEXT_YEAR = datetime.now(UTC).year + 1


def test_the_title_comes_before_the_address(organiser):  # noqa: F811 - the fixture
    html = organiser.get(NEW).get_data(as_text=True)
    assert html.index('id="title"') < html.index('id="slug"')
    assert "petition_form.js" in html
    assert 'name="slug_from_title"' in html


def test_an_empty_address_is_made_from_the_title(app, organiser):  # noqa: F811
    response = create(organiser, slug="", title="Fair pay: now!")
    assert response.headers["Location"] == "/organiser/p/fair-pay-now/settings"
    assert stored(app, "fair-pay-now").title == "Fair pay: now!"


def test_a_made_address_already_taken_gets_a_number(app, organiser):  # noqa: F811
    create(organiser, slug="fair-pay", title="Fair pay")
    create(organiser, slug="", title="Fair pay")
    # The script's address, not edited: made on the server, where it can be made unique.
    create(organiser, slug="fair-pay", slug_from_title="1", title="Fair pay")
    assert stored(app, "fair-pay-2").title == "Fair pay"
    assert stored(app, "fair-pay-3").title == "Fair pay"


def test_an_address_the_organiser_typed_is_kept_and_checked(app, organiser):  # noqa: F811
    create(organiser, slug="Vote-2027", title="Something else")
    assert stored(app, "vote-2027").title == "Something else"
    refused = organiser.post(NEW, data=form(slug="vote 2027!", title="Fair pay"))
    assert_field_error(refused, "slug")
    taken = organiser.post(NEW, data=form(slug="vote-2027", title="Fair pay"))
    assert_field_error(taken, "slug")
    assert "already exists" in page_text(taken)


def test_a_title_without_letters_gets_a_plain_address(app, organiser):  # noqa: F811
    create(organiser, slug="", title="🙂")
    assert stored(app, "petition").title == "🙂"


@pytest.mark.parametrize(
    "typed",
    [
        f"{NEXT_YEAR}-06-30T18:05",  # datetime-local
        f"{NEXT_YEAR}-06-30T18:05:00",  # datetime-local with step="1"
        f"{NEXT_YEAR}-06-30T18:05:00.000",  # with fractions, as some browsers send
        f"{NEXT_YEAR}-06-30 18:05",
        f"30/06/{NEXT_YEAR} 18:05",
        f"30/06/{NEXT_YEAR}, 18:05",
        f"30.06.{NEXT_YEAR} 18:05:00",
        f"06/30/{NEXT_YEAR}, 6:05 PM",
        f"{NEXT_YEAR}-06-30T19:05+01:00",
    ],
)
def test_the_closing_time_is_read_from_what_browsers_and_people_give(app, organiser, typed):  # noqa: F811
    create(organiser, closes_at=typed)
    assert stored(app).closes_at == datetime(NEXT_YEAR, 6, 30, 18, 5, tzinfo=UTC)


def test_the_closing_time_says_its_zone(organiser):  # noqa: F811
    text = page_text(organiser.get(NEW))
    assert "Closing time, in UTC" in text
    assert "The time you pick is read as UTC." in text
