"""Anomaly signals on arranged data: bursts, late surges and floods from one network are found
with their evidence; steady, small or empty petitions give none; computing them writes nothing."""

import random
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, insert, select, update
from sqlmodel import Session

from petitions.db import flask_db
from petitions.db.models import Member, Petition, Signature, SignRequest
from petitions.signatures import anomalies
from tests.helpers import open_petition

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def arrange(app, times, *, opened_at=T0, closes_at=None, requests=(), members=None):
    """Petition "vote" with a signature confirmed at each of ``times`` (numbered in time order)
    and sign requests given as (network, created_at, outcome, member index or None)."""
    open_petition(app, threshold=1_000_000)
    count = max(len(times), members or 0, *(r[3] + 1 for r in requests if r[3] is not None), 0)
    engine = flask_db.engine_of(app)
    with Session(engine) as session:
        if count:
            session.execute(
                insert(Member),
                [
                    {"number": f"A{i}", "email": f"a{i}@example.org"}
                    | {"email_key": f"a{i}@example.org", "status": "active"}
                    for i in range(count)
                ],
            )
        ids = session.scalars(select(Member.id).order_by(Member.id)).all()
        petition = session.scalars(select(Petition)).one()
        ordered = sorted(times)
        if ordered:
            session.execute(
                insert(Signature),
                [
                    {
                        "petition_id": petition.id,
                        "member_id": ids[i],
                        "number": i + 1,
                        "nonce": f"n{i}",
                        "confirmed_at": moment,
                    }
                    for i, moment in enumerate(ordered)
                ],
            )
        if requests:
            session.execute(
                insert(SignRequest),
                [
                    {
                        "petition_id": petition.id,
                        "email": f"a{member}@example.org" if member is not None else f"x{i}@e.org",
                        "email_key": f"a{member}@example.org"
                        if member is not None
                        else f"x{i}@e.org",
                        "network": network,
                        "created_at": at,
                        "next_attempt_at": at,
                        "done_at": at,
                        "outcome": outcome,
                    }
                    for i, (network, at, outcome, member) in enumerate(requests)
                ],
            )
        session.execute(
            update(Petition).values(
                opened_at=opened_at,
                closes_at=closes_at,
                signature_count=len(ordered),
                last_number=len(ordered),
            )
        )
        session.commit()


def found(app, now):
    with Session(flask_db.engine_of(app)) as session:
        petition = session.scalars(select(Petition)).one()
        return anomalies.signals(session, petition, now)


def steady(start, count_minutes, per_minute=2):
    """``per_minute`` confirmations in each minute, spread over it."""
    return [
        start + minutes(m) + timedelta(seconds=(k + 0.5) * 60 / per_minute)
        for m in range(count_minutes)
        for k in range(per_minute)
    ]


def test_a_burst_is_found_with_its_window_and_evidence(app):
    burst = [T0 + minutes(90) + timedelta(seconds=s, microseconds=250_000) for s in range(60)]
    arrange(app, steady(T0, 120) + burst)
    signals = found(app, T0 + minutes(200))
    assert [s.kind for s in signals] == ["burst"]
    signal = signals[0]
    assert signal.when == T0 + minutes(90)
    assert signal.until == T0 + minutes(91)
    # 180 signatures came before the window; the window holds the burst and its two steady ones.
    assert (signal.first_number, signal.last_number) == (181, 242)
    evidence = signal.evidence
    assert evidence["confirmations"] == 62 == evidence["peak_per_minute"]
    assert evidence["still_counted"] == 62
    assert evidence["minutes"] == 1
    assert evidence["baseline_per_minute"] == 2
    assert evidence["threshold_per_minute"] == anomalies.BURST_FLOOR
    assert dict(signal.buckets)[T0 + minutes(90)] == 62
    assert dict(signal.buckets)[T0 + minutes(89)] == 2
    assert len(signal.buckets) == 1 + 2 * anomalies.BURST_CONTEXT_MINUTES
    assert "62 confirmations in 1 minute" in signal.summary


def test_busy_minutes_close_together_make_one_burst(app):
    burst = [T0 + minutes(60 + m) + timedelta(seconds=2 * s) for m in (0, 1, 3) for s in range(30)]
    arrange(app, steady(T0, 120) + burst)
    (signal,) = found(app, T0 + minutes(200))
    assert (signal.when, signal.until) == (T0 + minutes(60), T0 + minutes(64))
    assert signal.evidence["minutes"] == 4
    assert signal.evidence["confirmations"] == 3 * 32 + 2


