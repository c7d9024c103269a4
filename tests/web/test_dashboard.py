"""The organisers' dashboard: the figures it shows are right against arranged data (funnel,
reasons, regions, chart buckets, invalidated signatures left out), its live JSON follows a
confirmation within the cache's age, and "retry now" makes a failed webhook due so that the
worker delivers it."""

import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlmodel import Session

from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.engine import utcnow
from petitions.db.models import (
    AuditEvent,
    Member,
    Petition,
    Signature,
    SignRequest,
    WebhookAttempt,
    WebhookDelivery,
)
from petitions.reports import chart as dashboard_chart
from petitions.reports import dashboard as dashboard_stats
from petitions.signatures import invalidation, tokens
from petitions.web import live_count as live
from tests.helpers import (
    add_members,
    configure,
    link_in,
    open_petition,
    petition,
    sent_mail,
    sign_in,
)
from tests.receiver import Answer, Receiver

SECRET = "whsec_dGVzdC13ZWJob29rLXNlY3JldA=="  # the one the app fixture configures
T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def member_pk(app, member_id: str) -> int:
    with Session(flask_db.engine_of(app)) as session:
        return session.scalars(select(Member.id).where(Member.number == member_id)).one()


def confirm(client, app, member_id: str, slug: str = "vote") -> int:
    """Confirm ``member_id``'s signature through the API; its signature number."""
    token = tokens.make_token(
        app.config["SECRET_KEY"], [], petition(app, slug).id, member_pk(app, member_id)
    )
    response = client.post("/api/v1/signatures/confirm", json={"token": token})
    assert response.get_json()["status"] == "confirmed", response.get_json()
    return response.get_json()["receipt"]["number"]


def ask(client, email: str, member_id: str | None = None) -> None:
    body = {"email": email} if member_id is None else {"email": email, "member_id": member_id}
    assert client.post("/api/v1/petitions/vote/signatures", json=body).status_code == 202


def set_times(app, **columns) -> None:
    """Set a petition's or signatures' times: signature numbers map to confirmed_at."""
    with Session(flask_db.engine_of(app)) as session:
        for number, moment in columns.get("signatures", {}).items():
            session.execute(
                update(Signature).where(Signature.number == number).values(confirmed_at=moment)
            )
        if "opened_at" in columns:
            session.execute(update(Petition).values(opened_at=columns["opened_at"]))
        session.commit()


def figures(app, slug: str = "vote", now: datetime | None = None) -> dashboard_stats.Dashboard:
    with Session(flask_db.engine_of(app), expire_on_commit=False) as session:
        found = session.scalars(select(Petition).where(Petition.slug == slug)).one()
        return dashboard_stats.dashboard(session, found, settings_of(app).confirm_link_max_age, now)


@pytest.fixture
def arranged(app, client, worker):
    """A petition with requests that ended every way there is, and three signatures, one of
    them invalidated."""
    add_members(
        app,
        ("A1", "a1@example.org", "active", "North"),
        ("A2", "a2@example.org", "active", "North"),
        ("A3", "a3@example.org", "active", "South"),
        ("L1", "lapsed@example.org", "lapsed", "South"),
        ("H1", "home@example.org", "active", "East"),
        ("H2", "home@example.org", "active", "East"),
        ("W1", "w1@example.org", "active"),
        ("B1", "b1@example.org", "active"),
        ("B2", "b2@example.org", "active", "North"),
    )
    open_petition(app, "vote", threshold=10)
    for email, number in [
        ("a1@example.org", None),
        ("A2@Example.org", None),
        ("a3@example.org", None),
        ("lapsed@example.org", None),
        ("home@example.org", None),
        ("w1@example.org", "not-w1"),
        ("stranger@example.org", None),
    ]:
        ask(client, email, number)
    worker.run_pending()
    # A1 confirms the link it was sent; A2's link is left to expire; A3's is still valid.
    link = link_in(sent_mail(app, "a1@example.org")[-1].text_body)
    token = link.split("token=", 1)[1]
    assert client.post("/api/v1/signatures/confirm", json={"token": token}).status_code == 200
    with Session(flask_db.engine_of(app)) as session:
        old = utcnow() - timedelta(seconds=settings_of(app).confirm_link_max_age + 60)
        session.execute(
            update(SignRequest)
            .where(SignRequest.email_key == "a2@example.org")
            .values(created_at=old)
        )
        session.commit()
    ask(client, "a1@example.org")  # already signed
    worker.run_pending()
    ask(client, "late@example.org")  # not answered yet
    confirm(client, app, "B1")
    number = confirm(client, app, "B2")
    invalidation.invalidate(
        flask_db.engine_of(app), settings_of(app), "vote", [number], "other", "ann", "test"
    )
    return app


