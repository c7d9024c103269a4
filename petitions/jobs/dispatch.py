"""Getting outbox work to a worker: right after the commit that wrote it (the fast path), and
again from the relay for whatever is due and not done (the slow path, which survives Redis being
down, a crash between commit and enqueue, and a worker killed mid-job)."""

import logging
import threading
import time
from datetime import timedelta

import redis
from flask import Flask, current_app, has_app_context
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import event
from sqlalchemy.orm import Session
from sqlmodel import Session as DbSession

from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.engine import utcnow
from petitions.db.models import Work
from petitions.jobs import handlers, nightly
from petitions.lifecycle import rules
from petitions.outbox import work
from petitions.signatures import sequencer
from petitions.transparency import store

QUEUE = "petitions"
RELAY_INTERVAL = 1.0
_EXTENSION = "petitions.dispatcher"
_WAITING = (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED)
log = logging.getLogger(__name__)


def lease(app: Flask) -> timedelta:
    """How long a try may hold its row before another worker may take it over."""
    return timedelta(seconds=settings_of(app).work_lease_seconds)


# Work done in batches gets at most one job per kind in each slot of this many seconds: each
# job takes every due row of its kind (up to a batch), so a job per row would mostly find its
# row gone and only slow the queue, and everything behind it, on a surge day.
BATCH_SLOT_SECONDS = 0.25
# Kinds whose job goes to the front of the queue: the threshold webhook must not wait behind a
# backlog of mail.
URGENT = frozenset({work.WorkKind.WEBHOOK})


def job_id_of(item: work.WorkItem, now: float | None = None) -> str:
    """The rq job id for ``item``: one per try of its row, or, for work done in batches, one per
    kind and slot of time."""
    if item.kind in handlers.BATCH_HANDLERS:
        slot = int((time.time() if now is None else now) / BATCH_SLOT_SECONDS)
        return f"{item.kind}-batch-{slot}"
    return item.job_id


def batch_slot_end(job_id: str) -> float | None:
    """When the slot of time that a batch job's id names (see job_id_of) ends, as time.time()
    reads; None for the job of one row's try."""
    _kind, batch, slot = job_id.rpartition("-batch-")
    if not batch or not slot.isdigit():
        return None
    return (int(slot) + 1) * BATCH_SLOT_SECONDS


def wait_for_slot(job_id: str) -> float:
    """Before a batch job claims its rows: if its slot is still open, wait for it to end, and
    return how long that was.

    An idle worker starts a slot's job the moment its first row is committed. Were it to claim
    then, every later row of the slot would find that job finished and enqueue another, so at a
    light load each request would be a batch of one, whose claim and commit cost more than its
    work (README, "Jobs and the outbox"). Waiting out the slot (at most BATCH_SLOT_SECONDS)
    gathers the slot's rows into one batch; a busy worker starts the job after its slot has
    ended and does not wait at all.
    """
    end = batch_slot_end(job_id)
    if end is None:
        return 0.0
    wait = min(end - time.time(), BATCH_SLOT_SECONDS)
    if wait <= 0:
        return 0.0
    time.sleep(wait)
    return wait


class RQDispatcher:
    """Sends work to the rq queue, one job per try of a row (the job id says which), or per
    slot of time for the kinds done in batches."""

    def __init__(self, redis_url: str):
        self.connection = redis.Redis.from_url(
            redis_url, socket_connect_timeout=2, socket_timeout=5
        )
        self.queue = Queue(QUEUE, connection=self.connection)
        # The batch job this process last saw waiting or enqueued, by kind. Another row of the
        # same kind in the same slot needs no round trip to Redis: that job cannot have claimed
        # yet, since it waits out its slot (wait_for_slot); were it lost meanwhile, the relay
        # offers the row again within a second, in a later slot.
        self._batch_jobs: dict[work.WorkKind, str] = {}

    def submit(self, item: work.WorkItem) -> None:
        """Enqueue ``item`` unless the same try is already waiting; never raise on Redis."""
        job_id = job_id_of(item)
        batched = item.kind in handlers.BATCH_HANDLERS
        if batched and self._batch_jobs.get(item.kind) == job_id:
            return
        try:
            if not self._waiting(job_id):
                self.queue.enqueue(
                    "workers.jobs.run",
                    # A plain string: rq pickles the arguments, and a string unpickles in any
                    # version of the worker.
                    str(item.kind),
                    item.row_id,
                    item.attempts,
                    job_id=job_id,
                    result_ttl=3600,
                    failure_ttl=7 * 86400,
                    at_front=item.kind in URGENT,
                )
        except redis.RedisError as exc:
            log.warning("could not enqueue %s (%s); the relay will offer it again", job_id, exc)
            return
        if batched:
            self._batch_jobs[item.kind] = job_id

    def _waiting(self, job_id: str) -> bool:
        """Whether the job ``job_id`` is in Redis and will still run."""
        try:
            status = Job.fetch(job_id, connection=self.connection).get_status()
        except NoSuchJobError:
            return False
        # A job that says it is queued but is in no queue (its list was lost) never runs.
        lost = status == JobStatus.QUEUED and self.queue.get_job_position(job_id) is None
        return status in _WAITING and not lost


