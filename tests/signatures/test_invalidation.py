"""Invalidating signatures: the count goes down, nothing is deleted, the decision is recorded,
and the public log cancels each signature so that it still verifies."""

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.models import AuditEvent, Invalidation, LogLeaf, Signature
from petitions.jobs.dispatch import housekeeping
from petitions.signatures import invalidation
from petitions.transparency import leaves as log_leaves
from tests.helpers import add_members, open_petition, petition
from tests.transparency.test_store import MEMBERS, confirm


@pytest.fixture
def five(app):
    """Five signatures on a petition with threshold 4 (so it has been triggered)."""
    add_members(
        app, *[(m, e, "active", "North" if i % 2 else "South") for i, (m, e) in enumerate(MEMBERS)]
    )
    open_petition(app, threshold=4)
    return [confirm(app, member_id) for member_id, _ in MEMBERS[:5]]


def _invalidate(runner, *args):
    return runner.invoke(args=["signature", "invalidate", "vote", *args])


def test_invalidating_lowers_the_count_and_keeps_everything(app, client, runner, five):
    result = _invalidate(
        runner,
        "2",
        "4",
        "--reason",
        "not_a_member",
        "--by",
        "ann@example.org",
        "--note",
        "left in 2024",
    )
    assert result.exit_code == 0, result.output
    assert "invalidated 2 signature(s)" in result.output
    stored = petition(app)
    assert stored.signature_count == 3
    assert stored.state == "triggered"  # the vote was called; it stays called
    assert stored.log_size == 7
    with Session(flask_db.engine_of(app)) as session:
        assert session.scalar(select(func.count()).select_from(Signature)) == 5
        marked = session.scalars(
            select(Signature.number).where(Signature.invalidated_at.is_not(None))
        ).all()
        records = session.scalars(select(Invalidation).order_by(Invalidation.id)).all()
        leaves = session.scalars(select(LogLeaf).order_by(LogLeaf.index)).all()
    assert sorted(marked) == [2, 4]
    assert [(r.reason, r.decided_by, r.note) for r in records] == [
        ("not_a_member", "ann@example.org", "left in 2024")
    ] * 2
    cancelling = [log_leaves.decode(leaf.data) for leaf in leaves[5:]]
    assert [(c["type"], c["cancels"], c["reason"]) for c in cancelling] == [
        ("invalidation", 1, "not_a_member"),
        ("invalidation", 3, "not_a_member"),
    ]
    assert "left in 2024" not in b"".join(leaf.data for leaf in leaves).decode()
    answer = client.get("/api/v1/petitions/vote").get_json()
    assert answer["count"] == 3
    assert sum(answer["by_region"].values()) == 3
    housekeeping(app)
    verified = runner.invoke(args=["log", "verify", "--slug", "vote"])
    assert verified.exit_code == 0, verified.output
    assert "the log counts 3 signatures, the petition reports 3" in verified.output
    listed = runner.invoke(args=["signature", "invalidations", "vote"])
    assert "signature 2: not_a_member by ann@example.org" in listed.output
    with Session(flask_db.engine_of(app)) as session:
        events = session.scalars(select(AuditEvent)).all()
    assert [(e.actor, e.action) for e in events] == [("command line", "signature.invalidate")]
    assert "2 signature(s)" in events[0].detail


def test_an_open_petition_below_its_threshold_can_still_cross_it(app, five):
    add_members(app, ("X1", "x1@example.org"), ("X2", "x2@example.org"))
    open_petition(app, slug="later", threshold=3)
    first = [confirm_on(app, "later", m) for m in ("M001", "M002")]
    assert [r["number"] for r in first] == [1, 2]
    invalidation.invalidate(
        flask_db.engine_of(app), settings_of(app), "later", [1], "other", "ann", "x"
    )
    assert petition(app, "later").signature_count == 1
    confirm_on(app, "later", "X1")
    assert petition(app, "later").state == "open"
    confirm_on(app, "later", "X2")
    assert petition(app, "later").state == "triggered"


def confirm_on(app, slug, member_id):
    from petitions.db.models import Member
    from petitions.signatures import signing, tokens

    with Session(flask_db.engine_of(app)) as session:
        member = session.scalars(select(Member).where(Member.number == member_id)).one()
    token = tokens.make_token(app.config["SECRET_KEY"], [], petition(app, slug).id, member.id)
    result = signing.confirm(flask_db.engine_of(app), settings_of(app), token)
    assert result.status == "confirmed"
    return result.receipt


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["9", "--reason", "fraud", "--by", "ann"], "Invalid value for '--reason'"),
        (["99", "--reason", "not_a_member", "--by", "ann"], "no signature numbered 99"),
        (["1", "--reason", "other", "--by", "ann"], "needs a note"),
        (["1", "--reason", "not_a_member", "--by", " "], "say who decides"),
    ],
)
def test_bad_invalidations_change_nothing(app, runner, five, args, message):
    result = _invalidate(runner, *args)
    assert result.exit_code != 0
    assert message in result.output
    assert petition(app).signature_count == 5
    assert petition(app).log_size == 5


def test_all_or_none_and_never_twice(app, runner, five):
    assert _invalidate(runner, "1", "--reason", "member_request", "--by", "ann").exit_code == 0
    again = _invalidate(runner, "3", "1", "--reason", "member_request", "--by", "ann")
    assert again.exit_code != 0
    assert "already invalidated: 1; nothing was changed" in again.output
    assert petition(app).signature_count == 4
    assert petition(app).log_size == 6
