"""Members pressing "I did not sign this" at the same moment, on PostgreSQL, with one link and
with several links naming the same signature: exactly one report, one audit record and one mail
to each scrutineer; every other press answers "already reported"."""

import threading

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from petitions.accounts import users
from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.models import AuditEvent, Mail, NameReport
from petitions.signatures import name_check
from tests.helpers import add_members, open_petition, petition, token_of
from tests.transparency.test_store import confirm

THREADS = 8


@pytest.fixture
def database_url(pg_schema):
    """PostgreSQL only: concurrent transactions meeting on the unique key are what is tested."""
    return pg_schema


def press_together(app, tokens: list[str]) -> list[str]:
    engine = flask_db.engine_of(app)
    settings = settings_of(app)
    barrier = threading.Barrier(len(tokens))
    outcomes: list[str] = [""] * len(tokens)

    def press(n: int) -> None:
        barrier.wait(30)
        try:
            outcomes[n] = str(name_check.report(engine, settings, tokens[n], "vote").outcome)
        except Exception as exc:  # a crash is an outcome the assertions must show
            outcomes[n] = f"error: {exc!r}"

    threads = [threading.Thread(target=press, args=(n,)) for n in range(len(tokens))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcomes


@pytest.mark.parametrize("links", ["one", "many"])
def test_simultaneous_presses_make_one_report(app, links):
    add_members(app, ("R1", "ann@example.org"), ("R2", "bob@example.org"))
    open_petition(app, threshold=5)
    confirm(app, "R1")
    confirm(app, "R2")
    with Session(flask_db.engine_of(app)) as session:
        users.add_user(session, "sue@example.org", "scrutineer")
        users.add_user(session, "sam@example.org", "scrutineer")
        session.commit()
    settings = settings_of(app)
    spec = name_check.report_link_spec(petition(app), [1])
    made = [token_of(name_check.make_report_link(settings, spec)) for _ in range(THREADS)]
    tokens = made if links == "many" else [made[0]] * THREADS

    outcomes = press_together(app, tokens)

    assert sorted(outcomes) == ["already_reported"] * (THREADS - 1) + ["reported"], outcomes
    with Session(flask_db.engine_of(app)) as session:
        reports = session.scalars(select(NameReport)).all()
        audited = session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == name_check.AUDIT_ACTION)
        )
        mailed = session.scalars(
            select(Mail.to_address).where(Mail.purpose == "name_reported").order_by(Mail.id)
        ).all()
    assert [(r.leaf_index, r.notified) for r in reports] == [(1, 2)]
    assert audited == 1
    assert sorted(mailed) == ["sam@example.org", "sue@example.org"]
