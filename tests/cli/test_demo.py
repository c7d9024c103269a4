"""The demo's preparation: a sample roll, an open petition and two accounts, made once and
kept; and `demo --simulate` signing through a demo that is already running."""

import re
import threading

import pytest
import requests
from sqlalchemy import func, select
from sqlmodel import Session

from app import create_app
from petitions.cli import demo
from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.models import Member, UserAccount
from petitions.jobs import dispatch
from tests.browser_support import served
from tests.helpers import petition


def test_the_demo_is_prepared_once_and_kept(app, tmp_path):
    engine = flask_db.engine_of(app)
    done = demo.prepare_demo(engine, tmp_path, members=300, threshold=5, settings=settings_of(app))
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
    # The demo's petition counts its roll as committed when it opened, as the log's first entry.
    assert prepared.roll_generation == 1
    assert prepared.log_size == 1
    assert roles == {
        "organiser@example.org": "organiser",
        "scrutineer@example.org": "scrutineer",
    }
    assert (
        demo.prepare_demo(engine, tmp_path, members=300, threshold=5, settings=settings_of(app))
        == []
    )


@pytest.fixture
def running_demo(app, tmp_path, monkeypatch):
    """A demo server as `make demo` runs it, with its rate limits on (and low), its jobs done
    by a worker loop; yields the app and its base URL."""
    monkeypatch.setenv("SIGN_LIMIT_PER_NETWORK", "2 per hour")
    demo_app = create_app({"TESTING": True, "INPROCESS_WORKER_THREAD": False})
    demo.prepare_demo(
        flask_db.engine_of(demo_app),
        tmp_path,
        members=60,
        threshold=3,
        settings=settings_of(demo_app),
    )
    demo.let_simulation_through(demo_app)
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            dispatch.dispatcher_of(demo_app).run_pending()
            dispatch.housekeeping(demo_app)
            stop.wait(0.05)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    try:
        with served(demo_app) as base:
            yield demo_app, base
    finally:
        stop.set()
        worker.join(timeout=10)
        flask_db.engine_of(demo_app).dispose()


def test_simulate_signs_through_a_demo_that_is_already_running(running_demo):
    demo_app, base = running_demo
    port = base.rsplit(":", 1)[1]
    result = demo_app.test_cli_runner().invoke(
        args=["demo", "--simulate", "4", "--pace", "0", "--port", port]
    )
    assert result.exit_code == 0, result.output
    assert f"a demo is running at {base}: 4 sample members sign there" in result.output
    signed = int(re.search(r"simulation: (\d+) of 4 sample members have signed", result.output)[1])
    # More than the per-network limit of 2 signed from this one machine: the simulation's
    # requests are not counted against it ...
    assert signed >= 3
    assert requests.get(f"{base}/api/v1/petitions/demo/count", timeout=5).json()["count"] == signed
    # ... while anyone else's are.
    answers = [
        requests.post(
            f"{base}/api/v1/petitions/demo/signatures",
            json={"email": f"someone{n}@example.org"},
            timeout=5,
        ).status_code
        for n in range(3)
    ]
    assert answers == [202, 202, 429]


def test_a_wrong_simulation_header_is_counted_like_anyone(running_demo):
    _demo_app, base = running_demo
    header = {demo.SIMULATION_HEADER: demo.simulation_token("another secret key")}
    answers = [
        requests.post(
            f"{base}/api/v1/petitions/demo/signatures",
            json={"email": f"someone{n}@example.org"},
            headers=header,
            timeout=5,
        ).status_code
        for n in range(3)
    ]
    assert answers == [202, 202, 429]


def test_without_a_running_demo_nothing_answers():
    assert not demo.running_demo("http://127.0.0.1:1")
