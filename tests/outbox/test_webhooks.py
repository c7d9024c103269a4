"""The threshold webhook: delivered to a real HTTP receiver that checks every Standard Webhooks
signature, retried with growing delays and the same webhook-id until a 2xx, disabled by a 410.

Time passing is simulated by making the delivery due now instead of sleeping.
"""

import ipaddress
import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, select

from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.engine import utcnow
from petitions.db.models import Member, Petition, ThresholdEvent, WebhookAttempt, WebhookDelivery
from petitions.outbox import work
from petitions.signatures import tokens
from tests.helpers import add_members, configure, open_petition, petition
from tests.receiver import BALLOT_URL, OK, Answer, Receiver, free_port

SECRET = "whsec_dGVzdC13ZWJob29rLXNlY3JldA=="  # the one the app fixture configures


@pytest.fixture
def receiver(app):
    """A ballot system answering 200 with a ballot URL; the app's BALLOT_WEBHOOK_URL."""
    with Receiver(settings_of(app).ballot_webhook_secret) as ballot:
        configure(app, ballot_webhook_url=ballot.url)
        yield ballot


def confirm_members(app, client, slug: str, count: int, prefix: str = "M") -> None:
    """Put ``count`` members on the roll and confirm a signature by each through the API."""
    add_members(app, *[(f"{prefix}{n}", f"{prefix.lower()}{n}@example.org") for n in range(count)])
    with Session(flask_db.engine_of(app)) as session:
        ids = session.exec(
            select(Member.id).where(Member.number.in_([f"{prefix}{n}" for n in range(count)]))
        ).all()
    target = petition(app, slug)
    for member_id in ids:
        token = tokens.make_token(app.config["SECRET_KEY"], [], target.id, member_id)
        response = client.post("/api/v1/signatures/confirm", json={"token": token})
        assert response.status_code == 200
        assert response.get_json()["status"] == "confirmed"


def trigger(app, client, slug: str = "vote", threshold: int = 2, **fields) -> None:
    """Open a petition and confirm exactly enough signatures to cross its threshold."""
    open_petition(app, slug, threshold=threshold, **fields)
    confirm_members(app, client, slug, threshold, prefix=f"{slug.upper()}-")


def deliveries(app) -> list[WebhookDelivery]:
    """Every webhook delivery, oldest first."""
    with Session(flask_db.engine_of(app), expire_on_commit=False) as session:
        return list(session.exec(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def the_delivery(app) -> WebhookDelivery:
    """The one webhook delivery there must be."""
    found = deliveries(app)
    assert len(found) == 1
    return found[0]


def attempts(app, delivery_id: int) -> list[WebhookAttempt]:
    """The tries at a delivery, in order."""
    with Session(flask_db.engine_of(app), expire_on_commit=False) as session:
        query = select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery_id)
        return list(session.exec(query.order_by(WebhookAttempt.number)))


def time_passes(app) -> None:
    """Make every undone delivery due now, as if its retry delay had passed."""
    with Session(flask_db.engine_of(app)) as session:
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.done_at.is_(None))
            .values(next_attempt_at=utcnow())
        )
        session.commit()


def run_once(app, worker) -> tuple[datetime, datetime]:
    """Run whatever is due; return the times just before and just after."""
    before = utcnow()
    worker.run_pending()
    return before, utcnow()


def scheduled_delay(app, window: tuple[datetime, datetime]) -> tuple[float, float]:
    """The bounds (seconds) of the wait the last failure scheduled, given when it ran."""
    delivery = the_delivery(app)
    assert delivery.done_at is None
    before, after = window
    return (
        (delivery.next_attempt_at - after).total_seconds(),
        (delivery.next_attempt_at - before).total_seconds(),
    )


def assert_all_verified(ballot: Receiver, webhook_id: str) -> None:
    """Every request carried ``webhook_id``, a fresh timestamp and a valid signature."""
    for request in ballot.received:
        assert request.verified, request.error
        assert request.webhook_id == webhook_id
        assert abs(int(request.timestamp) - request.arrived) < 5
        assert request.signature.startswith("v1,")


