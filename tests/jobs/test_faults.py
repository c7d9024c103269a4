"""Nothing is lost when Redis or a worker fails (invariant 3): the work is in the database first,
the relay offers it again, and the threshold webhook still arrives, once per try, with one id.

PostgreSQL and Redis are the real servers; workers are real ``flask --app app worker``
processes, killed in teardown whatever happens.
"""

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from rq import Queue
from rq.job import Job
from sqlalchemy import func
from sqlmodel import Session, select

from app import create_app
from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.models import (
    Member,
    Petition,
    Signature,
    ThresholdEvent,
    WebhookAttempt,
    WebhookDelivery,
)
from petitions.jobs.dispatch import QUEUE, dispatcher_of, relay_once
from petitions.signatures import tokens
from tests.helpers import add_members, open_petition, petition
from tests.receiver import Answer, Receiver

ROOT = Path(__file__).resolve().parents[2]
REDIS_DOWN = "redis://127.0.0.1:1/0"  # nothing listens on port 1
WAIT = 60


@pytest.fixture
def database_url(pg_schema):
    """PostgreSQL only: workers in other processes share the database."""
    return pg_schema


@pytest.fixture
def ballot(app):
    """A ballot system that answers 200; it must be told to hold a request to do otherwise."""
    with Receiver(settings_of(app).ballot_webhook_secret) as receiver:
        yield receiver


@pytest.fixture
def service(app):
    """Make apps on the test's database with the given REDIS_URL and ballot URL (as web
    processes would run), closed afterwards."""
    made = []

    def make(redis_url: str, webhook_url: str):
        service_app = create_app(
            {
                "TESTING": True,
                "WTF_CSRF_ENABLED": False,
                "REDIS_URL": redis_url,
                "BALLOT_WEBHOOK_URL": webhook_url,
            }
        )
        made.append(service_app)
        return service_app

    yield make
    for service_app in made:
        dispatcher_of(service_app).connection.close()
        flask_db.engine_of(service_app).dispose()


