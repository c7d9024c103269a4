"""The sequencer: a confirmation that stops between recording its signature and counting it
loses nothing, the crossing still happens once, and the log stays one verifiable history
(README, "Confirming at scale")."""

import json

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.models import (
    LogLeaf,
    Member,
    Petition,
    Signature,
    ThresholdEvent,
    TreeHead,
    WebhookDelivery,
)
from petitions.jobs.dispatch import housekeeping
from petitions.lifecycle import rules
from petitions.signatures import sequencer, signing, tokens
from petitions.transparency import store
from tests.helpers import add_members, open_petition, petition

MEMBERS = [(f"S{n:03d}", f"s{n}@example.org") for n in range(1, 11)]


class Crash(Exception):
    """The sequencing step failing, as a request killed after its first commit would."""


@pytest.fixture
def members(app) -> list[int]:
    add_members(app, *MEMBERS)
    with Session(flask_db.engine_of(app)) as session:
        return list(session.exec(select(Member.id).order_by(Member.id)))


def _token(app, member_id: int, slug: str = "vote") -> str:
    return tokens.make_token(app.config["SECRET_KEY"], [], petition(app, slug).id, member_id)


def confirm(app, member_id: int, slug: str = "vote") -> signing.Confirmation:
    return signing.confirm(flask_db.engine_of(app), settings_of(app), _token(app, member_id, slug))


def confirm_crashing(app, monkeypatch, member_id: int, slug: str = "vote") -> None:
    """Confirm, with the sequencing step failing after the signature's commit."""

    def fail(*_args, **_kwargs):
        raise Crash

    with monkeypatch.context() as patch:
        patch.setattr(sequencer, "sequence", fail)
        with pytest.raises(Crash):
            confirm(app, member_id, slug)


def state(app, slug: str = "vote") -> dict:
    """What the invariants are about, as stored."""
    with Session(flask_db.engine_of(app)) as session:
        stored = session.exec(select(Petition).where(Petition.slug == slug)).one()
        numbers = session.exec(
            select(Signature.number)
            .where(Signature.petition_id == stored.id)
            .order_by(Signature.number)
        ).all()
        leaves = session.exec(
            select(LogLeaf.signature_id)
            .where(LogLeaf.petition_id == stored.id, LogLeaf.kind == "signature")
            .order_by(LogLeaf.index)
        ).all()
        events = session.exec(
            select(ThresholdEvent).where(ThresholdEvent.petition_id == stored.id)
        ).all()
        deliveries = session.exec(
            select(func.count())
            .select_from(WebhookDelivery)
            .join(ThresholdEvent, ThresholdEvent.id == WebhookDelivery.event_id)
            .where(ThresholdEvent.petition_id == stored.id)
        ).one()
        crossing = (
            session.get(Signature, events[0].signature_id).number if len(events) == 1 else None
        )
        return {
            "count": stored.signature_count,
            "last_number": stored.last_number,
            "log_size": stored.log_size,
            "state": stored.state,
            "numbers": list(numbers),
            "leaves": len(leaves),
            "events": len(events),
            "deliveries": deliveries,
            "crossing": crossing,
        }


def test_a_confirmation_stopped_before_counting_is_counted_by_housekeeping(
    app, members, monkeypatch
):
    open_petition(app, threshold=1)
    confirm_crashing(app, monkeypatch, members[0])

    waiting = state(app)
    assert waiting["numbers"] == [None]  # recorded, not yet counted
    assert waiting["count"] == waiting["log_size"] == waiting["events"] == 0

    housekeeping(app)

    counted = state(app)
    assert counted["numbers"] == [1]
    assert counted["count"] == counted["last_number"] == counted["log_size"] == 1
    assert counted["leaves"] == 1
    assert counted["state"] == "triggered"
    assert counted["events"] == counted["deliveries"] == 1
    assert counted["crossing"] == 1
    with Session(flask_db.engine_of(app)) as session:
        assert [head.size for head in store.heads(session, petition(app).id)] == [1]

    # Its member, trying again, finds their signature and its number; nothing is counted twice.
    again = confirm(app, members[0])
    assert again.status == "already_signed"
    assert again.number == 1
    housekeeping(app)
    assert state(app) == counted


