"""The demo's preparation: a sample roll, an open petition and two accounts, made once and
kept."""

from sqlalchemy import func, select
from sqlmodel import Session

from petitions.cli import demo
from petitions.db import flask_db
from petitions.db.models import Member, UserAccount
from tests.helpers import petition


def test_the_demo_is_prepared_once_and_kept(app, tmp_path):
    engine = flask_db.engine_of(app)
    done = demo.prepare_demo(engine, tmp_path, members=300, threshold=5)
    assert len(done) == 4
    assert done[2:] == [
        "added the organiser account organiser@example.org",
        "added the scrutineer account scrutineer@example.org",
    ]
    assert "imported a sample roll of 300 members" in done[0]
    assert (tmp_path / "sample_roll.csv").exists()
    prepared = petition(app, demo.DEMO_SLUG)
    assert prepared.state == "open"
    assert prepared.threshold == 5
    with Session(engine) as session:
        active = session.scalar(
            select(func.count()).select_from(Member).where(Member.status == "active")
        )
        roles = {u.email: u.role for u in session.scalars(select(UserAccount))}
    assert prepared.eligible_members == active > 0
    assert roles == {
        "organiser@example.org": "organiser",
        "scrutineer@example.org": "scrutineer",
    }
    assert demo.prepare_demo(engine, tmp_path, members=300, threshold=5) == []
