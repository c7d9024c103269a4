"""A petition's slug made from its title: readable, within the slug rule, and unique."""

import pytest
from sqlmodel import Session

from petitions.db import flask_db
from petitions.lifecycle import rules, slugs


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Fair pay for all staff", "fair-pay-for-all-staff"),
        ("  Ça ira: élections à l'été!  ", "ca-ira-elections-a-l-ete"),
        ("Вибори", "vibori"),
        ("🙂 🙂", "petition"),
        ("", "petition"),
        ("word " * 30, "-".join(["word"] * 13)),  # cut at a word: 64 characters
        ("x" * 100, "x" * 64),
    ],
)
def test_a_slug_is_made_from_the_title(title, slug):
    made = slugs.from_title(title)
    assert made == slug
    assert rules.validate_slug(made) == made


def test_a_slug_taken_gets_the_first_number_free(app):
    with Session(flask_db.engine_of(app)) as session:
        for slug in ("fair-pay", "fair-pay-2", "fair-pay-4"):
            rules.create_petition(session, slug=slug, title=slug, threshold=5)
        session.commit()
        assert slugs.derived(session, "Fair pay") == "fair-pay-3"
        assert slugs.derived(session, "Fair pay now") == "fair-pay-now"


def test_a_numbered_slug_still_fits_in_64(app):
    long = "x" * 64
    with Session(flask_db.engine_of(app)) as session:
        rules.create_petition(session, slug=long, title="Long", threshold=5)
        session.commit()
        numbered = slugs.free(session, long)
    assert numbered == "x" * 62 + "-2"
    assert rules.validate_slug(numbered) == numbered


def test_creating_without_a_slug_makes_one(app):
    with Session(flask_db.engine_of(app)) as session:
        first = rules.create_petition(session, slug=None, title="Fair pay", threshold=5)
        second = rules.create_petition(session, slug=None, title="Fair pay", threshold=5)
        session.commit()
        assert (first.slug, second.slug) == ("fair-pay", "fair-pay-2")