# --- the figures --------------------------------------------------------------------------------


def test_the_funnel_counts_each_step(arranged):
    funnel = figures(arranged).funnel
    assert funnel == dashboard_stats.Funnel(
        requests=9,
        answered=8,
        links_sent=3,
        links_confirmed=1,
        invited=0,
        confirmed=3,
        invalidated=1,
        counted=2,
    )
    assert funnel.counted == petition(arranged).signature_count


def test_every_reason_a_request_did_not_become_a_signature(arranged):
    reasons = {reason.code: reason.count for reason in figures(arranged).reasons}
    assert reasons == {
        "not_on_roll": 1,
        "lapsed": 1,
        "not_on_committed_roll": 0,
        "household_needs_number": 1,
        "wrong_number": 1,
        "already_signed": 1,
        "already_mailed": 0,
        "petition_closed": 0,
        "link_expired": 1,
        "awaiting": 1,
        "pending": 1,
    }


def test_a_link_older_than_its_lifetime_but_confirmed_is_not_expired(app, client, worker):
    add_members(app, ("A1", "a1@example.org"))
    open_petition(app, "vote")
    ask(client, "a1@example.org")
    worker.run_pending()
    confirm(client, app, "A1")
    with Session(flask_db.engine_of(app)) as session:
        session.execute(update(SignRequest).values(created_at=utcnow() - timedelta(days=30)))
        session.commit()
    reasons = {reason.code: reason.count for reason in figures(app).reasons}
    assert reasons["link_expired"] == 0
    assert reasons["awaiting"] == 0
    assert figures(app).funnel.links_confirmed == 1


def test_regions_leave_out_invalidated_signatures(arranged):
    regions = figures(arranged).regions
    assert regions == [
        dashboard_stats.RegionRow("North", 1, 50.0),
        dashboard_stats.RegionRow("unknown", 1, 50.0),
    ]


def test_regions_are_ordered_by_count_then_name(app, client):
    add_members(
        app,
        *[(f"N{n}", f"n{n}@example.org", "active", "North") for n in range(3)],
        *[(f"S{n}", f"s{n}@example.org", "active", "South") for n in range(1)],
        *[(f"E{n}", f"e{n}@example.org", "active", "East") for n in range(1)],
    )
    open_petition(app, "vote", threshold=100)
    for member in ("N0", "N1", "N2", "S0", "E0"):
        confirm(client, app, member)
    assert [(r.region, r.count, r.percent) for r in figures(app).regions] == [
        ("North", 3, 60.0),
        ("East", 1, 20.0),
        ("South", 1, 20.0),
    ]


def test_chart_buckets_count_per_minute_and_total_without_invalidated(app, client):
    add_members(app, *[(f"M{n}", f"m{n}@example.org") for n in range(4)])
    open_petition(app, "vote", threshold=10)
    numbers = [confirm(client, app, f"M{n}") for n in range(4)]
    set_times(
        app,
        opened_at=T0,
        signatures={
            numbers[0]: T0 + timedelta(seconds=30),
            numbers[1]: T0 + timedelta(seconds=90),
            numbers[2]: T0 + timedelta(seconds=95),
            numbers[3]: T0 + timedelta(seconds=200),
        },
    )
    invalidation.invalidate(
        flask_db.engine_of(app), settings_of(app), "vote", [numbers[2]], "other", "a", "x"
    )

    series = figures(app, now=T0 + timedelta(minutes=4, seconds=10)).series
    assert (series.width, series.unit) == (60, "minute")
    assert [b.start for b in series.buckets] == [T0 + timedelta(minutes=n) for n in range(5)]
    assert [b.confirmed for b in series.buckets] == [1, 1, 0, 1, 0]
    assert [b.invalidated for b in series.buckets] == [0, 1, 0, 0, 0]
    assert [b.total for b in series.buckets] == [1, 2, 2, 3, 3]
    assert series.buckets[-1].total == petition(app).signature_count


