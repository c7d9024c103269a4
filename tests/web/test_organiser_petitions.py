"""Organisers create, edit, open and close petitions in the browser, under the rules of the
command line, and every change lands in the audit trail."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from petitions.db import flask_db
from petitions.db.models import AuditEvent, Member, Petition
from petitions.lifecycle import rules as lifecycle
from petitions.lifecycle.rules import PetitionError
from tests.helpers import add_members, open_petition, petition, sign_in

ORGANISER = "organiser@example.org"
NEW = "/organiser/petitions/new"
FUTURE = (datetime.now(UTC) + timedelta(days=400)).replace(second=0, microsecond=0)


@pytest.fixture
def organiser(app, client):
    """The test client, signed in as an organiser."""
    sign_in(app, client, ORGANISER, "organiser")
    return client


def form(**overrides) -> dict:
    """A valid new-petition form, changed by keyword."""
    fields = {
        "slug": "fair-pay",
        "title": "Fair pay for all staff",
        "body": "We ask for a vote.\r\n\r\nA second paragraph.",
        "threshold_kind": "absolute",
        "threshold": "4,000",
        "threshold_percent": "",
        "closes_at": "",
        "webhook_url": "",
    }
    fields.update(overrides)
    return fields


def edit_form(**overrides) -> dict:
    """The edit form of the petition ``form()`` creates, changed by keyword."""
    fields = form(**overrides)
    del fields["slug"]
    return fields


def stored(app, slug: str = "fair-pay") -> Petition | None:
    """The petition as stored now, or None."""
    with Session(flask_db.engine_of(app), expire_on_commit=False) as session:
        return session.exec(select(Petition).where(Petition.slug == slug)).first()


def audit_events(app) -> list[AuditEvent]:
    """Every audit event, oldest first."""
    with Session(flask_db.engine_of(app), expire_on_commit=False) as session:
        return list(session.exec(select(AuditEvent).order_by(AuditEvent.id)))


def page_text(response) -> str:
    """The response's HTML with tags removed and white space collapsed, to match sentences."""
    html = response.get_data(as_text=True)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#39;", "'")


def create(client, **overrides):
    """Submit the new-petition form and check that it was accepted."""
    response = client.post(NEW, data=form(**overrides))
    assert response.status_code == 303, page_text(response)
    return response


def assert_field_error(response, field: str, anchor: str | None = None) -> None:
    """The form came back (400) with an error on ``field``, linked from the summary and tied to
    the input with aria-invalid and aria-describedby."""
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'class="error-summary"' in html
    assert f'href="#{anchor or field}"' in html
    assert f'id="{field}-error"' in html
    if anchor is None:
        tag = re.search(rf'<(?:input|textarea)[^>]*\bid="{field}"[^>]*>', html)
        assert tag, field
        assert 'aria-invalid="true"' in tag.group(0)
        assert f"{field}-error" in re.search(r'aria-describedby="([^"]*)"', tag.group(0)).group(1)


# --- the list ---------------------------------------------------------------------------------


def test_the_list_offers_a_new_petition_to_organisers_only(app, organiser):
    page = organiser.get("/organiser/")
    assert page.status_code == 200
    assert f'href="{NEW}"' in page.get_data(as_text=True)
    assert organiser.get(NEW).status_code == 200

    scrutineer = app.test_client()
    sign_in(app, scrutineer, "scrutineer@example.org", "scrutineer")
    page = scrutineer.get("/organiser/")
    assert page.status_code == 200
    assert f'href="{NEW}"' not in page.get_data(as_text=True)
    assert scrutineer.get(NEW).status_code == 403
    assert scrutineer.post(NEW, data=form()).status_code == 403
    assert stored(app) is None


def test_the_new_petition_form_says_the_closing_time_is_utc(organiser):
    page = organiser.get(NEW)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'type="datetime-local" id="closes_at"' in html
    assert "Closing time, in UTC" in page_text(page)
    for name in ("slug", "title", "body", "threshold", "threshold_percent", "webhook_url"):
        assert f'<label for="{name}"' in html, name
    assert 'value="absolute" checked' in html