class InProcessWorker:
    """Without Redis: a thread of the web process that does the same work, with the same
    claims, leases and retries, finding it in the database as the relay does."""

    def __init__(self, app: Flask, thread: bool = True):
        self.app = app
        self.thread_wanted = thread
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, _item: work.WorkItem) -> None:
        """Wake the worker: the work is in the database already."""
        self.start()
        self._wake.set()

    def start(self) -> None:
        """Start the worker thread, once."""
        if not self.thread_wanted or self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="petitions-worker", daemon=True
                )
                self._thread.start()

    def run_pending(self, rounds: int = 20) -> int:
        """Do everything that is due now, including work that this work creates."""
        done = 0
        with self.app.app_context():
            engine = flask_db.engine_of(self.app)
            for _ in range(rounds):
                items = list(work.due(engine))
                if not items:
                    break
                for item in items:
                    done += handlers.perform(engine, settings_of(self.app), item, lease(self.app))
        return done

    def _loop(self) -> None:
        while True:
            self._wake.wait(RELAY_INTERVAL)
            self._wake.clear()
            try:
                self.run_pending()
                housekeeping(self.app)
            except Exception:
                log.exception("in-process worker round failed; trying again")


def housekeeping(app: Flask) -> None:
    """What must happen every few seconds whatever else does: count the signatures still
    waiting for the sequencer (a confirming request stopped before counting its own), sign a
    head for every log that has grown, and record as closed the petitions whose closing time
    has passed; and, once a night, purge the personal data whose retention has run out."""
    # In the app's context, so that a webhook a crossing writes here is offered at the commit.
    with app.app_context(), DbSession(flask_db.engine_of(app)) as session, session.begin():
        now = utcnow()
        sequencer.sequence_waiting(session, settings_of(app), now)
        store.sign_pending_heads(session, settings_of(app), now)
        rules.close_expired(session, now=now)
    nightly.nightly_of(app).run_if_due(app, now)


def relay_once(app: Flask, dispatcher) -> int:
    """Offer every due, undone row to ``dispatcher`` again; return how many."""
    items = list(work.due(flask_db.engine_of(app)))
    offered = set()
    for item in items:
        # A backlog of rows done in batches needs one job per kind, not one per row.
        job_id = job_id_of(item)
        if job_id not in offered:
            offered.add(job_id)
            dispatcher.submit(item)
    return len(items)


def dispatcher_of(app: Flask):
    """The app's dispatcher: rq with REDIS_URL, else the in-process worker."""
    return app.extensions[_EXTENSION]


@event.listens_for(Session, "after_flush")
def _collect(session: Session, _context) -> None:
    for row in session.new:
        if isinstance(row, Work):
            work.written(session, work.WorkItem(work.kind_of(row), row.id, row.attempts))


@event.listens_for(Session, "after_commit")
def _dispatch(session: Session) -> None:
    items = session.info.pop(work.WRITTEN, [])
    if items and has_app_context() and _EXTENSION in current_app.extensions:
        dispatcher = current_app.extensions[_EXTENSION]
        for item in items:
            dispatcher.submit(item)


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(work.WRITTEN, None)


def init_app(app: Flask) -> None:
    """Give the app its dispatcher; without Redis, start the in-process worker with the app's
    first request so that work left from before a restart is picked up."""
    if settings_of(app).redis_url:
        app.extensions[_EXTENSION] = RQDispatcher(settings_of(app).redis_url)
        return
    worker = InProcessWorker(app, thread=settings_of(app).inprocess_worker_thread)
    app.extensions[_EXTENSION] = worker
    app.before_request(worker.start)
