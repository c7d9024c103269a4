"""The mail backlog (petitions.outbox.backlog): what waits, how fast mail goes out, and the
delay a link asked for now would have, against mail rows arranged in time. The estimate must
be long when mail backs up or stops, and stay short for a handful of new mails, for one mail
that keeps failing, and for a quiet moment."""

from datetime import datetime, timedelta

from sqlalchemy import event
from sqlmodel import Session

from petitions.db import flask_db
from petitions.db.engine import utcnow
from petitions.db.models import Mail, SignRequest
from petitions.outbox import backlog
from petitions.outbox.mail import FAILED
from tests.helpers import open_petition, petition

NOW = datetime.fromisoformat("2026-12-04T12:00:00+00:00")


def add_mail(
    app,
    count: int = 1,
    *,
    written: float,
    sent: float | None = None,
    attempts: int = 0,
    retry_in: float | None = None,
    failed: bool = False,
    petition_id: int | None = None,
    now: datetime = NOW,
) -> None:
    """Add ``count`` mails written ``written`` seconds before ``now``: sent ``sent`` seconds
    before it (or marked failed then), or waiting; a waiting mail with ``retry_in`` failed its
    last try and is due again that many seconds after ``now``."""
    at = now - timedelta(seconds=written)
    with Session(flask_db.engine_of(app)) as session:
        for _ in range(count):
            session.add(
                Mail(
                    to_address="member@example.org",
                    subject="Confirm your signature",
                    text_body="text",
                    html_body="<p>html</p>",
                    purpose="confirm_link",
                    petition_id=petition_id,
                    created_at=at,
                    next_attempt_at=at if retry_in is None else now + timedelta(seconds=retry_in),
                    attempts=attempts or (1 if sent is not None or retry_in is not None else 0),
                    last_error="SMTPServerDisconnected: gone" if retry_in is not None else None,
                    done_at=None if sent is None else now - timedelta(seconds=sent),
                    transport=None if sent is None else FAILED if failed else "smtp",
                )
            )
        session.commit()


def add_requests(app, count: int, *, asked: float, now: datetime = NOW) -> None:
    """Add ``count`` requests to sign the petition "vote" made ``asked`` seconds before ``now``
    and not answered yet."""
    at = now - timedelta(seconds=asked)
    with Session(flask_db.engine_of(app)) as session:
        for number in range(count):
            session.add(
                SignRequest(
                    petition_id=petition(app).id,
                    email=f"m{number}@example.org",
                    email_key=f"m{number}@example.org",
                    created_at=at,
                    next_attempt_at=at,
                )
            )
        session.commit()


def measure(app, now: datetime = NOW) -> backlog.Backlog:
    with Session(flask_db.engine_of(app)) as session:
        return backlog.measure(session, now)


def test_no_mail_is_no_backlog(app):
    assert measure(app) == backlog.Backlog(
        queue=backlog.MailQueue(waiting=0, retrying=0, oldest_age=None, sent_last_minute=0),
        requests_due=0,
        delay_seconds=0,
    )


def test_a_few_new_mails_while_mail_keeps_up_are_no_delay(app):
    # Few mails were asked for lately, so few went out: that is demand, not what can be sent.
    add_mail(app, 2, written=300, sent=50)
    add_mail(app, 3, written=2)
    measured = measure(app)
    assert measured.queue == backlog.MailQueue(
        waiting=3, retrying=0, oldest_age=2, sent_last_minute=2
    )
    assert measured.delay_seconds == 2
    assert measured.slow_delay(120) is None


def test_a_backed_up_queue_drains_at_the_rate_mail_goes_out(app):
    # Mail has waited for three minutes, and one a second went out over the last minute: the
    # 600 waiting take ten minutes.
    add_mail(app, 60, written=200, sent=30)
    add_mail(app, 600, written=180)
    measured = measure(app)
    assert measured.queue.waiting == 600
    assert measured.queue.oldest_age == 180
    assert measured.queue.sent_last_minute == 60
    assert measured.delay_seconds == 600
    assert measured.slow_delay(120) == 600
    assert measured.sending


def test_the_rate_is_taken_over_the_time_mail_has_been_backed_up(app):
    # Quiet until 20 s ago (two mails went out in the minute), then 400 mails at once, 100 of
    # them out since: 5 a second, so the 300 left take a minute, not the three a rate taken
    # over the whole minute would say.
    add_mail(app, 2, written=50, sent=45)
    add_mail(app, 100, written=20, sent=10)
    add_mail(app, 300, written=20)
    assert measure(app).delay_seconds == 60