# --- creating ---------------------------------------------------------------------------------


def test_creating_with_an_absolute_threshold_makes_a_draft_and_records_it(app, organiser):
    response = create(organiser, webhook_url="https://ballot.example.org/hook")
    assert response.headers["Location"] == "/organiser/p/fair-pay/settings"

    saved = stored(app)
    assert saved.state == "draft"
    assert saved.title == "Fair pay for all staff"
    assert saved.body == "We ask for a vote.\n\nA second paragraph."
    assert saved.threshold_absolute == 4000
    assert saved.threshold_percent is None
    assert saved.threshold is None
    assert saved.closes_at is None
    assert saved.webhook_url == "https://ballot.example.org/hook"

    [event] = audit_events(app)
    assert (event.actor, event.action, event.petition_id) == (
        ORGANISER,
        "petition.create",
        saved.id,
    )
    assert "slug fair-pay" in event.detail
    assert "threshold 4,000 signatures" in event.detail

    settings = organiser.get(response.headers["Location"])
    assert settings.status_code == 200
    text = page_text(settings)
    assert "Draft petition “Fair pay for all staff” created" in text
    assert "Draft: not public yet" in text
    assert 'name="title"' in settings.get_data(as_text=True)
    # A draft is not public.
    assert app.test_client().get("/p/fair-pay").status_code == 404


def test_creating_with_a_percentage_and_a_closing_time_in_utc(app, organiser):
    create(
        organiser,
        slug="  Ten-Percent ",
        threshold_kind="percent",
        threshold="",
        threshold_percent="12.5%",
        closes_at=FUTURE.strftime("%Y-%m-%dT%H:%M"),
    )
    saved = stored(app, "ten-percent")
    assert saved.threshold_absolute is None
    assert saved.threshold_percent == 12.5
    assert saved.closes_at == FUTURE
    [event] = audit_events(app)
    assert "threshold 12.5% of active members" in event.detail

    # The edit form gives the closing time back as it was typed: in UTC.
    html = organiser.get("/organiser/p/ten-percent/settings").get_data(as_text=True)
    assert f'value="{FUTURE:%Y-%m-%dT%H:%M}"' in html
    assert 'value="percent" checked' in html
    assert 'value="12.5"' in html


def test_a_closing_time_with_a_zone_is_converted_to_utc(app, organiser):
    typed = FUTURE.replace(tzinfo=None).isoformat(timespec="minutes") + "+02:00"
    create(organiser, closes_at=typed)
    assert stored(app).closes_at == FUTURE - timedelta(hours=2)


