"""Work a request writes is offered to the dispatcher when its transaction commits, once, and
not at all when it rolls back: a request to sign (inserted without the ORM's flush) as much as
the mail a worker writes through the ORM. The relay would find an unoffered row again, but only
a second later, which a surge's e-mail delay would show."""

import pytest
from sqlalchemy import select
from sqlmodel import Session

from petitions.db import flask_db
from petitions.db.models import SignRequest
from petitions.jobs import dispatch
from petitions.outbox import work
from petitions.signatures import signing
from tests.helpers import add_members, open_petition


class Recorder:
    """A dispatcher that only remembers what it was offered."""

    def __init__(self):
        self.offered: list[work.WorkItem] = []

    def submit(self, item: work.WorkItem) -> None:
        self.offered.append(item)


@pytest.fixture
def offered(app, worker, monkeypatch):
    """What the app offers its dispatcher from now on (``worker``, the in-process worker it had,
    still does the work when a test runs it)."""
    add_members(app, ("M1", "ann@example.org"))
    open_petition(app, "vote")
    recorder = Recorder()
    monkeypatch.setitem(app.extensions, dispatch._EXTENSION, recorder)
    return recorder.offered


def requests_in(app) -> list[SignRequest]:
    with Session(flask_db.engine_of(app)) as session:
        return list(session.scalars(select(SignRequest).order_by(SignRequest.id)))


@pytest.mark.parametrize("route", ["api", "form"])
def test_a_request_to_sign_is_offered_once_it_is_committed(app, client, offered, route):
    if route == "api":
        answer = client.post("/api/v1/petitions/vote/signatures", json={"email": "ann@example.org"})
        assert answer.status_code == 202
    else:
        answer = client.post("/p/vote/sign", data={"email": "ann@example.org"})
        assert answer.status_code == 303
    (row,) = requests_in(app)
    assert row.attempts == 0
    assert row.created_at is not None
    assert row.next_attempt_at == row.created_at
    assert row.done_at is None
    assert offered == [work.WorkItem(work.WorkKind.SIGN_REQUEST, row.id, 0)]


def test_a_refused_request_offers_nothing(app, client, offered):
    answer = client.post("/api/v1/petitions/nope/signatures", json={"email": "ann@example.org"})
    assert answer.status_code == 404
    answer = client.post("/api/v1/petitions/vote/signatures", json={"email": "not an address"})
    assert answer.status_code == 400
    assert requests_in(app) == []
    assert offered == []


def test_a_request_rolled_back_is_never_offered_and_a_committed_one_only_at_commit(app, offered):
    with app.test_request_context():
        session = flask_db.session()
        signing.request_signature(session, "vote", "ann@example.org")
        assert offered == []
        session.rollback()
        assert offered == []
        request_id = signing.request_signature(session, "vote", "ann@example.org")
        assert offered == []
        session.commit()
    assert offered == [work.WorkItem(work.WorkKind.SIGN_REQUEST, request_id, 0)]
    assert [row.id for row in requests_in(app)] == [request_id]


def test_the_mail_a_worker_writes_is_offered_too(app, client, offered, worker):
    assert client.post("/p/vote/sign", data={"email": "ann@example.org"}).status_code == 303
    assert [item.kind for item in offered] == [work.WorkKind.SIGN_REQUEST]
    offered.clear()
    assert worker.run_pending() >= 1
    kinds = [item.kind for item in offered]
    assert kinds == [work.WorkKind.MAIL]