def test_the_bar_rises_with_the_usual_rate(app):
    # 25 a minute against a usual 5: busy, but not ten times the usual rate.
    extra = [T0 + minutes(100) + timedelta(seconds=3 * s) for s in range(20)]
    arrange(app, steady(T0, 180, per_minute=5) + extra)
    assert found(app, T0 + minutes(200)) == []


def test_a_busy_opening_is_no_burst(app):
    # From the first minute on, 24 a minute: there was no earlier rate for it to stand out from.
    arrange(app, steady(T0, 60, per_minute=24))
    assert found(app, T0 + minutes(90)) == []


def test_a_steady_rate_gives_no_signal(app):
    rng = random.Random(7)
    times = [
        T0 + minutes(m) + timedelta(seconds=rng.uniform(0, 59.9))
        for m in range(240)
        for _ in range(rng.randint(3, 8))
    ]
    arrange(app, times)
    assert found(app, T0 + minutes(300)) == []


def test_a_late_surge_before_closing_is_found(app):
    closes = T0 + timedelta(hours=48)
    earlier = [T0 + minutes(30 * k + 1) for k in range(84)]  # 2 an hour for 42 hours
    late = [T0 + timedelta(hours=42) + minutes(6 * k + 1) for k in range(40)]  # 10 an hour
    arrange(app, earlier + late, closes_at=closes)
    now = T0 + timedelta(hours=46)
    (signal,) = found(app, now)
    assert signal.kind == "late_surge"
    assert (signal.when, signal.until) == (closes - timedelta(hours=6), now)
    assert (signal.first_number, signal.last_number) == (85, 124)
    evidence = signal.evidence
    assert evidence["confirmations"] == 40
    assert evidence["late_rate_per_hour"] == 10
    assert evidence["earlier_confirmations"] == 84
    assert evidence["earlier_rate_per_hour"] == 2
    assert evidence["closes_at"] == closes
    assert signal.bucket_seconds == 3600
    assert [count for _, count in signal.buckets] == [10, 10, 10, 10]


def test_a_final_push_at_a_usual_pace_is_no_surge(app):
    closes = T0 + timedelta(hours=48)
    earlier = [T0 + minutes(30 * k + 1) for k in range(84)]
    late = [T0 + timedelta(hours=42) + minutes(12 * k + 1) for k in range(30)]  # 5 an hour
    arrange(app, earlier + late, closes_at=closes)
    assert found(app, closes + timedelta(hours=1)) == []


def test_no_late_surge_before_the_last_hours_or_without_a_closing_time(app):
    closes = T0 + timedelta(hours=48)
    late = [T0 + timedelta(hours=42) + minutes(k + 1) for k in range(40)]
    arrange(app, late, closes_at=None)
    assert found(app, closes) == []
    with Session(flask_db.engine_of(app)) as session:
        session.execute(update(Petition).values(closes_at=closes))
        session.commit()
    assert [s.kind for s in found(app, closes)] == ["late_surge"]
    assert found(app, T0 + timedelta(hours=41)) == []


FLOOD = "198.51.100.0/24"


def test_a_flood_from_one_network_is_found_with_its_evidence(app):
    flood = [
        (
            FLOOD,
            T0 + timedelta(seconds=40 * i),
            "confirm_link" if i < 25 else "not_in_good_standing",
            i,
        )
        for i in range(30)
    ]
    others = [(f"10.{i}.0.0/24", T0 + minutes(7 * i), "confirm_link", None) for i in range(30)]
    unknown = [("unknown", T0 + timedelta(seconds=i), None, None) for i in range(30)]
    # Ten of the members whose addresses were given from the flooding network signed.
    signed = [T0 + minutes(30 + i) for i in range(10)]
    arrange(app, signed, requests=flood + others + unknown)
    (signal,) = found(app, T0 + timedelta(hours=5))
    assert signal.kind == "network"
    assert signal.network == FLOOD
    assert signal.when == T0
    assert signal.until == T0 + timedelta(hours=1)
    evidence = signal.evidence
    assert evidence["requests"] == 30
    assert evidence["all_requests"] == 90
    assert evidence["addresses"] == 30
    assert evidence["busiest_hour_requests"] == 30
    assert evidence["share_percent"] == 33.3
    assert evidence["outcomes"] == {"confirm_link": 25, "not_in_good_standing": 5}
    assert evidence["signatures"] == 10 == evidence["still_counted"]
    assert (signal.first_number, signal.last_number) == (1, 10)
    assert FLOOD in signal.summary