def test_the_crossing_in_a_batch_of_leftovers_happens_once_at_the_right_signature(
    app, members, monkeypatch, runner
):
    open_petition(app, threshold=3)
    first = confirm(app, members[0])
    assert first.status == "confirmed"
    assert first.number == 1
    confirm_crashing(app, monkeypatch, members[1])
    confirm_crashing(app, monkeypatch, members[2])

    # The next confirmation's batch counts the two left waiting, and itself, in one turn.
    fourth = confirm(app, members[3])
    assert fourth.status == "confirmed"
    assert fourth.number == 4
    assert fourth.leaf_index == 3

    after = state(app)
    assert after["numbers"] == [1, 2, 3, 4]
    assert after["count"] == after["log_size"] == after["leaves"] == 4
    assert after["events"] == after["deliveries"] == 1
    # The signature whose count reached the threshold is the one numbered 3, not the batch's
    # last, and the head sent with the webhook is the log at that signature.
    assert after["crossing"] == 3
    with Session(flask_db.engine_of(app)) as session:
        payload = json.loads(session.exec(select(WebhookDelivery.payload)).one())
    assert payload["data"]["count"] == 3
    assert payload["data"]["log"]["size"] == 3

    housekeeping(app)
    assert state(app) == after
    with Session(flask_db.engine_of(app)) as session:
        sizes = session.exec(select(TreeHead.size).order_by(TreeHead.id)).all()
    assert sizes == [3, 4]  # signed in size order
    result = runner.invoke(args=["log", "verify", "--slug", "vote"])
    assert result.exit_code == 0, result.output


def test_the_receipt_is_a_leaf_of_the_next_signed_head(app, members, client):
    open_petition(app, threshold=100)
    receipts = [confirm(app, member).receipt for member in members[:5]]
    housekeeping(app)
    for receipt in receipts:
        response = client.get(
            "/api/v1/petitions/vote/log/proof",
            query_string={"index": receipt["leaf_index"], "size": 5},
        )
        assert response.status_code == 200, response.get_json()
    with Session(flask_db.engine_of(app)) as session:
        head = store.latest_head(session, petition(app).id)
    assert head.size == 5


def test_a_signature_left_waiting_when_the_petition_closes_is_refused(app, members, monkeypatch):
    open_petition(app, threshold=5)
    assert confirm(app, members[0]).status == "confirmed"
    confirm_crashing(app, monkeypatch, members[1])
    with Session(flask_db.engine_of(app)) as session:
        rules.close_petition(session, "vote")
        session.commit()

    housekeeping(app)

    closed = state(app)
    assert closed["numbers"] == [1]  # the waiting one was never counted, and is gone
    assert closed["count"] == closed["log_size"] == closed["leaves"] == 1
    again = confirm(app, members[1])
    assert again.status == "petition_closed"
    assert state(app) == closed


def test_a_member_confirming_again_while_their_signature_waits_gets_its_number(
    app, members, monkeypatch
):
    open_petition(app, threshold=5)
    confirm_crashing(app, monkeypatch, members[0])
    again = confirm(app, members[0])
    assert again.status == "already_signed"
    assert again.number == 1
    assert state(app)["count"] == 1


def test_waiting_signatures_are_not_listed_nor_counted_anywhere(app, members, monkeypatch):
    from petitions.signatures import counts, listing

    open_petition(app, threshold=5)
    confirm(app, members[0])
    confirm_crashing(app, monkeypatch, members[1])
    with Session(flask_db.engine_of(app)) as session:
        stored = session.exec(select(Petition)).one()
        page = listing.page(session, stored, listing.Filters())
        assert [row.number for row in page.rows] == [1]
        assert page.total == 1
        assert sum(counts.by_region(session, stored).values()) == 1


def test_appending_a_batch_stores_the_same_tree_as_appending_one_by_one(app):
    from petitions.transparency import merkle

    open_petition(app, slug="one", threshold=5)
    open_petition(app, slug="many", threshold=5)
    datas = [f"leaf {n}".encode() for n in range(23)]
    with Session(flask_db.engine_of(app)) as session:
        one = session.exec(select(Petition).where(Petition.slug == "one")).one()
        many = session.exec(select(Petition).where(Petition.slug == "many")).one()
        for index, data in enumerate(datas):
            store.append(session, one, index, "signature", data)
        # Batches of several sizes, starting at odd and even positions.
        start = 0
        for size in (1, 2, 5, 3, 8, 4):
            hashes = store.append_many(
                session, many, start, [("signature", d, None) for d in datas[start : start + size]]
            )
            assert hashes == [merkle.leaf_hash(d) for d in datas[start : start + size]]
            start += size
        assert start == len(datas)
        for size in range(1, len(datas) + 1):
            assert store.root_hash(session, one, size) == store.root_hash(session, many, size)
        assert store.inclusion_proof(session, one, 6, 23) == store.inclusion_proof(
            session, many, 6, 23
        )
