"""Mail in batches over kept SMTP connections, and requests to sign answered in batches: one
connection for many messages, a dropped connection or a 4xx survived, a 5xx failing its one
message, and concurrent workers taking disjoint batches (SKIP LOCKED on PostgreSQL)."""

import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import event, select, update
from sqlmodel import Session

from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.engine import utcnow
from petitions.db.models import Mail, SignRequest
from petitions.jobs import dispatch, handlers
from petitions.outbox import mail, smtp, work
from tests.helpers import add_members, configure, open_petition, sent_mail
from tests.outbox.conftest import free_port

MEMBERS = 30


@pytest.fixture
def crowd(app):
    """MEMBERS members on the roll of an open petition."""
    add_members(app, *[(f"M{i}", f"m{i}@example.org") for i in range(MEMBERS)])
    open_petition(app, threshold=1000)


def ask(client, *addresses: str) -> None:
    for address in addresses:
        assert client.post("/p/vote/sign", data={"email": address}).status_code == 303


def addresses(count: int = MEMBERS) -> list[str]:
    return [f"m{i}@example.org" for i in range(count)]


def rows(app, model):
    with Session(flask_db.engine_of(app)) as session:
        return session.scalars(select(model).order_by(model.id)).all()


def test_a_crowd_of_mails_goes_over_one_connection(app, client, worker, smtp_server, crowd):
    inbox = smtp_server()
    configure(app, smtp_url=f"smtp://127.0.0.1:{inbox.port}", mail_batch_size=7)

    ask(client, *addresses())
    worker.run_pending()

    assert sorted(m["rcpt_tos"][0] for m in inbox.messages) == sorted(addresses())
    assert inbox.connections == 1
    sent = sent_mail(app)
    assert len(sent) == MEMBERS
    assert {(m.transport, m.attempts, m.last_error) for m in sent} == {("smtp", 1, None)}


def test_requests_to_sign_are_answered_many_to_a_commit(app, client, worker, crowd):
    # Room for one more: a batch that comes back short ends the job.
    configure(app, sign_request_batch_size=MEMBERS + 1)
    ask(client, *addresses())
    commits = []
    engine = flask_db.engine_of(app)

    def count_commit(_connection):
        commits.append(1)

    event.listen(engine, "commit", count_commit)
    try:
        first = work.WorkItem(work.WorkKind.SIGN_REQUEST, rows(app, SignRequest)[0].id, 0)
        assert handlers.perform(engine, settings_of(app), first)
    finally:
        event.remove(engine, "commit", count_commit)

    # One commit to claim the batch, one to answer all of it.
    assert len(commits) == 2
    assert {r.outcome for r in rows(app, SignRequest)} == {"confirm_link"}
    assert len(rows(app, Mail)) == MEMBERS


def test_a_dropped_connection_is_opened_again(app, client, worker, smtp_server, crowd):
    first = smtp_server()
    configure(app, smtp_url=f"smtp://127.0.0.1:{first.port}")
    ask(client, "m0@example.org")
    worker.run_pending()
    assert len(first.messages) == 1

    # The server goes away with the connection kept open to it, and comes back.
    first.stop()
    second = smtp_server(port=first.port)
    ask(client, "m1@example.org", "m2@example.org")
    worker.run_pending()

    assert sorted(m["rcpt_tos"][0] for m in second.messages) == ["m1@example.org", "m2@example.org"]
    assert second.connections == 1
    assert {(m.done_at is not None, m.attempts, m.last_error) for m in sent_mail(app)} == {
        (True, 1, None)
    }


def test_a_temporary_refusal_is_tried_again_on_a_fresh_connection(
    app, client, worker, smtp_server, crowd
):
    inbox = smtp_server()
    inbox.answers["m1@example.org"] = ["451 4.3.0 try again later"]
    configure(app, smtp_url=f"smtp://127.0.0.1:{inbox.port}")

    ask(client, *addresses(3))
    worker.run_pending()

    assert sorted(m["rcpt_tos"][0] for m in inbox.messages) == addresses(3)
    assert inbox.connections == 2
    assert {(m.transport, m.attempts) for m in sent_mail(app)} == {("smtp", 1)}


def test_a_permanent_refusal_fails_that_mail_only(app, client, worker, smtp_server, crowd):
    inbox = smtp_server()
    inbox.answers["m1@example.org"] = ["550 5.1.1 no such mailbox here"]
    configure(app, smtp_url=f"smtp://127.0.0.1:{inbox.port}")

    ask(client, *addresses(3))
    worker.run_pending()

    assert sorted(m["rcpt_tos"][0] for m in inbox.messages) == ["m0@example.org", "m2@example.org"]
    assert inbox.connections == 1
    outcomes = {m.to_address: (m.transport, m.last_error) for m in sent_mail(app)}
    assert outcomes["m0@example.org"] == ("smtp", None)
    assert outcomes["m2@example.org"] == ("smtp", None)
    assert outcomes["m1@example.org"] == (
        mail.FAILED,
        "refused by the mail server: 550 5.1.1 no such mailbox here",
    )
    assert worker.run_pending() == 0  # nothing tried again