@pytest.fixture
def workers(app, redis_url, tmp_path):
    """Start ``flask --app app worker`` processes on the test's database and Redis database;
    every one still running is killed at teardown, and its output shown if the test failed."""
    started: list[tuple[subprocess.Popen, Path]] = []

    def start(webhook_url: str, *, burst: bool = False, **extra: str) -> subprocess.Popen:
        env = {
            **os.environ,
            "DATABASE_URL": settings_of(app).database_url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": app.config["SECRET_KEY"],
            "BALLOT_WEBHOOK_SECRET": settings_of(app).ballot_webhook_secret,
            "BALLOT_WEBHOOK_URL": webhook_url,
            **extra,
        }
        env.pop("PETITIONS_ENV", None)
        output = tmp_path / f"worker-{len(started)}.log"
        command = [sys.executable, "-m", "flask", "--app", "app", "worker"]
        with output.open("wb") as sink:
            process = subprocess.Popen(
                [*command, "--burst"] if burst else command,
                cwd=ROOT,
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        started.append((process, output))
        return process

    yield start
    for process, _output in started:
        if process.poll() is None:
            process.kill()
        process.wait(WAIT)
    for _process, output in started:
        sys.stdout.write(f"--- {output.name}\n{output.read_text(errors='replace')}")


def run_burst(workers, webhook_url: str) -> None:
    """Run a burst worker to the end; it must succeed."""
    process = workers(webhook_url, burst=True)
    assert process.wait(WAIT) == 0


def rq_queue(redis_url: str) -> Queue:
    """The service's rq queue, as rq's own tools see it."""
    return Queue(QUEUE, connection=redis.Redis.from_url(redis_url))


def cross_threshold(app, service_app, slug: str = "vote", threshold: int = 2) -> None:
    """Open a petition and confirm enough signatures, through ``service_app``'s API, to cross
    its threshold."""
    open_petition(app, slug, threshold=threshold)
    target = petition(app, slug)
    add_members(app, *[(f"{slug}-{n}", f"{slug}-{n}@example.org") for n in range(threshold)])
    with Session(flask_db.engine_of(app)) as session:
        ids = session.exec(select(Member.id).where(Member.number.startswith(f"{slug}-"))).all()
    client = service_app.test_client()
    for member_id in ids:
        token = tokens.make_token(app.config["SECRET_KEY"], [], target.id, member_id)
        response = client.post("/api/v1/signatures/confirm", json={"token": token})
        assert response.status_code == 200
        assert response.get_json()["status"] == "confirmed"


def the_delivery(app) -> WebhookDelivery:
    """The one webhook delivery there must be."""
    with Session(flask_db.engine_of(app), expire_on_commit=False) as session:
        return session.exec(select(WebhookDelivery)).one()


def wait_until_done(app, timeout: float = WAIT) -> WebhookDelivery:
    """The delivery once a worker has finished it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        delivery = the_delivery(app)
        if delivery.done_at is not None:
            return delivery
        time.sleep(0.2)
    pytest.fail("the webhook was not delivered in time")


def count_rows(app, model) -> int:
    """How many rows ``model`` has."""
    with Session(flask_db.engine_of(app)) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def test_a_signature_counts_while_redis_is_down_and_the_relay_catches_up(
    app, service, workers, ballot, redis_url, caplog
):
    down = service(REDIS_DOWN, ballot.url)
    with caplog.at_level(logging.WARNING, logger="petitions.jobs.dispatch"):
        cross_threshold(app, down)

    stored = petition(app)
    assert stored.state == "triggered"
    assert stored.signature_count == 2
    delivery = the_delivery(app)
    assert delivery.done_at is None
    assert delivery.attempts == 0
    job_id = f"webhook-{delivery.id}-0"
    assert f"could not enqueue {job_id}" in caplog.text

    queue = rq_queue(redis_url)
    assert queue.count == 0
    up = service(redis_url, ballot.url)
    assert relay_once(up, dispatcher_of(up)) == 1
    assert queue.job_ids == [job_id]
    job = Job.fetch(job_id, connection=queue.connection)
    assert job.func_name == "workers.jobs.run"
    assert job.args == ("webhook", delivery.id, 0)
    assert relay_once(up, dispatcher_of(up)) == 1  # offered again, but not queued twice
    assert queue.job_ids == [job_id]
    assert ballot.received == []

    run_burst(workers, ballot.url)

    assert ballot.wait_for(1, 5)
    [request] = ballot.received
    assert request.verified, request.error
    assert request.webhook_id == delivery.webhook_id
    delivery = the_delivery(app)
    assert delivery.outcome == "delivered"
    assert delivery.attempts == 1
    assert queue.count == 0
    assert relay_once(up, dispatcher_of(up)) == 0
    assert count_rows(app, ThresholdEvent) == 1


def test_a_worker_killed_mid_delivery_is_taken_over_with_the_same_webhook_id(
    app, service, workers, redis_url
):
    secret = settings_of(app).ballot_webhook_secret
    with Receiver(secret, answers=[Answer(hold=True)]) as ballot:
        first = workers(ballot.url, WORK_LEASE_SECONDS="2")
        up = service(redis_url, ballot.url)
        cross_threshold(app, up)
        assert ballot.wait_for(1, WAIT), "the first worker never sent the webhook"

        first.send_signal(signal.SIGKILL)
        assert first.wait(WAIT) == -signal.SIGKILL
        killed = the_delivery(app)
        assert killed.done_at is None
        assert killed.attempts == 1
        assert killed.leased_until is not None

        workers(ballot.url, WORK_LEASE_SECONDS="2")
        assert ballot.wait_for(2, WAIT), "no worker took the delivery over"
        delivery = wait_until_done(app)
        time.sleep(2.5)  # a lease and a relay round: long enough for a duplicate to show

    assert len(ballot.received) == 2
    for request in ballot.received:
        assert request.verified, request.error
        assert request.webhook_id == delivery.webhook_id
    assert ballot.received[0].body == ballot.received[1].body == delivery.payload
    assert delivery.outcome == "delivered"
    assert delivery.response_status == 200
    assert delivery.attempts == 2
    with Session(flask_db.engine_of(app)) as session:
        tries = session.exec(select(WebhookAttempt).order_by(WebhookAttempt.number)).all()
    # The killed try left no record of its own; the one that took over did.
    assert [(t.number, t.status_code) for t in tries] == [(2, 200)]
    assert count_rows(app, ThresholdEvent) == 1
    assert count_rows(app, WebhookDelivery) == 1
    assert count_rows(app, Signature) == 2
    assert petition(app).state == "triggered"


def _delete_the_job(queue: Queue, job_id: str) -> None:
    Job.fetch(job_id, connection=queue.connection).delete()


def _empty_the_queue(queue: Queue, _job_id: str) -> None:
    assert queue.empty() == 1


def _lose_the_queue_list(queue: Queue, _job_id: str) -> None:
    # As after a Redis restart or eviction that kept the job's hash but not the list naming it.
    queue.connection.delete(queue.key)


@pytest.mark.parametrize("lose", [_delete_the_job, _empty_the_queue, _lose_the_queue_list])
def test_the_relay_puts_back_work_whose_job_was_lost(
    app, service, workers, ballot, redis_url, lose
):
    up = service(redis_url, ballot.url)
    cross_threshold(app, up)
    delivery = the_delivery(app)
    job_id = f"webhook-{delivery.id}-0"
    queue = rq_queue(redis_url)
    assert queue.job_ids == [job_id]  # enqueued right after the commit

    lose(queue, job_id)
    assert queue.count == 0

    assert relay_once(up, dispatcher_of(up)) == 1
    assert queue.job_ids == [job_id]
    run_burst(workers, ballot.url)

    assert ballot.wait_for(1, 5)
    [request] = ballot.received
    assert request.verified, request.error
    assert request.webhook_id == delivery.webhook_id
    delivery = the_delivery(app)
    assert delivery.outcome == "delivered"
    assert delivery.attempts == 1
    assert queue.count == 0
    assert count_rows(app, Petition) == 1
    assert count_rows(app, ThresholdEvent) == 1
