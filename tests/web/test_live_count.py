"""The live count that every open petition page polls: its answer and headers, 404s, one cheap
query per cache age whatever the number of readers or signatures, and the cache itself (fresh
within its age, one load at a time, the previous value while refreshing or when the database
fails)."""

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.exc import OperationalError
from sqlmodel import Session
from werkzeug.test import EnvironBuilder, run_wsgi_app

from petitions.db import flask_db
from petitions.db.engine import utcnow
from petitions.db.models import Member, Petition
from petitions.lifecycle import rules
from petitions.signatures import tokens
from petitions.web import live_count as live
from petitions.web import live_wsgi
from tests.helpers import add_members, open_petition, petition


def confirm(client, app, member_id: str) -> None:
    with Session(flask_db.engine_of(app)) as session:
        pk = session.scalars(select(Member.id).where(Member.number == member_id)).one()
    token = tokens.make_token(app.config["SECRET_KEY"], [], petition(app).id, pk)
    response = client.post("/api/v1/signatures/confirm", json={"token": token})
    assert response.get_json()["status"] == "confirmed"


@pytest.fixture
def three(app, client):
    """An open petition with a threshold of 5 and three signatures."""
    add_members(app, *[(f"M{n}", f"m{n}@example.org") for n in range(6)])
    open_petition(app, "vote", threshold=5)
    for n in range(3):
        confirm(client, app, f"M{n}")
    return app


class Statements:
    """The SQL statements an engine runs while this is recording."""

    def __init__(self, engine):
        self.engine = engine
        self.seen: list[str] = []

    def _record(self, _conn, _cursor, statement, *_args) -> None:
        if not statement.startswith(("BEGIN", "PRAGMA")):
            self.seen.append(statement)

    def __enter__(self) -> "Statements":
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *_exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)


# --- the endpoint ---------------------------------------------------------------------------


def test_the_count_answer_and_its_headers(three, client):
    response = client.get("/api/v1/petitions/vote/count")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "public, max-age=1"
    assert response.get_json() == {
        "slug": "vote",
        "count": 3,
        "threshold": 5,
        "state": "open",
        "reached_at": None,
        "log_size": 3,
    }


def test_a_triggered_petition_says_when(three, client):
    confirm(client, three, "M3")
    confirm(client, three, "M4")
    time.sleep(live.COUNT_TTL + 0.05)
    answer = client.get("/api/v1/petitions/vote/count").get_json()
    assert answer["count"] == 5
    assert answer["state"] == "triggered"
    assert answer["reached_at"] == rules.iso_utc(petition(three).reached_at)
    assert answer["reached_at"].endswith("Z")