def test_no_mail_going_out_counts_from_the_oldest_waiting(app):
    add_mail(app, 5, written=600)
    measured = measure(app)
    assert measured.delay_seconds == 600
    assert measured.slow_delay(120) == 600
    assert not measured.sending


def test_requests_not_answered_yet_are_ahead_of_a_new_link(app):
    open_petition(app)
    add_requests(app, 40, asked=300)
    measured = measure(app)
    assert measured.requests_due == 40
    assert measured.queue.waiting == 0
    assert measured.delay_seconds == 300


def test_one_mail_that_keeps_failing_holds_up_nobody(app):
    add_mail(app, written=86400, attempts=12, retry_in=1800)
    add_mail(app, 30, written=40, sent=20)
    measured = measure(app)
    assert measured.queue == backlog.MailQueue(
        waiting=1, retrying=1, oldest_age=86400, sent_last_minute=30
    )
    assert measured.delay_seconds == 0


def test_one_mail_that_keeps_failing_in_a_quiet_hour_holds_up_nobody(app):
    add_mail(app, written=7200, sent=7000)
    add_mail(app, written=3600, attempts=8, retry_in=1800)
    assert measure(app).delay_seconds == 0


def test_a_mail_server_refusing_everything_counts_from_the_last_mail_sent(app):
    # The last mail went out 15 minutes ago; every mail since, even one written 10 s ago, has
    # failed. An old mail that failed before that is no measure of this.
    add_mail(app, written=86400, attempts=20, retry_in=3000)
    add_mail(app, written=1000, sent=900)
    add_mail(app, 50, written=600, attempts=6, retry_in=200)
    add_mail(app, written=10, attempts=1, retry_in=5)
    measured = measure(app)
    assert measured.queue.retrying == 52
    assert measured.delay_seconds == 600
    assert not measured.sending


def test_mail_marked_failed_is_not_waiting_nor_sent(app):
    add_mail(app, 3, written=30, sent=20, failed=True)
    assert measure(app).queue == backlog.MailQueue(
        waiting=0, retrying=0, oldest_age=None, sent_last_minute=0
    )


def test_a_petitions_own_queue_leaves_out_other_mail(app):
    open_petition(app, "vote")
    open_petition(app, "other")
    own, other = petition(app, "vote").id, petition(app, "other").id
    add_mail(app, 4, written=100, petition_id=own)
    add_mail(app, 2, written=50, sent=30, petition_id=own)
    add_mail(app, 7, written=300, petition_id=other)
    add_mail(app, written=400)  # a sign-in link: no petition's
    with Session(flask_db.engine_of(app)) as session:
        queue = backlog.mail_queue(session, own, NOW)
    assert queue == backlog.MailQueue(waiting=4, retrying=0, oldest_age=100, sent_last_minute=2)
    assert measure(app).queue == backlog.MailQueue(
        waiting=12, retrying=0, oldest_age=400, sent_last_minute=2
    )


def _plans(engine, statements: list[tuple[str, object]]) -> list[str]:
    """The query plan of each statement, as one line of text each."""
    plans = []
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            for statement, parameters in statements:
                rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
                plans.append(" | ".join(row[-1] for row in rows))
        else:
            # Tables this small are cheapest to scan whole: ask for the plan a big table gets.
            connection.exec_driver_sql("SET enable_seqscan = off")
            for statement, parameters in statements:
                rows = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
                plans.append(" | ".join(row[0] for row in rows))
    return plans


def test_every_query_reads_an_index_not_the_table(app):
    """What pages ask for on every view must not read every mail ever sent."""
    open_petition(app)
    add_requests(app, 2, asked=30)
    add_mail(app, 2, written=200, sent=100)
    add_mail(app, 3, written=30, attempts=2, retry_in=20)
    engine = flask_db.engine_of(app)
    statements = []

    def record(_connection, _cursor, statement, parameters, _context, _many):
        if statement.startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        measure(app)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    # Three, and the two of the check for a mail server refusing mail: none went out lately.
    assert len(statements) == 5
    plans = _plans(engine, statements)
    for statement, plan in zip(statements, plans, strict=True):
        assert "Seq Scan" not in plan, (statement[0], plan)
        assert not any(
            step.strip() in ("SCAN mail", "SCAN sign_request") for step in plan.split("|")
        ), (statement[0], plan)
    # The waiting mail (first, and last in the check) is read from its own index.
    assert "ix_mail_waiting" in plans[0]
    assert "ix_mail_waiting" in plans[-1]


def test_mail_written_now_is_measured_from_the_clock(app):
    add_mail(app, written=0, now=utcnow() - timedelta(minutes=10))
    with Session(flask_db.engine_of(app)) as session:
        measured = backlog.measure(session)
    assert 599 <= measured.delay_seconds <= 660