def test_chart_buckets_widen_with_the_petitions_age(app, client):
    add_members(app, ("M1", "m1@example.org"))
    open_petition(app, "vote", threshold=10)
    number = confirm(client, app, "M1")
    set_times(app, opened_at=T0, signatures={number: T0 + timedelta(hours=30)})
    series = figures(app, now=T0 + timedelta(days=3)).series
    assert (series.width, series.unit) == (3 * 3600, "3 hours")
    # Buckets are whole 3 hours of UTC: the first is 09:00-12:00, and 16:00 the next day is in
    # the eleventh; the last holds the current time.
    assert series.buckets[0].start == T0 - timedelta(hours=1)
    assert len(series.buckets) == 25
    assert [b.confirmed for b in series.buckets].index(1) == 10
    assert series.buckets[-1].total == 1


@pytest.mark.parametrize(
    ("span", "unit"),
    [
        (timedelta(0), "minute"),
        (timedelta(minutes=47), "minute"),
        (timedelta(hours=3), "5 minutes"),
        (timedelta(hours=10), "15 minutes"),
        (timedelta(days=1), "hour"),
        (timedelta(days=30), "day"),
        (timedelta(days=3000), "4 weeks"),
    ],
)
def test_bucket_width_keeps_the_chart_to_about_48_buckets(span, unit):
    assert dashboard_stats.choose_width(span)[1] == unit


def test_the_chart_draws_every_bucket_and_the_threshold(app, client):
    add_members(app, *[(f"M{n}", f"m{n}@example.org") for n in range(3)])
    open_petition(app, "vote", threshold=40)
    for n in range(3):
        confirm(client, app, f"M{n}")
    series = figures(app).series
    chart = dashboard_chart.build(series, 40)
    points = [tuple(map(float, p.split(","))) for p in chart.line.split()]
    assert len(points) == len(series.buckets) + 1
    assert all(chart.left <= x <= chart.right and chart.top <= y <= chart.bottom for x, y in points)
    assert points[-1][1] < points[0][1]  # the line rises
    assert chart.top <= chart.threshold_y < points[-1][1]
    assert next(t.label for t in chart.y_ticks) == "0"
    assert int(chart.y_ticks[-1].label.replace(",", "")) >= 40
    assert "3 signatures counted" in chart.summary
    assert "The threshold is 40." in chart.summary
    assert dashboard_chart.build(dashboard_stats.Series(60, "minute", []), 40).empty


@pytest.mark.parametrize(
    ("highest", "labels"),
    [
        (0, [0, 1]),
        (1, [0, 1]),
        (3, [0, 1, 2, 3]),
        (25, [0, 10, 20, 30]),
        (32, [0, 10, 20, 30, 40]),
        (40, [0, 10, 20, 30, 40]),
        (4200, [0, 2000, 4000, 6000]),
        (1_000_000, [0, 500_000, 1_000_000]),
    ],
)
def test_the_count_axis_has_round_steps_up_to_the_highest_value(highest, labels):
    assert dashboard_chart.count_axis(highest) == labels


# --- the pages ------------------------------------------------------------------------------


def test_the_dashboard_page_shows_the_figures_without_javascript(arranged, client):
    sign_in(arranged, client)
    response = client.get("/organiser/p/vote")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    assert "2 of 10 signatures needed (20%)" in text
    assert "Confirmation links sent 3" in text
    assert "Links confirmed 1" in text
    assert "Not on the roll 1" in text
    assert "On the roll, but lapsed or suspended 1" in text
    assert "Link sent, expired without being confirmed (links last 72 hours) 1" in text
    assert "North 1 50.0%" in text
    assert "All of these 8" in text
    assert 'role="img"' in page
    assert '<desc id="chart-desc-wide">' in page
    assert '<desc id="chart-desc-narrow">' in page
    assert "live_count.js" in page
    assert "dashboard.js" in page
    assert 'data-live-count="/api/v1/petitions/vote/count"' in page
    assert 'aria-live="polite"' in page
    assert "No webhook yet" in text