def test_an_unreachable_server_puts_the_whole_batch_back(app, client, worker, crowd):
    configure(app, smtp_url=f"smtp://127.0.0.1:{free_port()}")
    ask(client, *addresses(5))
    worker.run_pending()

    waiting = sent_mail(app)
    assert len(waiting) == 5
    assert all(m.done_at is None and m.leased_until is None for m in waiting)
    assert all("ConnectionRefusedError" in m.last_error for m in waiting)
    assert all(m.next_attempt_at > utcnow() for m in waiting)


def test_a_request_that_cannot_be_answered_waits_without_the_others(
    app, client, worker, crowd, monkeypatch
):
    real = mail.compose

    def compose(purpose, to_address, *args, **kwargs):
        if to_address == "m1@example.org":
            raise RuntimeError("no template today")
        return real(purpose, to_address, *args, **kwargs)

    monkeypatch.setattr(mail, "compose", compose)
    ask(client, *addresses(3))
    worker.run_pending()

    answered = {r.email: (r.outcome, r.done_at is not None) for r in rows(app, SignRequest)}
    assert answered["m0@example.org"] == ("confirm_link", True)
    assert answered["m2@example.org"] == ("confirm_link", True)
    assert answered["m1@example.org"] == (None, False)
    (stuck,) = [r for r in rows(app, SignRequest) if r.email == "m1@example.org"]
    assert "no template today" in stuck.last_error
    assert sorted(m.to_address for m in rows(app, Mail)) == ["m0@example.org", "m2@example.org"]


def waiting_mails(app, count: int) -> list[int]:
    """Write ``count`` mails due now, and return their ids."""
    with Session(flask_db.engine_of(app)) as session, session.begin():
        session.add_all(
            Mail(
                to_address=f"m{i}@example.org",
                subject="s",
                text_body="t",
                html_body="h",
                purpose="confirm_link",
            )
            for i in range(count)
        )
    return [m.id for m in rows(app, Mail)]


class WorkerKilled(BaseException):
    """Stands for SIGKILL: nothing after it runs, no handler catches it."""


def test_a_worker_dying_mid_batch_sends_no_mail_twice(app, smtp_server, monkeypatch):
    inbox = smtp_server()
    configure(app, smtp_url=f"smtp://127.0.0.1:{inbox.port}")
    engine = flask_db.engine_of(app)
    ids = waiting_mails(app, 10)
    real_send = smtp.Connection.send
    sending = []

    def dies_before_the_fifth(connection, message):
        sending.append(message["To"])
        if len(sending) == 5:
            raise WorkerKilled
        real_send(connection, message)

    batch = work.claim_batch(engine, work.WorkKind.MAIL, ids[0], 10)
    with monkeypatch.context() as dying:
        dying.setattr(smtp.Connection, "send", dies_before_the_fifth)
        with pytest.raises(WorkerKilled):
            handlers.send_mails(engine, settings_of(app), batch)
    assert len(inbox.messages) == 4

    # The dead worker's lease runs out; another worker claims what is left and sends it.
    with Session(engine) as session, session.begin():
        session.execute(update(Mail).values(leased_until=utcnow() - timedelta(seconds=1)))
    again = work.claim_batch(engine, work.WorkKind.MAIL, ids[0], 10)
    assert again == ids[4:]
    assert handlers.send_mails(engine, settings_of(app), again) == {}

    received = Counter(m["rcpt_tos"][0] for m in inbox.messages)
    assert received == Counter(f"m{i}@example.org" for i in range(10))
    assert all(m.done_at is not None and m.transport == "smtp" for m in rows(app, Mail))


# Only the marks skip the wait for the disk: the pooled connection goes back as it came.
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_marking_mails_sent_leaves_commits_durable_for_the_next_user(app, smtp_server):
    inbox = smtp_server()
    configure(app, smtp_url=f"smtp://127.0.0.1:{inbox.port}")
    engine = flask_db.engine_of(app)
    engine.dispose()
    ids = waiting_mails(app, 3)
    handlers.send_mails(
        engine, settings_of(app), work.claim_batch(engine, work.WorkKind.MAIL, ids[0], 3)
    )
    assert len(inbox.messages) == 3
    assert engine.pool.checkedin() >= 1
    settings_seen = set()
    held = [engine.connect() for _ in range(engine.pool.checkedin())]
    try:
        for connection in held:
            settings_seen.add(connection.exec_driver_sql("SHOW synchronous_commit").scalar())
    finally:
        for connection in held:
            connection.close()
    assert settings_seen == {"on"}