# --- delivery outcomes ----------------------------------------------------------------------


def test_nothing_is_sent_before_the_threshold(app, client, worker, receiver):
    open_petition(app, "vote", threshold=3)
    confirm_members(app, client, "vote", 2)
    worker.run_pending()
    assert deliveries(app) == []
    assert receiver.received == []
    assert petition(app).state == "open"


def test_a_first_2xx_delivers_once_and_keeps_the_answer(app, client, worker):
    with Receiver(SECRET, default=Answer(200, OK, delay=0.3)) as ballot:
        configure(app, ballot_webhook_url=ballot.url)
        trigger(app, client)
        window = run_once(app, worker)
        time_passes(app)
        worker.run_pending()

    delivery = the_delivery(app)
    assert len(ballot.received) == 1
    assert_all_verified(ballot, delivery.webhook_id)
    assert ballot.received[0].path == "/hook"
    assert json.loads(ballot.received[0].body) == json.loads(delivery.payload)
    assert delivery.outcome == "delivered"
    assert delivery.done_at is not None
    assert delivery.attempts == 1
    assert delivery.response_status == 200
    assert delivery.response_body == OK
    assert delivery.last_error is None
    assert delivery.url == ballot.url

    [attempt] = attempts(app, delivery.id)
    assert attempt.number == 1
    assert attempt.status_code == 200
    assert attempt.error is None
    assert 300 <= attempt.duration_ms < 5000
    assert window[0] - timedelta(seconds=1) <= attempt.started_at <= window[1]

    page = client.get("/p/vote")
    assert page.status_code == 200
    assert f'href="{BALLOT_URL}"' in page.get_data(as_text=True)


def test_500_500_then_200_is_one_delivery_of_three_tries_with_one_id(app, client, worker):
    with Receiver(SECRET, answers=[Answer(500, "down"), Answer(500, "down")]) as ballot:
        configure(app, ballot_webhook_url=ballot.url)
        trigger(app, client)

        first = scheduled_delay(app, run_once(app, worker))
        assert len(ballot.received) == 1
        worker.run_pending()  # not due yet: nothing is sent
        assert len(ballot.received) == 1
        assert the_delivery(app).last_error == "DeliveryFailed: HTTP 500"

        time_passes(app)
        second = scheduled_delay(app, run_once(app, worker))
        assert len(ballot.received) == 2

        time_passes(app)
        worker.run_pending()
        time_passes(app)
        worker.run_pending()

    # retry_delay: 2 s then 4 s, each jittered by up to a quarter either way
    assert first[0] >= 1.5 - 1
    assert first[1] <= 2.5 + 1
    assert second[0] >= 3.0 - 1
    assert second[1] <= 5.0 + 1
    assert second[0] > first[1]

    delivery = the_delivery(app)
    assert delivery.outcome == "delivered"
    assert delivery.attempts == 3
    assert len(ballot.received) == 3
    assert_all_verified(ballot, delivery.webhook_id)
    assert {request.body for request in ballot.received} == {delivery.payload}
    tries = attempts(app, delivery.id)
    assert [t.number for t in tries] == [1, 2, 3]
    assert [t.status_code for t in tries] == [500, 500, 200]
    assert [t.error for t in tries] == ["HTTP 500", "HTTP 500", None]
    assert tries[0].started_at < tries[1].started_at < tries[2].started_at


def test_a_timeout_is_recorded_and_retried(app, client, worker):
    configure(app, webhook_timeout=1)
    with Receiver(SECRET, answers=[Answer(200, OK, delay=3)]) as ballot:
        configure(app, ballot_webhook_url=ballot.url)
        trigger(app, client)
        worker.run_pending()
        delivery = the_delivery(app)
        assert delivery.done_at is None
        assert delivery.next_attempt_at > utcnow()
        assert "Timeout" in delivery.last_error

        time_passes(app)
        worker.run_pending()

    delivery = the_delivery(app)
    assert delivery.outcome == "delivered"
    assert delivery.attempts == 2
    assert len(ballot.received) == 2
    assert_all_verified(ballot, delivery.webhook_id)
    timed_out, answered = attempts(app, delivery.id)
    assert timed_out.status_code is None
    assert "Timeout" in timed_out.error
    assert 900 <= timed_out.duration_ms < 3000
    assert answered.status_code == 200
    assert answered.error is None


