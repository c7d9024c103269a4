"""The service behind nginx as the README's "Behind a proxy" sets it up (docs/nginx/petitions.conf,
started by bench/proxy.py as `bench/surge.py --proxy` starts it): the live count is answered from
a one-second cache, however many pages poll it, and is still fresh within seconds; everything
else passes through to the service, every time; each request carries the client's address,
scheme and host.

Skipped without nginx (Debian: apt-get install nginx), unless PETITIONS_TEST_REQUIRE_NGINX=1
(CI sets it), which makes that a failure."""

import math
import os
import time
from collections import Counter

import pytest
import requests
from sqlalchemy import select
from sqlmodel import Session

from bench.common import BenchError, free_port
from bench.proxy import nginx_binary, start_proxy
from bench.service import Deadline, Processes
from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.models import Member
from petitions.signatures import tokens
from tests.browser_support import served
from tests.helpers import add_members, open_petition, petition

COUNT = "/api/v1/petitions/vote/count"
# The live count's own cache (half a second a process) and nginx's (one second), with room.
FRESH_WITHIN = 4.0


@pytest.fixture
def nginx():
    """Skip (or fail, when nginx is required) unless nginx is installed."""
    try:
        nginx_binary()
    except BenchError:
        message = (
            "nginx is not installed (Debian: apt-get install nginx); skipping the proxy "
            "tests; set PETITIONS_TEST_REQUIRE_NGINX=1 to fail instead"
        )
        if os.environ.get("PETITIONS_TEST_REQUIRE_NGINX") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


@pytest.fixture(autouse=True)
def behind_proxy(monkeypatch):
    """The app is made trusting one proxy's forwarded headers, as the README says to run it
    (autouse: before the app is made, whichever fixture a test names first)."""
    monkeypatch.setenv("PROXY_FIX_HOPS", "1")


class Reached(Counter):
    """How many requests for each path reached the app, counted in front of all of it, and
    the forwarded headers each path last came with."""

    def __init__(self):
        super().__init__()
        self.forwarded: dict[str, tuple] = {}


@pytest.fixture
def reached(app) -> Reached:
    """The app's requests, as Reached counts them."""
    paths = Reached()
    inner = app.wsgi_app

    def counting(environ, start_response):
        path = environ.get("PATH_INFO", "")
        paths[path] += 1
        paths.forwarded[path] = tuple(
            environ.get(f"HTTP_X_FORWARDED_{name}") for name in ("FOR", "PROTO", "HOST")
        )
        return inner(environ, start_response)

    app.wsgi_app = counting
    return paths


@pytest.fixture
def proxied(nginx, app, reached, tmp_path):
    """The app served on loopback with nginx in front; yields nginx's base URL."""
    assert settings_of(app).proxy_fix_hops == 1
    add_members(app, ("M1", "ann@example.org"), ("M2", "bob@example.org"))
    open_petition(app, threshold=10)
    processes = Processes(tmp_path)
    with served(app) as base:
        upstream = int(base.rsplit(":", 1)[1])
        try:
            yield start_proxy(processes, upstream, free_port(), tmp_path, Deadline(30))
        finally:
            processes.stop_all()


def confirm(app, front: str, number: str) -> dict:
    """POST a confirmation of the member ``number``'s link through ``front``; its answer."""
    with Session(flask_db.engine_of(app)) as session:
        member_id = session.scalars(select(Member.id).where(Member.number == number)).one()
    token = tokens.make_token(app.config["SECRET_KEY"], [], petition(app).id, member_id)
    answer = requests.post(f"{front}/api/v1/signatures/confirm", json={"token": token}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_polls_reach_the_service_about_once_a_second_however_many_there_are(proxied, reached):
    started = time.perf_counter()
    polls = [requests.get(f"{proxied}{COUNT}", timeout=10) for _ in range(20)]
    # A query string of its own gets no poll past the cache either.
    polls += [requests.get(f"{proxied}{COUNT}?nocache={n}", timeout=10) for n in range(5)]
    elapsed = time.perf_counter() - started
    assert [poll.status_code for poll in polls] == [200] * len(polls)
    assert all(poll.json() == polls[0].json() for poll in polls)
    assert polls[0].json()["count"] == 0
    # Each answer is kept for a second: one request a second began, and the one that began it.
    assert reached[COUNT] <= 1 + math.ceil(elapsed), (reached[COUNT], elapsed)
    # The service's own headers come with the cached answer.
    assert polls[-1].headers["Cache-Control"] == "public, max-age=1"
    assert polls[-1].headers["X-Content-Type-Options"] == "nosniff"


def test_a_confirmation_through_the_proxy_shows_in_the_count_within_seconds(app, proxied):
    requests.get(f"{proxied}{COUNT}", timeout=10)  # an answer in the cache, with 0
    assert confirm(app, proxied, "M1")["status"] == "confirmed"
    confirmed = time.perf_counter()
    seen = None
    while time.perf_counter() - confirmed < FRESH_WITHIN:
        seen = requests.get(f"{proxied}{COUNT}", timeout=10).json()["count"]
        if seen == 1:
            break
        time.sleep(0.1)
    assert seen == 1, f"the count still said {seen} {FRESH_WITHIN} s after the confirmation"


def test_everything_else_reaches_the_service_every_time(app, proxied, reached):
    # Nothing but the count is cached: a second confirmation of the same link is the service's
    # own answer, and so is a petition's page and a count that is not there.
    assert confirm(app, proxied, "M2")["status"] == "confirmed"
    assert confirm(app, proxied, "M2")["status"] == "already_signed"
    assert reached["/api/v1/signatures/confirm"] == 2
    for _ in range(3):
        missing = requests.get(f"{proxied}/api/v1/petitions/nothing-here/count", timeout=10)
        assert missing.status_code == 404
        page = requests.get(f"{proxied}/p/vote", timeout=10)
        assert page.status_code == 200
        assert "Petition vote" in page.text
    assert reached["/api/v1/petitions/nothing-here/count"] == 3
    assert reached["/p/vote"] == 3
    # Each with the client's address, scheme and host, which PROXY_FIX_HOPS=1 reads.
    assert reached.forwarded["/p/vote"] == ("127.0.0.1", "http", "127.0.0.1")
    missing_count = "/api/v1/petitions/nothing-here/count"  # the count's location
    assert reached.forwarded[missing_count] == ("127.0.0.1", "http", "127.0.0.1")