def test_concurrent_claims_take_disjoint_batches(app):
    engine = flask_db.engine_of(app)
    ids = waiting_mails(app, 200)
    taken: list[list[int]] = []
    start = threading.Barrier(4)

    def claimer():
        start.wait()
        while batch := work.claim_batch(engine, work.WorkKind.MAIL, ids[0], 9):
            taken.append(batch)

    threads = [threading.Thread(target=claimer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    claimed = [row_id for batch in taken for row_id in batch]
    assert sorted(claimed) == ids  # every row once: no row in two batches
    assert max(len(batch) for batch in taken) <= 9
    assert {m.attempts for m in rows(app, Mail)} == {1}


# Rows locked by another transaction: PostgreSQL's SKIP LOCKED (SQLite has one writer).
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_claim_skips_rows_another_worker_is_claiming(app):
    engine = flask_db.engine_of(app)
    ids = waiting_mails(app, 6)
    batches = []
    with Session(engine) as holder, holder.begin():
        holder.execute(select(Mail.id).where(Mail.id.in_(ids[:3])).with_for_update())
        claimer = threading.Thread(
            target=lambda: batches.append(work.claim_batch(engine, work.WorkKind.MAIL, ids[0], 10))
        )
        claimer.start()
        # Waiting for the locked rows would wait for this transaction, which waits here.
        claimer.join(timeout=20)
        assert not claimer.is_alive(), "the claim waited for rows another worker holds"
    assert batches == [ids[3:]]


def test_one_job_drains_a_backlog_batch_after_batch(app, client, crowd):
    configure(app, sign_request_batch_size=7)
    ask(client, *addresses())
    engine = flask_db.engine_of(app)
    first = work.WorkItem(work.WorkKind.SIGN_REQUEST, rows(app, SignRequest)[0].id, 0)

    assert handlers.perform(engine, settings_of(app), first)

    assert all(r.done_at is not None for r in rows(app, SignRequest))
    assert len(rows(app, Mail)) == MEMBERS


def test_batched_work_gets_a_job_per_slot_of_time_not_per_row():
    mails = [work.WorkItem(work.WorkKind.MAIL, row_id, 0) for row_id in (1, 2, 3)]
    slot = dispatch.BATCH_SLOT_SECONDS
    now = 1_000_000 * slot
    assert {dispatch.job_id_of(item, now) for item in mails} == {"mail-batch-1000000"}
    assert dispatch.job_id_of(mails[0], now + slot) == "mail-batch-1000001"
    webhook = work.WorkItem(work.WorkKind.WEBHOOK, 7, 2)
    assert dispatch.job_id_of(webhook, now) == "webhook-7-2"


@pytest.mark.redis
def test_the_webhook_goes_to_the_front_of_a_backlog(redis_url):
    dispatcher = dispatch.RQDispatcher(redis_url)
    for row_id in range(3):
        dispatcher.submit(work.WorkItem(work.WorkKind.INVITATION_RUN, row_id, 0))
    dispatcher.submit(work.WorkItem(work.WorkKind.WEBHOOK, 9, 0))

    assert dispatcher.queue.job_ids[0] == "webhook-9-0"
    assert len(dispatcher.queue.job_ids) == 4


@pytest.mark.redis
def test_rows_of_a_kind_in_one_slot_look_at_redis_once_and_a_rows_try_every_time(
    redis_url, monkeypatch
):
    slot = dispatch.BATCH_SLOT_SECONDS
    clock = [1_000_000 * slot + 0.01]
    monkeypatch.setattr(dispatch.time, "time", lambda: clock[0])
    fetch = dispatch.Job.fetch
    looked = []

    def counted_fetch(job_id, connection):
        looked.append(job_id)
        return fetch(job_id, connection=connection)

    monkeypatch.setattr(dispatch.Job, "fetch", counted_fetch)
    dispatcher = dispatch.RQDispatcher(redis_url)

    for row_id in (1, 2, 3):
        dispatcher.submit(work.WorkItem(work.WorkKind.MAIL, row_id, 0))
    dispatcher.submit(work.WorkItem(work.WorkKind.SIGN_REQUEST, 4, 0))
    for _ in range(2):
        dispatcher.submit(work.WorkItem(work.WorkKind.WEBHOOK, 5, 0))
    clock[0] += slot
    dispatcher.submit(work.WorkItem(work.WorkKind.MAIL, 6, 0))

    assert looked == [
        "mail-batch-1000000",
        "sign_request-batch-1000000",
        "webhook-5-0",
        "webhook-5-0",
        "mail-batch-1000001",
    ]
    assert sorted(dispatcher.queue.job_ids) == [
        "mail-batch-1000000",
        "mail-batch-1000001",
        "sign_request-batch-1000000",
        "webhook-5-0",
    ]


def test_a_batch_job_waits_out_its_slot_and_a_late_one_or_a_rows_job_does_not(monkeypatch):
    slot = dispatch.BATCH_SLOT_SECONDS
    slept = []
    monkeypatch.setattr(dispatch.time, "sleep", slept.append)
    monkeypatch.setattr(dispatch.time, "time", lambda: 1_000_000 * slot + 0.1)

    # Started 0.1 s into its slot: it waits for the rest, gathering the slot's later rows.
    assert dispatch.wait_for_slot("mail-batch-1000000") == pytest.approx(slot - 0.1)
    # Started after its slot ended (a busy worker), and a job for one row's try: no wait.
    assert dispatch.wait_for_slot("sign_request-batch-999999") == 0
    assert dispatch.wait_for_slot("webhook-7-2") == 0
    assert slept == [pytest.approx(slot - 0.1)]
    assert dispatch.batch_slot_end("mail-batch-1000000") == pytest.approx(1_000_001 * slot)
