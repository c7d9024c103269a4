"""The petition actions: each change is made in a transaction of its own together with its audit
record, and a refused or failed action leaves neither behind."""

import pytest
from sqlmodel import Session, select

from petitions import audit
from petitions.db import flask_db
from petitions.db.models import AuditEvent, Petition
from petitions.lifecycle import actions
from petitions.lifecycle.rules import PetitionError
from tests.helpers import add_members

ACTOR = "organiser@example.org"


def stored(app, slug: str = "p") -> Petition | None:
    """The petition as stored now, or None."""
    with Session(flask_db.engine_of(app), expire_on_commit=False) as session:
        return session.exec(select(Petition).where(Petition.slug == slug)).first()


def audit_trail(app) -> list[tuple[str, str, int | None]]:
    """(actor, action, petition id) of every audit record, oldest first."""
    with Session(flask_db.engine_of(app)) as session:
        events = session.exec(select(AuditEvent).order_by(AuditEvent.id))
        return [(event.actor, event.action, event.petition_id) for event in events]


def test_each_action_is_recorded_with_its_change(app):
    engine = flask_db.engine_of(app)
    add_members(app, *[(str(n), f"m{n}@example.org") for n in range(4)])
    created = actions.create_petition(engine, ACTOR, slug="p", title="P", threshold_percent=50)
    edit = actions.update_draft(engine, ACTOR, "p", title="P, edited")
    opened = actions.open_petition(engine, ACTOR, "p")
    closed = actions.close_petition(engine, ACTOR, "p")

    assert edit.changes == {"title": ("P", "P, edited")}
    assert (opened.threshold, opened.eligible_members) == (2, 4)
    assert closed.state == stored(app).state == "closed"
    assert audit_trail(app) == [
        (ACTOR, "petition.create", created.id),
        (ACTOR, "petition.edit", created.id),
        (ACTOR, "petition.open", created.id),
        (ACTOR, "petition.close", created.id),
    ]


def test_an_edit_that_changes_nothing_is_not_recorded(app):
    engine = flask_db.engine_of(app)
    actions.create_petition(engine, ACTOR, slug="p", title="P", threshold=5)
    edit = actions.update_draft(engine, ACTOR, "p", title="P", threshold=5)
    assert edit.changes == {}
    assert [action for _, action, _ in audit_trail(app)] == ["petition.create"]


def test_creating_and_opening_at_once_is_all_or_nothing(app):
    engine = flask_db.engine_of(app)
    # A percentage threshold cannot open on a roll without active members.
    with pytest.raises(PetitionError, match="no active members"):
        actions.create_petition(
            engine, ACTOR, open_now=True, slug="p", title="P", threshold_percent=10
        )
    assert stored(app) is None
    assert audit_trail(app) == []

    petition = actions.create_petition(
        engine, ACTOR, open_now=True, slug="p", title="P", threshold=1
    )
    assert stored(app).state == "open"
    assert audit_trail(app) == [
        (ACTOR, "petition.create", petition.id),
        (ACTOR, "petition.open", petition.id),
    ]


def test_a_refused_action_writes_neither_the_change_nor_its_record(app):
    engine = flask_db.engine_of(app)
    actions.create_petition(engine, ACTOR, slug="p", title="P", threshold_percent=10)
    with pytest.raises(PetitionError, match="no active members"):
        actions.open_petition(engine, ACTOR, "p")
    with pytest.raises(PetitionError, match="only an open petition can be closed"):
        actions.close_petition(engine, ACTOR, "p")
    with pytest.raises(PetitionError, match="title must not be empty"):
        actions.update_draft(engine, ACTOR, "p", title=" ")
    with pytest.raises(PetitionError, match="already exists"):
        actions.create_petition(engine, ACTOR, slug="p", title="Again", threshold=1)
    saved = stored(app)
    assert (saved.state, saved.title) == ("draft", "P")
    assert [action for _, action, _ in audit_trail(app)] == ["petition.create"]


def test_a_change_whose_record_cannot_be_written_is_taken_back(app, monkeypatch):
    engine = flask_db.engine_of(app)
    actions.create_petition(engine, ACTOR, slug="p", title="P", threshold=1)

    def broken(*args, **kwargs):
        raise RuntimeError("the audit trail cannot be written")

    monkeypatch.setattr(audit, "record", broken)
    for attempt in (
        lambda: actions.create_petition(engine, ACTOR, slug="q", title="Q", threshold=1),
        lambda: actions.update_draft(engine, ACTOR, "p", title="Changed"),
        lambda: actions.open_petition(engine, ACTOR, "p"),
    ):
        with pytest.raises(RuntimeError, match="cannot be written"):
            attempt()
    assert stored(app, "q") is None
    saved = stored(app)
    assert (saved.state, saved.title, saved.opened_at) == ("draft", "P", None)
    assert [action for _, action, _ in audit_trail(app)] == ["petition.create"]