def test_410_disables_the_delivery_for_good(app, client, worker):
    with Receiver(SECRET, default=Answer(410, "gone")) as ballot:
        configure(app, ballot_webhook_url=ballot.url)
        trigger(app, client)
        worker.run_pending()
        time_passes(app)
        worker.run_pending()
        assert list(work.due(flask_db.engine_of(app))) == []

    delivery = the_delivery(app)
    assert len(ballot.received) == 1
    assert delivery.outcome == "disabled"
    assert delivery.done_at is not None
    assert delivery.response_status == 410
    assert delivery.attempts == 1
    [attempt] = attempts(app, delivery.id)
    assert attempt.status_code == 410
    assert BALLOT_URL not in client.get("/p/vote").get_data(as_text=True)


def test_a_refused_connection_is_retried_until_the_ballot_system_listens(app, client, worker):
    port = free_port()
    configure(app, ballot_webhook_url=f"http://127.0.0.1:{port}/hook")
    trigger(app, client)
    worker.run_pending()
    time_passes(app)
    worker.run_pending()
    delivery = the_delivery(app)
    assert delivery.done_at is None
    assert delivery.attempts == 2
    assert delivery.next_attempt_at > utcnow()
    for attempt in attempts(app, delivery.id):
        assert attempt.status_code is None
        assert "ConnectionError" in attempt.error

    with Receiver(SECRET, port=port) as ballot:
        time_passes(app)
        worker.run_pending()

    delivery = the_delivery(app)
    assert delivery.outcome == "delivered"
    assert delivery.attempts == 3
    assert len(ballot.received) == 1
    assert_all_verified(ballot, delivery.webhook_id)
    assert [a.status_code for a in attempts(app, delivery.id)] == [None, None, 200]


# --- what is sent, and where ----------------------------------------------------------------


def test_the_body_has_exactly_the_published_shape(app, client, worker, receiver):
    add_members(
        app,
        ("L1", "lapsed@example.org", "lapsed"),
        *[(f"X{n}", f"x{n}@example.org") for n in range(3)],
    )
    trigger(app, client, "fair-pay", threshold=2)
    worker.run_pending()

    [request] = receiver.received
    assert request.verified, request.error
    body = json.loads(request.body)
    stored = petition(app, "fair-pay")
    with Session(flask_db.engine_of(app)) as session:
        event = session.exec(select(ThresholdEvent)).one()
    reached = stored.reached_at.astimezone(UTC).isoformat().replace("+00:00", "Z")

    assert set(body) == {"type", "timestamp", "data"}
    assert set(body["data"]) == {
        "petition",
        "threshold",
        "count",
        "eligible_members",
        "reached_at",
        "log",
    }
    assert body["type"] == "petition.threshold_reached"
    assert body["data"]["petition"] == {
        "slug": "fair-pay",
        "title": "Petition fair-pay",
        "url": f"{settings_of(app).base_url}/p/fair-pay",
    }
    assert body["data"]["threshold"] == 2
    assert body["data"]["count"] == 2 == event.count
    assert body["data"]["eligible_members"] == 3  # active members when it opened
    assert body["data"]["reached_at"] == reached
    assert body["timestamp"] == reached
    assert datetime.fromisoformat(body["timestamp"]) == stored.reached_at
    log = body["data"]["log"]
    # The log's signed head at the crossing signature.
    assert set(log) == {"size", "root_hash", "timestamp", "signature"}
    assert log["size"] == 2