BAD_FIELDS = [
    ("slug", {"slug": "fair pay!"}, "Use only lowercase letters, digits and hyphens"),
    ("slug", {"slug": "x" * 65}, "the limit is 64"),
    ("slug", {"slug": "x" * 100_000}, "the limit is 64"),
    ("title", {"title": "   "}, "Enter a title for the petition."),
    ("title", {"title": "x" * 201}, "at most 200 characters"),
    ("title", {"title": "two\nlines"}, "Keep the title to one line"),
    ("body", {"body": "x" * 50_001}, "at most 50,000 characters"),
    ("threshold", {"threshold": ""}, "Enter the number of signatures"),
    ("threshold", {"threshold": "0"}, "from 1 to 2,147,483,647"),
    ("threshold", {"threshold": "-5"}, "from 1 to 2,147,483,647"),
    ("threshold", {"threshold": "12.5"}, "whole number"),
    ("threshold", {"threshold": "lots"}, "whole number"),
    ("threshold", {"threshold": "2147483648"}, "from 1 to 2,147,483,647"),
    ("threshold", {"threshold": "9" * 100_000}, "whole number"),
    ("threshold_percent", {"threshold_kind": "percent", "threshold_percent": ""}, "Enter the"),
    (
        "threshold_percent",
        {"threshold_kind": "percent", "threshold_percent": "0"},
        "greater than 0",
    ),
    ("threshold_percent", {"threshold_kind": "percent", "threshold_percent": "-3"}, "greater than"),
    (
        "threshold_percent",
        {"threshold_kind": "percent", "threshold_percent": "100.5"},
        "at most 100",
    ),
    ("threshold_percent", {"threshold_kind": "percent", "threshold_percent": "1.2345"}, "places"),
    ("threshold_percent", {"threshold_kind": "percent", "threshold_percent": "NaN"}, "at most 100"),
    ("threshold_percent", {"threshold_kind": "percent", "threshold_percent": "1e999999"}, "100"),
    (
        "threshold_percent",
        {"threshold_kind": "percent", "threshold_percent": "ten"},
        "Enter a percentage",
    ),
    ("threshold_percent", {"threshold_kind": "percent", "threshold_percent": "1" * 5000}, "number"),
    ("closes_at", {"closes_at": "2001-01-01T00:00"}, "a closing time in the future"),
    ("closes_at", {"closes_at": "next tuesday"}, "date and time in UTC"),
    ("closes_at", {"closes_at": "9999-12-31T23:59-05:00"}, "date and time in UTC"),
    ("closes_at", {"closes_at": "2" * 10_000}, "date and time in UTC"),
    ("webhook_url", {"webhook_url": "ftp://ballot.example.org/"}, "http:// or https://"),
    ("webhook_url", {"webhook_url": "not a url"}, "http:// or https://"),
    ("webhook_url", {"webhook_url": "http://ballot.example.org:99999/"}, "a whole web address"),
    ("webhook_url", {"webhook_url": "https://b.example.org/" + "x" * 3000}, "limit is 2,000"),
    ("webhook_url", {"webhook_url": "http://ballot.example.org/a b"}, "without spaces"),
]


def test_each_bad_field_is_reported_beside_it_and_nothing_is_saved(app, organiser):
    for field, overrides, message in BAD_FIELDS:
        response = organiser.post(NEW, data=form(**overrides))
        case = (field, str(overrides)[:60])
        assert response.status_code == 400, case
        assert_field_error(response, field)
        assert message in page_text(response), case
        # Only the faulty field is reported.
        assert response.get_data(as_text=True).count('class="error" id=') == 1, case
    assert stored(app) is None
    assert audit_events(app) == []


def test_every_fault_is_reported_at_once_and_what_was_typed_is_kept(app, organiser):
    response = organiser.post(
        NEW,
        data=form(
            slug="Bad Slug",
            title="",
            threshold_kind="percent",
            threshold_percent="250",
            closes_at="2001-01-01T00:00",
            webhook_url="ftp://x",
            body="My <b>text</b>",
        ),
    )
    html = response.get_data(as_text=True)
    for field in ("slug", "title", "threshold_percent", "closes_at", "webhook_url"):
        assert_field_error(response, field)
    summary = html[html.index('class="error-summary"') : html.index("<h1>")]
    links = re.findall(r'href="#([a-z_-]+)"', summary)
    assert links == ["title", "slug", "threshold_percent", "closes_at", "webhook_url"]
    assert "<title>Error: New petition" in html
    assert 'value="bad slug"' in html
    assert 'value="250"' in html
    assert 'value="2001-01-01T00:00"' in html
    assert 'value="ftp://x"' in html
    assert "My &lt;b&gt;text&lt;/b&gt;</textarea>" in html
    assert 'value="percent" checked' in html
    assert stored(app, "bad-slug") is None


def test_a_missing_threshold_kind_is_an_error_on_the_choice(app, organiser):
    for kind in ("", "both"):
        response = organiser.post(NEW, data=form(threshold_kind=kind))
        assert_field_error(response, "threshold_kind", anchor="threshold_kind-absolute")
        assert "Choose whether the threshold" in page_text(response)
    assert stored(app) is None


