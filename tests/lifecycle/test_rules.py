"""The petition rules: creation checks, opening (threshold freezing), closing, closing time."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlmodel import select

from petitions.db.models import Member, Petition
from petitions.lifecycle import rules as lifecycle
from petitions.lifecycle.rules import PetitionError

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def add_members(db, count, *, status="active", start=0):
    """Put ``count`` members with ``status`` on the roll."""
    for number in range(start, start + count):
        db.add(
            Member(
                number=f"M{number:06d}",
                email=f"m{number}@example.org",
                email_key=f"m{number}@example.org",
                status=status,
            )
        )
    db.commit()


def create(db, slug="fair-pay", **overrides):
    """Create a petition with sensible defaults, overridden by keyword."""
    fields = {"title": "Fair pay for all staff", "threshold": 100, "now": NOW}
    fields.update(overrides)
    petition = lifecycle.create_petition(db, slug=slug, **fields)
    db.commit()
    return petition


# --- creating -------------------------------------------------------------------------------


def test_create_makes_a_draft_with_the_fields_given(db):
    closes = NOW + timedelta(days=30)
    petition = create(
        db,
        title="  Fair pay  ",
        body="First.\r\n\r\nSecond.",
        closes_at=closes,
        webhook_url="https://ballot.example.org/hook",
    )
    db.expire_all()
    stored = db.exec(select(Petition).where(Petition.slug == "fair-pay")).one()
    assert stored.id == petition.id
    assert stored.state == "draft"
    assert stored.title == "Fair pay"
    assert stored.body == "First.\n\nSecond."
    assert stored.threshold_absolute == 100
    assert stored.threshold_percent is None
    assert stored.threshold is None
    assert stored.eligible_members is None
    assert stored.closes_at == closes
    assert stored.webhook_url == "https://ballot.example.org/hook"
    assert stored.created_at == NOW
    assert stored.opened_at is None


def test_create_with_a_percentage_keeps_it_for_opening(db):
    petition = create(db, threshold=None, threshold_percent=12.5)
    db.expire_all()
    assert db.get(Petition, petition.id).threshold_percent == 12.5
    assert db.get(Petition, petition.id).threshold_absolute is None


@pytest.mark.parametrize("slug", ["a", "fair-pay-2026", "0", "-", "a" * 64])
def test_valid_slugs_are_accepted(db, slug):
    assert create(db, slug=slug).slug == slug


@pytest.mark.parametrize(
    "slug", ["", "Fair-pay", "fair pay", "fair_pay", "a" * 65, "café", "fair/pay", "fair-pay\n"]
)
def test_bad_slugs_are_refused(db, slug):
    with pytest.raises(PetitionError, match=r"slug .* is not valid"):
        create(db, slug=slug)
    assert db.exec(select(Petition)).all() == []


def test_a_taken_slug_is_refused(db):
    create(db)
    with pytest.raises(PetitionError, match="already exists"):
        create(db, title="Another")
    assert len(db.exec(select(Petition)).all()) == 1


@pytest.mark.parametrize(
    ("title", "message"),
    [
        ("", "title must not be empty"),
        ("   ", "title must not be empty"),
        ("x" * 201, "201 characters long; the limit is 200"),
        ("two\nlines", "single line"),
        ("nul\x00", "single line"),
    ],
)
def test_bad_titles_are_refused(db, title, message):
    with pytest.raises(PetitionError, match=message):
        create(db, title=title)


def test_a_title_of_exactly_200_characters_is_accepted(db):
    assert len(create(db, title="x" * 200).title) == 200


def test_bad_body_text_is_refused(db):
    with pytest.raises(PetitionError, match="NUL"):
        create(db, body="a\x00b")
    with pytest.raises(PetitionError, match="the limit is 50000"):
        create(db, body="x" * 50_001)


@pytest.mark.parametrize(
    ("threshold", "percent", "message"),
    [
        (None, None, "exactly one"),
        (10, 10, "exactly one"),
        (0, None, "at least 1"),
        (-5, None, "at least 1"),
        (2_147_483_648, None, "at most"),
        (True, None, "whole number"),
        (None, 0, "greater than 0 and at most 100"),
        (None, -1, "greater than 0 and at most 100"),
        (None, 100.001, "greater than 0 and at most 100"),
        (None, float("nan"), "greater than 0 and at most 100"),
        (None, float("inf"), "greater than 0 and at most 100"),
        (None, 12.3456, "at most 3 decimal places"),
        (None, "ten", "must be a number"),
    ],
)
def test_bad_thresholds_are_refused(db, threshold, percent, message):
    with pytest.raises(PetitionError, match=message):
        create(db, threshold=threshold, threshold_percent=percent)
    assert db.exec(select(Petition)).all() == []


def test_a_percentage_of_exactly_100_is_accepted(db):
    assert create(db, threshold=None, threshold_percent=100).threshold_percent == 100


def test_closing_time_must_be_in_the_future_and_zoned(db):
    with pytest.raises(PetitionError, match="not in the future"):
        create(db, closes_at=NOW)
    with pytest.raises(PetitionError, match="not in the future"):
        create(db, closes_at=NOW - timedelta(seconds=1))
    with pytest.raises(PetitionError, match="must include a timezone"):
        create(db, closes_at=datetime(2030, 1, 1, 12, 0))


def test_closing_time_in_another_zone_is_stored_as_the_same_instant(db):
    paris = timezone(timedelta(hours=1))
    petition = create(db, closes_at=datetime(2027, 1, 1, 13, 0, tzinfo=paris))
    db.expire_all()
    assert db.get(Petition, petition.id).closes_at == datetime(2027, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://ballot.example.org/hook",
        "ballot.example.org/hook",
        "https://",
        "javascript:alert(1)",
        "http://[::1",
        "https://ballot.example.org:99999/",
        "https://ballot.example.org/a b",
        "https://ballot.example.org/" + "a" * 2000,
    ],
)
def test_bad_webhook_urls_are_refused(db, url):
    with pytest.raises(PetitionError, match="webhook URL"):
        create(db, webhook_url=url)


def test_http_webhook_urls_are_accepted(db):
    assert create(db, webhook_url="http://ballot.example.org:8000/h").webhook_url == (
        "http://ballot.example.org:8000/h"
    )


# --- opening --------------------------------------------------------------------------------


def test_open_freezes_an_absolute_threshold_and_the_active_members(db):
    add_members(db, 7)
    add_members(db, 3, status="lapsed", start=100)
    add_members(db, 2, status="suspended", start=200)
    create(db, threshold=5)
    petition = lifecycle.open_petition(db, "fair-pay", now=NOW)
    db.commit()
    db.expire_all()
    stored = db.get(Petition, petition.id)
    assert stored.state == "open"
    assert stored.threshold == 5
    assert stored.eligible_members == 7
    assert stored.opened_at == NOW


@pytest.mark.parametrize(
    ("active", "percent", "expected"),
    [
        (4120, 10, 412),  # exact: no floating-point remainder may push it to 413
        (4121, 10, 413),  # 412.1 rounds up
        (1000, 0.001, 1),  # 0.01 rounds up to 1
        (3, 33.333, 1),  # 0.99999 rounds up to 1
        (10, 100, 10),
        (7, 12.5, 1),  # 0.875 rounds up to 1
        (10_000, 12.345, 1235),  # 1234.5 rounds up
    ],
)
def test_a_percentage_threshold_is_rounded_up(db, active, percent, expected):
    add_members(db, active)
    create(db, threshold=None, threshold_percent=percent)
    petition = lifecycle.open_petition(db, "fair-pay", now=NOW)
    assert petition.threshold == expected
    assert petition.eligible_members == active


def test_threshold_for_never_asks_for_fewer_than_one():
    assert lifecycle.threshold_for(1, percent=Decimal("0.001")) == 1
    assert lifecycle.threshold_for(0, absolute=3) == 3


def test_a_threshold_is_frozen_when_the_petition_opens(db):
    add_members(db, 100)
    create(db, threshold=None, threshold_percent=10)
    lifecycle.open_petition(db, "fair-pay", now=NOW)
    db.commit()
    add_members(db, 900, start=1000)
    add_members(db, 50, status="lapsed", start=5000)
    db.expire_all()
    stored = lifecycle.find_petition(db, "fair-pay")
    assert stored.threshold == 10
    assert stored.eligible_members == 100


def test_an_absolute_threshold_may_open_with_an_empty_roll(db):
    create(db, threshold=3)
    petition = lifecycle.open_petition(db, "fair-pay", now=NOW)
    assert (petition.threshold, petition.eligible_members) == (3, 0)


def test_a_percentage_threshold_is_refused_with_no_active_members(db):
    add_members(db, 4, status="lapsed")
    create(db, threshold=None, threshold_percent=10)
    with pytest.raises(PetitionError, match="no active members"):
        lifecycle.open_petition(db, "fair-pay", now=NOW)
    db.rollback()
    assert lifecycle.find_petition(db, "fair-pay").state == "draft"


@pytest.mark.parametrize("state", ["open", "triggered", "closed"])
def test_only_a_draft_can_be_opened(db, state):
    petition = create(db)
    petition.state = state
    db.add(petition)
    db.commit()
    with pytest.raises(PetitionError, match=f"is {state}; only a draft can be opened"):
        lifecycle.open_petition(db, "fair-pay", now=NOW)


def test_a_draft_past_its_closing_time_cannot_open(db):
    create(db, closes_at=NOW + timedelta(hours=1))
    with pytest.raises(PetitionError, match="has passed"):
        lifecycle.open_petition(db, "fair-pay", now=NOW + timedelta(hours=1))


def test_unknown_slugs_are_refused(db):
    with pytest.raises(PetitionError, match="no petition with slug 'nope'"):
        lifecycle.open_petition(db, "nope")
    with pytest.raises(PetitionError, match="no petition with slug 'nope'"):
        lifecycle.close_petition(db, "nope")


def test_open_uses_the_current_time_when_none_is_given(db):
    create(db, now=None)
    before = datetime.now(UTC)
    petition = lifecycle.open_petition(db, "fair-pay")
    assert before <= petition.opened_at <= datetime.now(UTC)


# --- closing --------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["open", "triggered"])
def test_open_and_triggered_petitions_close(db, state):
    create(db)
    lifecycle.open_petition(db, "fair-pay", now=NOW)
    petition = lifecycle.find_petition(db, "fair-pay")
    petition.state = state
    db.commit()
    later = NOW + timedelta(days=2)
    lifecycle.close_petition(db, "fair-pay", now=later)
    db.commit()
    db.expire_all()
    stored = lifecycle.find_petition(db, "fair-pay")
    assert (stored.state, stored.closed_at) == ("closed", later)


def test_a_draft_cannot_be_closed(db):
    create(db)
    with pytest.raises(PetitionError, match="is a draft"):
        lifecycle.close_petition(db, "fair-pay", now=NOW)


def test_a_closed_petition_cannot_be_closed_again(db):
    create(db)
    lifecycle.open_petition(db, "fair-pay", now=NOW)
    lifecycle.close_petition(db, "fair-pay", now=NOW)
    db.commit()
    with pytest.raises(PetitionError, match="already closed"):
        lifecycle.close_petition(db, "fair-pay", now=NOW)


def test_closing_after_the_closing_time_records_the_closing_time(db):
    closes = NOW + timedelta(days=1)
    create(db, closes_at=closes)
    lifecycle.open_petition(db, "fair-pay", now=NOW)
    petition = lifecycle.close_petition(db, "fair-pay", now=closes + timedelta(days=3))
    assert petition.closed_at == closes


# --- the closing time -----------------------------------------------------------------------


def test_effective_state_is_closed_once_the_closing_time_passes(db):
    closes = NOW + timedelta(days=1)
    create(db, closes_at=closes)
    petition = lifecycle.find_petition(db, "fair-pay")
    assert lifecycle.effective_state(petition, closes + timedelta(days=1)) == "draft"
    lifecycle.open_petition(db, "fair-pay", now=NOW)
    assert lifecycle.effective_state(petition, NOW) == "open"
    assert lifecycle.effective_state(petition, closes - timedelta(microseconds=1)) == "open"
    assert lifecycle.effective_state(petition, closes) == "closed"
    petition.state = "triggered"
    assert lifecycle.effective_state(petition, closes - timedelta(seconds=1)) == "triggered"
    assert lifecycle.effective_state(petition, closes) == "closed"


def test_a_petition_without_closing_time_stays_open(db):
    create(db)
    petition = lifecycle.open_petition(db, "fair-pay", now=NOW)
    assert lifecycle.effective_state(petition, NOW + timedelta(days=3650)) == "open"


def test_close_expired_writes_down_only_the_petitions_past_their_time(db):
    soon, later = NOW + timedelta(hours=1), NOW + timedelta(days=5)
    for slug, closes in [("soon", soon), ("later", later), ("never", None)]:
        create(db, slug=slug, closes_at=closes)
        lifecycle.open_petition(db, slug, now=NOW)
    create(db, slug="draft", closes_at=soon)
    db.commit()

    closed = lifecycle.close_expired(db, now=soon + timedelta(minutes=5))
    db.commit()
    assert [p.slug for p in closed] == ["soon"]
    db.expire_all()
    states = {p.slug: (p.state, p.closed_at) for p in lifecycle.all_petitions(db)}
    assert states == {
        "soon": ("closed", soon),
        "later": ("open", None),
        "never": ("open", None),
        "draft": ("draft", None),
    }
    assert lifecycle.close_expired(db, now=soon + timedelta(minutes=6)) == []


def test_public_petitions_are_the_open_and_triggered_ones_before_their_time(db):
    closes = NOW + timedelta(days=1)
    for slug in ["one", "two", "three", "past"]:
        create(db, slug=slug, closes_at=closes if slug == "past" else None)
        lifecycle.open_petition(db, slug, now=NOW)
    lifecycle.find_petition(db, "two").state = "triggered"
    lifecycle.close_petition(db, "three", now=NOW)
    create(db, slug="draft")
    db.commit()
    assert [p.slug for p in lifecycle.public_petitions(db, now=NOW)] == ["past", "two", "one"]
    after = closes + timedelta(seconds=1)
    assert [p.slug for p in lifecycle.public_petitions(db, now=after)] == ["two", "one"]


def test_progress_is_a_capped_whole_percentage():
    petition = Petition(slug="p", title="t", threshold=400, signature_count=0)
    assert lifecycle.progress_percent(petition) == 0
    petition.signature_count = 399
    assert lifecycle.progress_percent(petition) == 99
    petition.signature_count = 400
    assert lifecycle.progress_percent(petition) == 100
    petition.signature_count = 1000
    assert lifecycle.progress_percent(petition) == 100
    assert lifecycle.progress_percent(Petition(slug="d", title="t")) == 0


def test_iso_utc_writes_utc_with_a_z():
    paris = timezone(timedelta(hours=1))
    assert lifecycle.iso_utc(datetime(2027, 1, 1, 13, 0, tzinfo=paris)) == "2027-01-01T12:00:00Z"
    assert lifecycle.iso_utc(None) is None


def test_a_slug_taken_at_the_same_moment_is_refused_by_the_database(db, monkeypatch):
    create(db)
    # As if another process inserted the slug between the check and the insert.
    monkeypatch.setattr(lifecycle, "find_petition", lambda session, slug: None)
    with pytest.raises(PetitionError, match="already exists"):
        create(db, title="Another")
    assert [p.title for p in db.exec(select(Petition))] == ["Fair pay for all staff"]