def test_a_petition_past_its_closing_time_reads_closed(three, client):
    with Session(flask_db.engine_of(three)) as session:
        session.execute(update(Petition).values(closes_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    assert client.get("/api/v1/petitions/vote/count").get_json()["state"] == "closed"


@pytest.mark.parametrize("slug", ["nope", "draft", "Vote", "x" * 65, "a_b"])
def test_unknown_draft_and_impossible_slugs_are_a_json_404(three, client, slug):
    with Session(flask_db.engine_of(three)) as session:
        rules.create_petition(session, slug="draft", title="Draft", threshold=3)
        session.commit()
    response = client.get(f"/api/v1/petitions/{slug}/count")
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_the_count_follows_a_confirmation_within_the_cache_age(three, client):
    assert client.get("/api/v1/petitions/vote/count").get_json()["count"] == 3
    confirm(client, three, "M3")
    time.sleep(live.COUNT_TTL + 0.05)
    assert client.get("/api/v1/petitions/vote/count").get_json()["count"] == 4


def test_many_reads_cost_one_query_of_the_petition_row_per_cache_age(three, client):
    engine = flask_db.engine_of(three)
    client.get("/api/v1/petitions/vote/count")
    time.sleep(live.COUNT_TTL + 0.05)
    with Statements(engine) as statements:
        for _ in range(50):
            assert client.get("/api/v1/petitions/vote/count").status_code == 200
    assert len(statements.seen) == 1
    [query] = statements.seen
    # The maintained counter, by the unique slug: nothing grows with the number of signatures.
    assert "FROM petition" in query
    assert "signature" not in query.replace("signature_count", "")
    assert "count(" not in query.lower()


def test_unknown_slugs_are_cached_too_and_impossible_ones_cost_nothing(three, client):
    engine = flask_db.engine_of(three)
    with Statements(engine) as statements:
        for _ in range(20):
            client.get("/api/v1/petitions/NOPE/count")
    assert statements.seen == []
    with Statements(engine) as statements:
        for _ in range(20):
            client.get("/api/v1/petitions/nope/count")
    assert len(statements.seen) == 1


# --- the public page ------------------------------------------------------------------------


def test_the_public_page_carries_the_live_hooks_and_works_without_them(three):
    page = three.test_client().get("/p/vote").get_data(as_text=True)
    assert '<script src="/static/live_count.js" defer></script>' in page
    assert 'data-live-count="/api/v1/petitions/vote/count"' in page
    assert 'data-threshold="5"' in page
    assert '<strong class="count" data-live-value>3</strong>' in page
    assert 'value="3"' in page
    assert "data-live-progress" in page
    assert 'aria-live="polite"' in page


def test_a_closed_petition_page_does_not_poll(three, client):
    with Session(flask_db.engine_of(three)) as session:
        rules.close_petition(session, "vote")
        session.commit()
    page = three.test_client().get("/p/vote").get_data(as_text=True)
    assert "live_count.js" not in page
    assert "data-live-count" not in page
    assert '<strong class="count" data-live-value>3</strong>' in page


def test_the_index_is_unchanged_by_the_live_hooks(three):
    page = three.test_client().get("/").get_data(as_text=True)
    assert "data-live-count" not in page
    assert '<strong class="count" data-live-value>3</strong>' in page


# --- the cache ------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_cache_loads_once_per_ttl():
    clock, loads = Clock(), []
    cache = live.TTLCache(lambda key: loads.append(key) or len(loads), ttl=1.0, clock=clock)
    assert [cache.get("a") for _ in range(5)] == [1] * 5
    clock.now += 0.99
    assert cache.get("a") == 1
    clock.now += 0.02
    assert cache.get("a") == 2
    assert cache.get("b") == 3
    assert loads == ["a", "a", "b"]
    cache.forget("a")
    assert cache.get("a") == 4


def test_while_one_thread_refreshes_the_others_get_the_previous_value():
    clock = Clock()
    release, started = threading.Event(), threading.Event()
    values = iter([1, 2])

    def load(_key):
        value = next(values)
        if value == 2:
            started.set()
            release.wait(5)
        return value

    cache = live.TTLCache(load, ttl=1.0, clock=clock)
    assert cache.get("a") == 1
    clock.now += 2
    refresher = threading.Thread(target=lambda: cache.get("a"))
    refresher.start()
    assert started.wait(5)
    began = time.monotonic()
    assert cache.get("a") == 1  # not blocked behind the refresh
    assert time.monotonic() - began < 0.5
    release.set()
    refresher.join(5)
    assert cache.get("a") == 2


def test_a_failing_database_serves_the_previous_value_or_raises_without_one():
    clock, fail = Clock(), [False]

    def load(_key):
        if fail[0]:
            raise OperationalError("SELECT", {}, Exception("down"))
        return "value"

    cache = live.TTLCache(load, ttl=1.0, clock=clock)
    assert cache.get("a") == "value"
    fail[0] = True
    clock.now += 2
    assert cache.get("a") == "value"
    with pytest.raises(OperationalError):
        cache.get("b")


def test_many_threads_cost_one_load():
    loads = []

    def load(key):
        time.sleep(0.05)
        loads.append(key)
        return key

    cache = live.TTLCache(load, ttl=60)
    answers = []
    threads = [
        threading.Thread(target=lambda: answers.extend(cache.get("a") for _ in range(20)))
        for _ in range(16)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert answers == ["a"] * 320
    assert loads == ["a"]


def test_the_cache_keeps_a_bounded_number_of_keys():
    cache = live.TTLCache(lambda key: key, ttl=60, max_entries=10)
    for n in range(100):
        cache.get(n)
    assert len(cache._slots) <= 10
    assert cache.get(99) == 99


def test_a_slow_load_is_kept_longer_with_a_cost_factor():
    clock, loads = Clock(), []

    def load(key):
        clock.now += 2.0  # the load itself takes 2 s
        loads.append(key)
        return len(loads)

    cache = live.TTLCache(load, ttl=1.0, clock=clock, cost_factor=10)
    assert cache.get("a") == 1
    clock.now += 19.9
    assert cache.get("a") == 1
    clock.now += 0.2
    assert cache.get("a") == 2


# --- the fast path in front of Flask ---------------------------------------------------------


def through_flask(app, path: str):
    """GET ``path`` through Flask itself, behind the fast path."""
    inner = app.wsgi_app
    while isinstance(inner, live_wsgi.LiveCountFastPath):
        inner = inner.wsgi_app
    body, status, headers = run_wsgi_app(inner, EnvironBuilder(path=path).get_environ())
    return status, dict(headers), b"".join(body)


def test_the_fast_path_answers_exactly_as_the_flask_view(three, client):
    assert isinstance(three.wsgi_app, live_wsgi.LiveCountFastPath)
    fast = client.get("/api/v1/petitions/vote/count")
    status, headers, body = through_flask(three, "/api/v1/petitions/vote/count")
    assert status == "200 OK"
    assert fast.data == body
    for name in (
        "Content-Type",
        "Cache-Control",
        "Content-Security-Policy",
        "X-Frame-Options",
        "X-Content-Type-Options",
        "Referrer-Policy",
    ):
        assert fast.headers[name] == headers[name], name
    assert "Set-Cookie" not in fast.headers
    assert int(fast.headers["Content-Length"]) == len(fast.data)


def test_the_fast_path_skips_the_signed_in_lookup(three, client):
    from tests.helpers import sign_in

    sign_in(three, client)
    client.get("/api/v1/petitions/vote/count")
    with Statements(flask_db.engine_of(three)) as statements:
        for _ in range(20):
            assert client.get("/api/v1/petitions/vote/count").status_code == 200
    assert statements.seen == []


def test_head_and_other_methods_go_to_flask(three, client):
    assert client.head("/api/v1/petitions/vote/count").status_code == 200
    assert client.post("/api/v1/petitions/vote/count").status_code == 405
