"""The worker outlives Redis: started while Redis is down, or with Redis stopped under it, it
waits (and says so) and takes up the work when Redis returns; no work is lost meanwhile.

Redis here is a server of the test's own, on a port of its own, stopped and started again.
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from sqlmodel import Session, select

from app import create_app
from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.models import Mail, SignRequest
from petitions.jobs.dispatch import dispatcher_of
from tests.conftest import REQUIRE
from tests.helpers import add_members, open_petition
from tests.receiver import free_port

ROOT = Path(__file__).resolve().parents[2]
WAIT = 60


@pytest.fixture
def database_url(pg_schema):
    """PostgreSQL only: the worker is another process sharing the database."""
    return pg_schema


class OwnRedis:
    """A redis-server of this test's own, that can be stopped and started on the same port."""

    def __init__(self, executable: str):
        self.executable = executable
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [self.executable, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def own_redis():
    executable = shutil.which("redis-server")
    if executable is None:
        message = "redis-server is not installed (apt-get install redis-server)"
        if REQUIRE:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    server = OwnRedis(executable)
    yield server
    server.stop()


@pytest.fixture
def worker_process(app, own_redis, tmp_path):
    """Start ``flask --app app worker`` on the test's database and its own Redis; killed at
    teardown, its output shown."""
    output = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DATABASE_URL": settings_of(app).database_url,
        "REDIS_URL": own_redis.url,
        "SECRET_KEY": app.config["SECRET_KEY"],
        "BALLOT_WEBHOOK_SECRET": settings_of(app).ballot_webhook_secret,
    }
    env.pop("PETITIONS_ENV", None)
    started = []

    def start() -> subprocess.Popen:
        with output.open("ab") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "app", "worker"],
                cwd=ROOT,
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        started.append(process)
        return process

    yield start, output
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(WAIT)
    sys.stdout.write(f"--- worker\n{output.read_text(errors='replace')}")


def ask_to_sign(web, email: str) -> None:
    response = web.test_client().post("/api/v1/petitions/vote/signatures", json={"email": email})
    assert response.status_code == 202


def mailed(app, email: str) -> bool:
    with Session(flask_db.engine_of(app)) as session:
        return session.exec(select(Mail).where(Mail.to_address == email)).first() is not None


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_the_worker_waits_for_redis_and_loses_nothing(app, own_redis, worker_process):
    add_members(app, *[(f"M{n}", f"m{n}@example.org") for n in range(3)])
    open_petition(app, "vote", threshold=10)
    start, output = worker_process
    web = create_app({"TESTING": True, "REDIS_URL": own_redis.url})
    try:
        # Started while Redis is down: it waits, and says so, instead of exiting.
        worker = start()
        wait_until(lambda: "waiting for Redis" in output.read_text(errors="replace"), "no wait")
        assert worker.poll() is None
        # Work asked for while Redis is down is in the database only.
        ask_to_sign(web, "m0@example.org")
        own_redis.start()
        wait_until(lambda: mailed(app, "m0@example.org"), "m0 not mailed after Redis came back")

        # Redis stopped under a running worker, and work asked for meanwhile.
        own_redis.stop()
        ask_to_sign(web, "m1@example.org")
        time.sleep(3)
        assert worker.poll() is None, "the worker exited when Redis went away"
        assert not mailed(app, "m1@example.org")
        own_redis.start()
        wait_until(lambda: mailed(app, "m1@example.org"), "m1 not mailed after Redis came back")
        ask_to_sign(web, "m2@example.org")
        wait_until(lambda: mailed(app, "m2@example.org"), "m2 not mailed with Redis back")
        assert worker.poll() is None
        with Session(flask_db.engine_of(app)) as session:
            requests = session.exec(select(SignRequest)).all()
        assert len(requests) == 3
        assert all(request.done_at is not None for request in requests)
    finally:
        dispatcher_of(web).connection.close()
        flask_db.engine_of(web).dispose()