def test_a_petitions_own_webhook_url_overrides_the_setting(app, client, worker, receiver, dns):
    # The test's ballot system listens on loopback, which only an allowed network reaches.
    loopback = (ipaddress.ip_network("127.0.0.1/32"),)
    configure(app, webhook_allowed_networks=loopback)
    with Receiver(SECRET) as own:
        dns["ballot.test"] = ["127.0.0.1"]
        url = f"http://ballot.test:{own.port}/hook"
        trigger(app, client, "own-ballot", webhook_url=url, webhook_allowed=loopback)
        worker.run_pending()

    delivery = the_delivery(app)
    assert delivery.url == url
    assert delivery.outcome == "delivered"
    assert len(own.received) == 1
    assert own.received[0].host == f"ballot.test:{own.port}"
    assert_all_verified(own, delivery.webhook_id)
    assert receiver.received == []


def test_each_petition_gets_its_own_webhook_id(app, client, worker, receiver):
    trigger(app, client, "first")
    trigger(app, client, "second")
    worker.run_pending()
    first, second = deliveries(app)
    assert first.webhook_id != second.webhook_id
    assert {r.webhook_id for r in receiver.received} == {first.webhook_id, second.webhook_id}
    with Session(flask_db.engine_of(app)) as session:
        states = session.exec(select(Petition.state)).all()
    assert states == ["triggered", "triggered"]


# --- retry_delay ----------------------------------------------------------------------------


class FixedJitter:
    """A stand-in for random.Random whose jitter is always ``factor``."""

    def __init__(self, factor: float):
        self.factor = factor

    def uniform(self, low: float, high: float) -> float:
        assert (low, high) == (0.75, 1.25)
        return self.factor


@pytest.mark.parametrize("kind", sorted(work.RETRY_DELAYS))
def test_retry_delay_doubles_until_its_cap(kind):
    first, cap = work.RETRY_DELAYS[kind]
    delays = [work.retry_delay(kind, n, FixedJitter(1.0)).total_seconds() for n in range(1, 40)]
    assert delays[0] == first
    assert delays[1] == 2 * first
    growing = [d for d in delays if d < cap]
    assert growing == sorted(set(growing))
    assert len(growing) >= 3
    assert delays[-1] == cap
    assert all(d <= cap for d in delays)


@pytest.mark.parametrize("kind", sorted(work.RETRY_DELAYS))
def test_retry_delay_is_jittered_within_a_quarter(kind):
    first, cap = work.RETRY_DELAYS[kind]
    rng = random.Random(1234)
    for attempts in range(1, 12):
        base = min(cap, first * 2 ** (attempts - 1))
        seen = {work.retry_delay(kind, attempts, rng).total_seconds() for _ in range(200)}
        assert len(seen) > 50
        assert min(seen) >= 0.75 * base - 1e-6
        assert max(seen) <= min(cap, 1.25 * base) + 1e-6
        assert max(seen) - min(seen) > 0.2 * base
    low = work.retry_delay(kind, 1, FixedJitter(0.75)).total_seconds()
    high = work.retry_delay(kind, 1, FixedJitter(1.25)).total_seconds()
    assert (low, high) == (0.75 * first, 1.25 * first)


@pytest.mark.parametrize("attempts", [16, 30, 100, 1_024, 1_025, 5_000, 1_000_000])
def test_retry_delay_is_capped_at_hours_however_many_tries(attempts):
    for jitter in (0.75, 1.0, 1.25):
        delay = work.retry_delay("webhook", attempts, FixedJitter(jitter))
        assert timedelta(hours=4) <= delay <= timedelta(hours=6)
    assert work.retry_delay("mail", attempts, FixedJitter(1.25)) == timedelta(hours=1)
    assert work.retry_delay("sign_request", attempts, FixedJitter(1.25)) == timedelta(minutes=10)


def test_retry_delay_before_any_try_is_the_first_delay():
    assert work.retry_delay("webhook", 0, FixedJitter(1.0)) == timedelta(seconds=2)