def test_a_draft_has_a_dashboard_without_a_live_count(app, client):
    from petitions.lifecycle import rules

    with Session(flask_db.engine_of(app)) as session:
        rules.create_petition(session, slug="later", title="Later", threshold_percent=10)
        session.commit()
    sign_in(app, client, "s@example.org", "scrutineer")
    response = client.get("/organiser/p/later")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "data-live-count" not in page
    assert "10% of the members active then" in page
    assert client.get("/organiser/p/later/live.json").get_json()["count"] == 0


def test_unknown_petitions_are_404(app, client):
    sign_in(app, client)
    assert client.get("/organiser/p/nope").status_code == 404
    answer = client.get("/organiser/p/nope/live.json")
    assert answer.status_code == 404
    assert answer.get_json()["error"] == "not_found"


def test_live_json_carries_the_figures_and_each_sections_html(arranged, client):
    sign_in(arranged, client)
    answer = client.get("/organiser/p/vote/live.json")
    assert answer.headers["Cache-Control"] == "private, no-store"
    data = answer.get_json()
    assert data["count"] == 2
    assert data["threshold"] == 10
    assert data["state"] == "open"
    assert data["figures"]["funnel"]["links_sent"] == 3
    assert set(data["sections"]) == {
        "chart",
        "regions",
        "funnel",
        "reasons",
        "threshold",
        "webhooks",
        "mail",
    }
    assert data["figures"]["mail"]["petition"]["waiting"] == 0
    assert data["figures"]["mail"]["overall"]["delay_seconds"] < 120  # one request waits
    assert "North" in data["sections"]["regions"]["html"]
    page = client.get("/organiser/p/vote").get_data(as_text=True)
    for name, section in data["sections"].items():
        assert f'data-section="{name}" data-digest="{section["digest"]}"' in page


def test_live_json_follows_a_confirmation_within_the_cache_age(app, client):
    configure(app, dashboard_ttl=0.3)
    add_members(app, ("M1", "m1@example.org", "active", "West"))
    open_petition(app, "vote", threshold=5)
    sign_in(app, client)
    before = client.get("/organiser/p/vote/live.json").get_json()
    assert before["count"] == 0
    confirm(client, app, "M1")
    # The cache keeps a slow load longer (its cost factor), so on a loaded machine the new
    # figures take longer than the age: wait for them, within a bound.
    deadline = time.monotonic() + max(live.COUNT_TTL, 0.3) + 10
    while True:
        after = client.get("/organiser/p/vote/live.json").get_json()
        if (after["count"] and after["figures"]["regions"]) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert after["count"] == 1
    assert after["figures"]["regions"] == [{"region": "West", "count": 1, "percent": 100.0}]
    assert after["sections"]["regions"]["digest"] != before["sections"]["regions"]["digest"]
    assert after["sections"]["webhooks"]["digest"] == before["sections"]["webhooks"]["digest"]


def test_figures_are_computed_once_per_cache_age_however_many_viewers(app, client, monkeypatch):
    open_petition(app, "vote")
    sign_in(app, client)
    calls = []
    real = dashboard_stats.dashboard
    monkeypatch.setattr(
        dashboard_stats, "dashboard", lambda *args, **kw: calls.append(1) or real(*args, **kw)
    )
    for _ in range(10):
        assert client.get("/organiser/p/vote/live.json").status_code == 200
    assert len(calls) == 1


# --- the webhook and retrying it --------------------------------------------------------------


def crossed(app, client, threshold: int = 2) -> None:
    add_members(app, *[(f"M{n}", f"m{n}@example.org") for n in range(threshold)])
    open_petition(app, "vote", threshold=threshold)
    for n in range(threshold):
        confirm(client, app, f"M{n}")


