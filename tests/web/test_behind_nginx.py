"""The service behind nginx as the README's "Behind a proxy" sets it up (docs/nginx/petitions.conf,
started by bench/proxy.py as `bench/surge.py --proxy` starts it): the live count is answered from
a one-second cache, however many pages poll it, and is still fresh within seconds; everything
else passes through to the service, every time.

Skipped without nginx (Debian: apt-get install nginx), unless PETITIONS_TEST_REQUIRE_NGINX=1
(CI sets it), which makes that a failure."""

import os
import shutil
import time

import pytest
import requests
from sqlalchemy import select
from sqlmodel import Session

from bench.common import free_port
from bench.proxy import CANDIDATES, start_proxy
from bench.service import Deadline, Processes
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
    if not any(shutil.which(candidate) for candidate in CANDIDATES):
        message = (
            "nginx is not installed (Debian: apt-get install nginx); skipping the proxy "
            "tests; set PETITIONS_TEST_REQUIRE_NGINX=1 to fail instead"
        )
        if os.environ.get("PETITIONS_TEST_REQUIRE_NGINX") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


@pytest.fixture
def behind_proxy(monkeypatch):
    """The app is made trusting one proxy's forwarded headers, as the README says to run it."""
    monkeypatch.setenv("PROXY_FIX_HOPS", "1")


@pytest.fixture
def proxied(nginx, behind_proxy, app, tmp_path):
    """The app served on loopback with nginx in front; yields nginx's base URL."""
    add_members(app, ("M1", "ann@example.org"), ("M2", "bob@example.org"))
    open_petition(app, threshold=10)
    processes = Processes(tmp_path)
    with served(app) as base:
        upstream = int(base.rsplit(":", 1)[1])
        try:
            yield start_proxy(processes, upstream, free_port(), tmp_path, Deadline(30))
        finally:
            processes.stop_all()


def confirm(app, front: str, number: str) -> None:
    with Session(flask_db.engine_of(app)) as session:
        member_id = session.scalars(select(Member.id).where(Member.number == number)).one()
    token = tokens.make_token(app.config["SECRET_KEY"], [], petition(app).id, member_id)
    answer = requests.post(f"{front}/api/v1/signatures/confirm", json={"token": token}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "confirmed"


def test_polls_within_a_second_are_answered_from_the_cache(proxied):
    first = requests.get(f"{proxied}{COUNT}", timeout=10)
    assert first.status_code == 200
    assert first.json()["count"] == 0
    assert first.headers["Cache-Control"] == "public, max-age=1"
    again = [requests.get(f"{proxied}{COUNT}", timeout=10) for _ in range(5)]
    # A query string of its own gets no poll past the cache either.
    again.append(requests.get(f"{proxied}{COUNT}?nocache={time.time()}", timeout=10))
    statuses = [answer.headers["X-Cache-Status"] for answer in again]
    assert statuses.count("HIT") >= 5, statuses
    assert all(answer.json() == first.json() for answer in again)
    # The service's own headers come with the cached answer.
    assert again[0].headers["X-Content-Type-Options"] == "nosniff"


def test_a_confirmation_through_the_proxy_shows_in_the_count_within_seconds(app, proxied):
    requests.get(f"{proxied}{COUNT}", timeout=10)  # an answer in the cache, with 0
    confirm(app, proxied, "M1")
    confirmed = time.perf_counter()
    seen = None
    while time.perf_counter() - confirmed < FRESH_WITHIN:
        seen = requests.get(f"{proxied}{COUNT}", timeout=10).json()["count"]
        if seen == 1:
            break
        time.sleep(0.1)
    assert seen == 1, f"the count still said {seen} {FRESH_WITHIN} s after the confirmation"


def test_everything_else_reaches_the_service_every_time(app, proxied):
    # Nothing but the count is cached: a second confirmation of the same link is the service's
    # own answer, and so is a petition's page and a count that is not there.
    confirm(app, proxied, "M2")
    with Session(flask_db.engine_of(app)) as session:
        member_id = session.scalars(select(Member.id).where(Member.number == "M2")).one()
    token = tokens.make_token(app.config["SECRET_KEY"], [], petition(app).id, member_id)
    again = requests.post(f"{proxied}/api/v1/signatures/confirm", json={"token": token}, timeout=10)
    assert again.json()["status"] == "already_signed"
    assert "X-Cache-Status" not in again.headers
    for _ in range(2):
        missing = requests.get(f"{proxied}/api/v1/petitions/nothing-here/count", timeout=10)
        assert missing.status_code == 404
        assert missing.headers["X-Cache-Status"] != "HIT"
    page = requests.get(f"{proxied}/p/vote", timeout=10)
    assert page.status_code == 200
    assert "Petition vote" in page.text