def test_a_large_share_from_one_network_is_found_even_when_slow(app):
    slow = [(FLOOD, T0 + timedelta(hours=3 * i), "confirm_link", None) for i in range(25)]
    others = [(f"10.{i}.0.0/24", T0 + minutes(7 * i), "confirm_link", None) for i in range(35)]
    arrange(app, [], requests=slow + others)
    (signal,) = found(app, T0 + timedelta(days=5))
    assert signal.network == FLOOD
    assert signal.evidence["busiest_hour_requests"] == 1
    assert signal.evidence["share_percent"] == pytest.approx(41.7)


def test_a_busy_office_among_many_requests_is_no_flood(app):
    office = [(FLOOD, T0 + minutes(3 * i), "confirm_link", None) for i in range(15)]
    others = [(f"10.{i % 250}.{i // 250}.0/24", T0 + minutes(i), None, None) for i in range(200)]
    arrange(app, [], requests=office + others)
    assert found(app, T0 + timedelta(days=1)) == []


def notice_signals(app, now, level):
    with Session(flask_db.engine_of(app)) as session:
        petition = session.scalars(select(Petition)).one()
        return anomalies.signals(session, petition, now, anomalies.NetworkNotice.of(level))


def test_a_network_past_the_notice_level_is_found_whatever_the_level(app):
    # 45 requests within ten minutes, among 200 from elsewhere: a small share, a busy window.
    office = [(FLOOD, T0 + timedelta(seconds=13 * i), "confirm_link", None) for i in range(45)]
    others = [(f"10.{i % 250}.{i // 250}.0/24", T0 + minutes(i), None, None) for i in range(200)]
    arrange(app, [], requests=office + others)
    later = T0 + timedelta(days=1)
    assert found(app, later) == []  # the default level: 60 within an hour
    assert notice_signals(app, later, "46 per hour") == []
    (signal,) = notice_signals(app, later, "45 per hour")
    assert signal.network == FLOOD
    assert signal.evidence["window_requests"] == 45
    assert signal.evidence["busiest_hour_requests"] == 45
    (short,) = notice_signals(app, later, "40 per 10 minutes")
    assert short.until - short.when == minutes(10)
    assert short.evidence["notice_window"] == "10 minutes"
    assert "within 10 minutes" in short.summary
    # A day's window spans many clock hours: the level is still found.
    (daily,) = notice_signals(app, later, "45 per day")
    assert daily.evidence["busiest_hour_requests"] == 45


def test_nothing_fires_on_an_empty_or_tiny_petition(app):
    arrange(app, [])
    assert found(app, T0 + timedelta(days=1)) == []
    with Session(flask_db.engine_of(app)) as session:
        session.execute(update(Petition).values(closes_at=T0 + timedelta(hours=1)))
        session.commit()
    assert found(app, T0 + timedelta(hours=2)) == []


def test_nothing_fires_on_a_tiny_petition(app):
    times = [T0 + timedelta(seconds=s) for s in range(5)]
    requests = [(FLOOD, T0 + timedelta(seconds=s), "confirm_link", s) for s in range(5)]
    arrange(app, times, requests=requests, closes_at=T0 + timedelta(hours=1))
    assert found(app, T0 + timedelta(minutes=30)) == []


WRITES = re.compile(r"^\s*(INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|TRUNCATE)\b", re.IGNORECASE)


def test_computing_signals_writes_nothing(app):
    earlier = [T0 + minutes(30 * k + 1) for k in range(14)]
    burst = [T0 + timedelta(hours=8, seconds=s) for s in range(60)]
    flood = [(FLOOD, T0 + timedelta(seconds=30 * i), "confirm_link", i) for i in range(30)]
    closes = T0 + timedelta(hours=13)
    arrange(app, earlier + burst, requests=flood, closes_at=closes)
    engine = flask_db.engine_of(app)
    statements: list[str] = []

    def seen(_conn, _cursor, statement, _params, _context, _many):
        statements.append(statement)

    def snapshot():
        with Session(engine) as session:
            return (
                session.execute(
                    select(Petition.signature_count, Petition.state, Petition.log_size)
                ).one(),
                session.scalar(select(func.count()).select_from(Signature)),
                session.scalar(
                    select(func.count())
                    .select_from(Signature)
                    .where(Signature.invalidated_at.is_not(None))
                ),
                session.scalar(select(func.count()).select_from(SignRequest)),
            )

    before = snapshot()
    event.listen(engine, "before_cursor_execute", seen)
    try:
        with Session(engine) as session:
            petition = session.scalars(select(Petition)).one()
            signals = anomalies.signals(session, petition, T0 + timedelta(hours=9))
            assert not session.new
            assert not session.dirty
            assert not session.deleted
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert {s.kind for s in signals} == {"burst", "late_surge", "network"}
    assert statements
    assert [s for s in statements if WRITES.match(s)] == []
    assert snapshot() == before