def test_a_slug_already_used_is_refused_on_the_slug(app, organiser):
    create(organiser)
    response = organiser.post(NEW, data=form(title="Another"))
    assert_field_error(response, "slug")
    assert "a petition with slug 'fair-pay' already exists" in page_text(response).lower()
    assert stored(app).title == "Fair pay for all staff"
    assert [event.action for event in audit_events(app)] == ["petition.create"]


def test_huge_fields_are_refused_as_form_errors(app, organiser):
    response = organiser.post(
        NEW, data=form(body="x" * 400_000, title="t" * 200_000, webhook_url="h" * 200_000)
    )
    for field in ("title", "body", "webhook_url"):
        assert_field_error(response, field)
    # The messages say how long the field is, not what it holds.
    html = response.get_data(as_text=True)
    assert len(html[html.index('class="error-summary"') : html.index("<h1>")]) < 2000
    assert stored(app) is None
    # A form larger than any petition needs is refused before it is read.
    too_big = organiser.post(NEW, data=form(body="x" * 2_000_000))
    assert too_big.status_code == 413
    assert stored(app) is None


# --- editing ----------------------------------------------------------------------------------


def test_a_draft_is_edited_and_the_edit_recorded(app, organiser):
    create(organiser)
    response = organiser.post(
        "/organiser/p/fair-pay/settings",
        data=edit_form(
            title="Fair pay now",
            threshold_kind="percent",
            threshold="4000",
            threshold_percent="10",
            closes_at=FUTURE.strftime("%Y-%m-%dT%H:%M"),
            webhook_url="http://ballot.example.org:9/hook",
        ),
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/organiser/p/fair-pay/settings"
    saved = stored(app)
    assert saved.state == "draft"
    assert saved.title == "Fair pay now"
    assert saved.body == "We ask for a vote.\n\nA second paragraph."
    assert (saved.threshold_absolute, saved.threshold_percent) == (None, 10.0)
    assert saved.closes_at == FUTURE
    assert saved.webhook_url == "http://ballot.example.org:9/hook"

    event = audit_events(app)[-1]
    assert (event.actor, event.action, event.petition_id) == (ORGANISER, "petition.edit", saved.id)
    assert "title 'Fair pay for all staff' -> 'Fair pay now'" in event.detail
    assert "threshold 4,000 signatures -> 10% of active members" in event.detail
    assert "closes never -> " in event.detail
    assert "webhook the default -> http://ballot.example.org:9/hook" in event.detail
    assert "text" not in event.detail
    assert "Changes saved." in page_text(organiser.get("/organiser/p/fair-pay/settings"))


def test_saving_an_unchanged_draft_records_nothing(app, organiser):
    create(organiser)
    response = organiser.post("/organiser/p/fair-pay/settings", data=edit_form())
    assert response.status_code == 303
    assert [event.action for event in audit_events(app)] == ["petition.create"]
    assert "Nothing was changed." in page_text(organiser.get(response.headers["Location"]))


def test_a_bad_edit_is_reported_and_changes_nothing(app, organiser):
    create(organiser)
    response = organiser.post(
        "/organiser/p/fair-pay/settings",
        data=edit_form(title="New title", threshold="0", webhook_url="mailto:x@example.org"),
    )
    assert_field_error(response, "threshold")
    assert_field_error(response, "webhook_url")
    html = response.get_data(as_text=True)
    assert 'value="New title"' in html
    assert 'value="mailto:x@example.org"' in html
    # The slug is not part of the edit form.
    assert 'name="slug"' not in html
    saved = stored(app)
    assert (saved.title, saved.threshold_absolute, saved.webhook_url) == (
        "Fair pay for all staff",
        4000,
        None,
    )
    assert [event.action for event in audit_events(app)] == ["petition.create"]


def test_an_open_petition_is_not_offered_for_editing_and_an_edit_is_refused(app, organiser):
    add_members(app, ("1", "a@example.org"))
    open_petition(app, "vote", threshold=5)
    settings = organiser.get("/organiser/p/vote/settings")
    assert settings.status_code == 200
    assert "<form" in settings.get_data(as_text=True)  # the sign-out form, at least
    assert 'name="title"' not in settings.get_data(as_text=True)
    assert "its settings cannot be changed" in page_text(settings)

    response = organiser.post("/organiser/p/vote/settings", data=edit_form(title="Changed"))
    assert response.status_code == 409
    assert "This petition can no longer be edited" in page_text(response)
    assert 'name="title"' not in response.get_data(as_text=True)
    assert petition(app, "vote").title == "Petition vote"
    assert audit_events(app) == []


# --- opening ----------------------------------------------------------------------------------


def test_opening_asks_first_then_freezes_the_percentage_threshold(app, organiser):
    add_members(app, *[(str(n), f"m{n}@example.org") for n in range(41)])
    add_members(app, ("lapsed", "lapsed@example.org", "lapsed"))
    create(organiser, threshold_kind="percent", threshold_percent="10")

    settings = organiser.get("/organiser/p/fair-pay/settings").get_data(as_text=True)
    assert 'href="/organiser/p/fair-pay/open"' in settings
    assert 'href="/organiser/p/fair-pay/close"' not in settings

    confirm = organiser.get("/organiser/p/fair-pay/open")
    assert confirm.status_code == 200
    text = page_text(confirm)
    assert "cannot be undone" in text
    assert "Active members now 41" in text
    assert "Threshold if opened now 5 signatures" in text  # 10% of 41 = 4.1, rounded up
    assert 'name="confirm" value="yes"' in confirm.get_data(as_text=True)

    # A POST without the confirmation only leads back to the question.
    unconfirmed = organiser.post("/organiser/p/fair-pay/open", data={})
    assert unconfirmed.status_code == 303
    assert unconfirmed.headers["Location"] == "/organiser/p/fair-pay/open"
    assert stored(app).state == "draft"

    opened = organiser.post("/organiser/p/fair-pay/open", data={"confirm": "yes"})
    assert opened.status_code == 303
    assert opened.headers["Location"] == "/organiser/p/fair-pay/settings"
    saved = stored(app)
    assert (saved.state, saved.threshold, saved.eligible_members) == ("open", 5, 41)
    assert saved.opened_at is not None

    event = audit_events(app)[-1]
    assert (event.actor, event.action, event.petition_id) == (ORGANISER, "petition.open", saved.id)
    assert "threshold frozen at 5 of 41 active members (10% of active members)" in event.detail

    text = page_text(organiser.get("/organiser/p/fair-pay/settings"))
    assert "Petition opened: threshold frozen at 5 of 41 active members" in text
    assert "Open for signing" in text
    assert "5 signatures , frozen when it opened, when 41 members were active" in text

    # Members who join later do not move the frozen threshold.
    add_members(app, *[(f"late{n}", f"late{n}@example.org") for n in range(20)])
    assert stored(app).threshold == 5

    listing = page_text(organiser.get("/organiser/"))
    assert "Fair pay for all staff · Settings Open for signing 0 of 5 signatures needed" in listing
    public = app.test_client().get("/p/fair-pay")
    assert public.status_code == 200
    assert "Open for signing" in page_text(public)


def test_a_percentage_draft_cannot_open_without_active_members(app, organiser):
    add_members(app, ("1", "lapsed@example.org", "lapsed"))
    create(organiser, threshold_kind="percent", threshold_percent="10")
    confirm = organiser.get("/organiser/p/fair-pay/open")
    assert confirm.status_code == 409
    assert "no active members; import the roll first" in page_text(confirm)
    assert 'name="confirm"' not in confirm.get_data(as_text=True)

    refused = organiser.post("/organiser/p/fair-pay/open", data={"confirm": "yes"})
    assert refused.status_code == 409
    assert "no active members" in page_text(refused)
    assert stored(app).state == "draft"
    assert [event.action for event in audit_events(app)] == ["petition.create"]


def test_a_draft_whose_closing_time_passed_cannot_open(app, organiser):
    create(organiser, closes_at=FUTURE.strftime("%Y-%m-%dT%H:%M"))
    # The closing time passes while the petition is still a draft.
    with Session(flask_db.engine_of(app)) as session:
        draft = session.exec(select(Petition).where(Petition.slug == "fair-pay")).one()
        draft.closes_at = datetime.now(UTC) - timedelta(hours=1)
        session.add(draft)
        session.commit()

    settings = organiser.get("/organiser/p/fair-pay/settings")
    assert "Its closing time has passed" in page_text(settings)
    refused = organiser.post("/organiser/p/fair-pay/open", data={"confirm": "yes"})
    assert refused.status_code == 409
    assert "has passed" in page_text(refused)
    assert stored(app).state == "draft"


def test_an_open_petition_cannot_be_opened_again(app, organiser):
    open_petition(app, "vote", threshold=5)
    assert organiser.get("/organiser/p/vote/open").status_code == 409
    refused = organiser.post("/organiser/p/vote/open", data={"confirm": "yes"})
    assert refused.status_code == 409
    assert "only a draft can be opened" in page_text(refused)
    assert petition(app, "vote").opened_at is not None
    assert audit_events(app) == []


# --- closing ----------------------------------------------------------------------------------


def test_closing_asks_first_then_stops_signing_and_is_recorded(app, organiser):
    open_petition(app, "vote", threshold=5)
    settings = organiser.get("/organiser/p/vote/settings").get_data(as_text=True)
    assert 'href="/organiser/p/vote/close"' in settings
    assert 'href="/organiser/p/vote/open"' not in settings

    confirm = organiser.get("/organiser/p/vote/close")
    assert confirm.status_code == 200
    assert "cannot be undone" in page_text(confirm)
    assert "0 of 5 needed" in page_text(confirm)

    unconfirmed = organiser.post("/organiser/p/vote/close", data={})
    assert unconfirmed.status_code == 303
    assert unconfirmed.headers["Location"] == "/organiser/p/vote/close"
    assert petition(app, "vote").state == "open"

    closed = organiser.post("/organiser/p/vote/close", data={"confirm": "yes"})
    assert closed.status_code == 303
    saved = petition(app, "vote")
    assert saved.state == "closed"
    assert saved.closed_at is not None
    [event] = audit_events(app)
    assert (event.actor, event.action, event.petition_id) == (ORGANISER, "petition.close", saved.id)
    assert "with 0 signatures (threshold 5)" in event.detail

    settings = organiser.get("/organiser/p/vote/settings")
    text = page_text(settings)
    assert "Petition closed with 0 signatures" in text
    assert "cannot be reopened" in text
    assert 'href="/organiser/p/vote/close"' not in settings.get_data(as_text=True)
    assert "Petition vote · Settings Closed Closed with 0 of 5 signatures" in page_text(
        organiser.get("/organiser/")
    )
    assert "Closed" in page_text(app.test_client().get("/p/vote"))

    again = organiser.post("/organiser/p/vote/close", data={"confirm": "yes"})
    assert again.status_code == 409
    assert "already closed" in page_text(again)
    assert len(audit_events(app)) == 1


def test_a_draft_cannot_be_closed(app, organiser):
    create(organiser)
    assert organiser.get("/organiser/p/fair-pay/close").status_code == 409
    refused = organiser.post("/organiser/p/fair-pay/close", data={"confirm": "yes"})
    assert refused.status_code == 409
    assert "it was never opened" in page_text(refused)
    assert stored(app).state == "draft"


def test_unknown_petitions_are_not_found(organiser):
    for path in ("settings", "open", "close"):
        assert organiser.get(f"/organiser/p/nothing/{path}").status_code == 404
        assert (
            organiser.post(f"/organiser/p/nothing/{path}", data={"confirm": "yes"}).status_code
            == 404
        )


def test_the_whole_round_through_the_pages(app, organiser):
    """Create, edit, open and close one petition; the audit trail tells the story in order."""
    add_members(app, *[(str(n), f"m{n}@example.org") for n in range(10)])
    create(organiser, slug="round", threshold="3")
    organiser.post("/organiser/p/round/settings", data=edit_form(threshold="7"))
    organiser.post("/organiser/p/round/open", data={"confirm": "yes"})
    organiser.post("/organiser/p/round/close", data={"confirm": "yes"})
    saved = stored(app, "round")
    assert (saved.state, saved.threshold, saved.eligible_members) == ("closed", 7, 10)
    events = audit_events(app)
    assert [event.action for event in events] == [
        "petition.create",
        "petition.edit",
        "petition.open",
        "petition.close",
    ]
    assert {event.petition_id for event in events} == {saved.id}
    assert "threshold 3 signatures -> 7 signatures" in events[1].detail


# --- the rules behind the pages (petitions.lifecycle.rules) ---------------------------------


def test_update_draft_checks_fields_as_creation_does_and_reports_changes(db):
    lifecycle.create_petition(db, slug="d", title="Draft", threshold_percent=10)
    db.commit()
    edit = lifecycle.update_draft(db, "d", title="  Draft  ", threshold=50, webhook_url=None)
    assert edit.changes == {"threshold_absolute": (None, 50), "threshold_percent": (10.0, None)}
    assert (edit.petition.threshold_absolute, edit.petition.threshold_percent) == (50, None)
    db.commit()

    for fields, field in [
        ({"title": ""}, "title"),
        ({"threshold": 0}, "threshold"),
        ({"threshold_percent": 101}, "threshold_percent"),
        ({"closes_at": datetime(2001, 1, 1, tzinfo=UTC)}, "closes_at"),
        ({"webhook_url": "gopher://x"}, "webhook_url"),
        ({"body": "\x00"}, "body"),
    ]:
        with pytest.raises(PetitionError) as refused:
            lifecycle.update_draft(db, "d", **fields)
        assert refused.value.field == field
        db.rollback()
    with pytest.raises(PetitionError, match="exactly one"):
        lifecycle.update_draft(db, "d", threshold=5, threshold_percent=5)
    db.rollback()
    with pytest.raises(ValueError, match="not editable petition fields: state"):
        lifecycle.update_draft(db, "d", state="open")
    db.rollback()

    lifecycle.open_petition(db, "d")
    db.commit()
    with pytest.raises(PetitionError, match="only a draft can be edited"):
        lifecycle.update_draft(db, "d", title="Too late")
    db.rollback()
    assert lifecycle.find_petition(db, "d").title == "Draft"


def test_opening_threshold_previews_what_opening_freezes(db):
    for number in range(7):
        db.add(Member(number=str(number), email=f"{number}@e.org", email_key=f"{number}@e.org"))
    lifecycle.create_petition(db, slug="p", title="P", threshold_percent=30)
    db.commit()
    draft = lifecycle.find_petition(db, "p")
    assert lifecycle.opening_threshold(db, draft) == (3, 7)  # 30% of 7 = 2.1, rounded up
    opened = lifecycle.open_petition(db, "p")
    assert (opened.threshold, opened.eligible_members) == (3, 7)
    db.commit()


@pytest.mark.parametrize("field", ["body", "webhook_url", "title"])
def test_a_nul_character_refuses_the_whole_form_and_saves_nothing(organiser, app, field):
    """The domain's own checks refuse NUL too (tests/lifecycle/test_rules.py); in the browser the
    request is refused before the form is read."""
    response = organiser.post("/organiser/petitions/new", data=form(**{field: "a\x00b"}))
    assert response.status_code == 400
    assert "NUL character" in response.get_data(as_text=True)
    with Session(flask_db.engine_of(app)) as session:
        assert lifecycle.all_petitions(session) == []