def the_delivery(app) -> WebhookDelivery:
    with Session(flask_db.engine_of(app), expire_on_commit=False) as session:
        return session.scalars(select(WebhookDelivery)).one()


def test_retry_now_makes_a_failed_delivery_due_and_the_worker_delivers_it(app, client, worker):
    with Receiver(SECRET, answers=[Answer(500, "down")]) as ballot:
        configure(app, ballot_webhook_url=ballot.url)
        crossed(app, client)
        worker.run_pending()
        failed = the_delivery(app)
        assert failed.done_at is None
        assert failed.next_attempt_at > utcnow()
        assert worker.run_pending() == 0  # not due: it waits for its backoff

        sign_in(app, client)
        page = client.get("/organiser/p/vote").get_data(as_text=True)
        assert "Not delivered yet" in page
        assert "HTTP 500: HTTP 500" not in page
        assert "Retry now" in page
        response = client.post(f"/organiser/p/vote/webhooks/{failed.id}/retry")
        assert response.status_code == 302
        assert response.headers["Location"] == "/organiser/p/vote#webhooks"
        due = the_delivery(app)
        assert due.next_attempt_at <= utcnow()
        assert due.leased_until is None
        assert due.webhook_id == failed.webhook_id

        assert worker.run_pending() >= 1
        assert len(ballot.received) == 2
        assert {r.webhook_id for r in ballot.received} == {failed.webhook_id}

    delivered = the_delivery(app)
    assert delivered.outcome == "delivered"
    with Session(flask_db.engine_of(app)) as session:
        tries = session.scalars(select(WebhookAttempt.status_code).order_by(WebhookAttempt.id))
        assert list(tries) == [500, 200]
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "webhook.retry"))
        [event] = list(events)
    assert event.actor == "organiser@example.org"
    assert failed.webhook_id in event.detail
    page = client.get("/organiser/p/vote").get_data(as_text=True)
    assert f"Webhook {failed.webhook_id} will be tried again within a few seconds." in page
    assert "Delivered" in page
    assert "HTTP 500" in page
    assert "HTTP 200" in page
    assert "Retry now" not in page


def test_a_delivered_webhook_is_not_retried(app, client, worker):
    with Receiver(SECRET) as ballot:
        configure(app, ballot_webhook_url=ballot.url)
        crossed(app, client)
        worker.run_pending()
        sign_in(app, client)
        delivery = the_delivery(app)
        response = client.post(f"/organiser/p/vote/webhooks/{delivery.id}/retry")
        assert response.status_code == 302
        page = client.get(response.headers["Location"]).get_data(as_text=True)
        assert "Not retried: webhook" in page
        assert "is delivered already" in page
        assert worker.run_pending() == 0
        assert len(ballot.received) == 1


def test_retrying_another_petitions_or_no_delivery_changes_nothing(app, client):
    open_petition(app, "vote")
    sign_in(app, client)
    response = client.post("/organiser/p/vote/webhooks/99/retry")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Not retried: this petition has no webhook delivery 99" in page
    assert client.post("/organiser/p/nope/webhooks/1/retry").status_code == 404


def test_scrutineers_see_the_webhooks_but_may_not_retry(app, client, worker):
    with Receiver(SECRET, answers=[Answer(500, "down")]) as ballot:
        configure(app, ballot_webhook_url=ballot.url)
        crossed(app, client)
        worker.run_pending()
    sign_in(app, client, "s@example.org", "scrutineer")
    page = client.get("/organiser/p/vote").get_data(as_text=True)
    assert "Not delivered yet" in page
    assert "Retry now" not in page
    delivery = the_delivery(app)
    assert client.post(f"/organiser/p/vote/webhooks/{delivery.id}/retry").status_code == 403


def test_the_threshold_event_is_shown_with_the_crossing_signature(app, client):
    crossed(app, client, threshold=3)
    threshold = figures(app).threshold
    assert threshold.count == 3
    assert threshold.threshold == 3
    assert threshold.signature_number == 3
    assert threshold.reached_at == petition(app).reached_at
    sign_in(app, client)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", client.get("/organiser/p/vote").text))
    assert "Crossed by signature number 3" in text
    assert "Threshold reached: vote triggered" in text
