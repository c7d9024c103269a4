"""Running outbox work (sign requests to answer, mail to send, webhooks to deliver, uploaded
rolls to import, invitation runs to send, sign-in requests to answer, checkpoints to have
witnesses cosign) at least once, whatever fails.

A row is claimed with a lease before its work starts, so a second copy of the same job finds it
taken and does nothing; a worker that dies mid-job leaves a lease that runs out, and the relay
then offers the row again. A failure schedules the next try with a growing, jittered delay.
What each kind of work does is petitions.jobs.handlers's table: the areas build on this module.
"""

import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import defer
from sqlmodel import Session

from petitions.db.engine import utcnow
from petitions.db.models import (
    DataExportRequest,
    ErasureRequest,
    InvitationRun,
    Mail,
    RollUpload,
    SignInRequest,
    SignRequest,
    WebhookDelivery,
    WitnessSubmission,
    Work,
)


class WorkKind(StrEnum):
    """A kind of outbox work; the name is the first part of its rq job id."""

    SIGN_REQUEST = "sign_request"
    MAIL = "mail"
    WEBHOOK = "webhook"
    ROLL_UPLOAD = "roll_upload"
    INVITATION_RUN = "invitation_run"
    SIGN_IN_REQUEST = "sign_in_request"
    DATA_EXPORT_REQUEST = "data_export_request"
    ERASURE_REQUEST = "erasure_request"
    WITNESS_SUBMISSION = "witness_submission"


KINDS: dict[WorkKind, type[Work]] = {
    WorkKind.SIGN_REQUEST: SignRequest,
    WorkKind.MAIL: Mail,
    WorkKind.WEBHOOK: WebhookDelivery,
    WorkKind.ROLL_UPLOAD: RollUpload,
    WorkKind.INVITATION_RUN: InvitationRun,
    WorkKind.SIGN_IN_REQUEST: SignInRequest,
    WorkKind.DATA_EXPORT_REQUEST: DataExportRequest,
    WorkKind.ERASURE_REQUEST: ErasureRequest,
    WorkKind.WITNESS_SUBMISSION: WitnessSubmission,
}
# How long the first retry waits, and the longest any retry waits, per kind.
RETRY_DELAYS = {
    WorkKind.SIGN_REQUEST: (2.0, 600.0),
    WorkKind.MAIL: (5.0, 3600.0),
    WorkKind.WEBHOOK: (2.0, 6 * 3600.0),
    WorkKind.ROLL_UPLOAD: (5.0, 600.0),
    # A run's attempts grow with every batch it sends, not only with failures, so the cap is
    # what a failure late in a long run waits: a minute, not ten.
    WorkKind.INVITATION_RUN: (5.0, 60.0),
    WorkKind.SIGN_IN_REQUEST: (2.0, 300.0),
    WorkKind.DATA_EXPORT_REQUEST: (2.0, 300.0),
    WorkKind.ERASURE_REQUEST: (2.0, 300.0),
    # A witness that is down is asked again at most every ten minutes; it then catches up
    # from the size it last cosigned.
    WorkKind.WITNESS_SUBMISSION: (2.0, 600.0),
}
DEFAULT_LEASE = timedelta(minutes=2)
# How long one job goes on taking full batches of its kind before it ends.
BATCH_JOB_SECONDS = 2.0
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkItem:
    """One row of work, and how many times it has been tried (part of its job id)."""

    kind: WorkKind
    row_id: int
    attempts: int

    @property
    def job_id(self) -> str:
        """The rq job id: the same for the same try of the same row, so copies collapse."""
        return f"{self.kind}-{self.row_id}-{self.attempts}"


# Where a session keeps the work its transaction wrote, to be offered to the dispatcher once
# that transaction commits (petitions.jobs.dispatch).
WRITTEN = "outbox"


def written(session: Session, item: WorkItem) -> None:
    """Note that ``session``'s transaction wrote the work ``item``, so that it is offered to
    the dispatcher when the transaction commits (and forgotten if it rolls back). Rows added
    through the ORM are noted by themselves; a row inserted with Core must be noted here."""
    session.info.setdefault(WRITTEN, []).append(item)


def kind_of(row: Work) -> WorkKind:
    """The kind of a work row."""
    for kind, model in KINDS.items():
        if isinstance(row, model):
            return kind
    raise TypeError(f"{type(row).__name__} is not outbox work")


def retry_delay(kind: WorkKind, attempts: int, rng: random.Random | None = None) -> timedelta:
    """The wait before try ``attempts + 1``: doubling from the kind's first delay up to its cap,
    jittered by up to a quarter either way so that many failures do not retry in step."""
    first, cap = RETRY_DELAYS[kind]
    # The doubling stops long past every cap: 2 ** 1024 and more no longer converts to a float.
    base = min(cap, first * 2 ** min(max(0, attempts - 1), 32))
    jitter = (rng or random).uniform(0.75, 1.25)
    return timedelta(seconds=min(cap, base * jitter))


def _locked(session: Session, model: type[Work], row_id: int) -> Work | None:
    query = select(model).where(model.id == row_id).with_for_update()
    if model is RollUpload:
        # Claiming and failing need only the bookkeeping, not the uploaded file (up to
        # ROLL_UPLOAD_MAX_BYTES) on every try.
        query = query.options(defer(RollUpload.data))
    return session.scalars(query).first()


def claim(engine: Engine, kind: WorkKind, row_id: int, lease: timedelta = DEFAULT_LEASE) -> bool:
    """Take the row for one try: False when it is done, not yet due, or leased to another."""
    model = KINDS[kind]
    now = utcnow()
    with Session(engine) as session, session.begin():
        row = _locked(session, model, row_id)
        if row is None or row.done_at is not None or row.next_attempt_at > now:
            return False
        if row.leased_until is not None and row.leased_until > now:
            return False
        row.attempts += 1
        row.leased_until = now + lease
    return True


def _claimable(model: type[Work], now):
    return select(model.id).where(
        model.done_at.is_(None),
        model.next_attempt_at <= now,
        or_(model.leased_until.is_(None), model.leased_until < now),
    )


def claim_batch(
    engine: Engine, kind: WorkKind, row_id: int, size: int, lease: timedelta = DEFAULT_LEASE
) -> list[int]:
    """Take row ``row_id``, if it can be taken, and up to ``size`` rows in all of the due ones
    of ``kind``, oldest first, for one try each, in one commit; return their ids.

    Rows another worker is claiming at the same moment are skipped, not waited for (SKIP LOCKED
    on PostgreSQL; SQLite has one writer at a time), so workers take disjoint batches. A job
    whose own row went in another's batch still takes whatever else is due.
    """
    model = KINDS[kind]
    now = utcnow()
    with Session(engine) as session, session.begin():
        ids = session.scalars(
            _claimable(model, now).where(model.id == row_id).with_for_update(skip_locked=True)
        ).all()
        ids += session.scalars(
            _claimable(model, now)
            .where(model.id != row_id)
            .order_by(model.next_attempt_at, model.id)
            .limit(max(0, size - len(ids)))
            .with_for_update(skip_locked=True)
        ).all()
        if ids:
            session.execute(
                update(model)
                .where(model.id.in_(ids))
                .values(attempts=model.attempts + 1, leased_until=now + lease)
            )
    return list(ids)


def fail_many(engine: Engine, kind: WorkKind, errors: Mapping[int, str]) -> None:
    """Record a failed try of each row in ``errors`` (row id to what went wrong) and schedule
    its next one, in one commit."""
    model = KINDS[kind]
    with Session(engine) as session, session.begin():
        rows = session.scalars(
            select(model)
            .where(model.id.in_(list(errors)), model.done_at.is_(None))
            .with_for_update()
        ).all()
        for row in rows:
            row.last_error = errors[row.id][:2000]
            row.leased_until = None
            row.next_attempt_at = utcnow() + retry_delay(kind, row.attempts)


def run_batch(
    engine: Engine,
    item: WorkItem,
    handler: Callable[[list[int]], Mapping[int, str]],
    size: int,
    lease: timedelta = DEFAULT_LEASE,
) -> bool:
    """Claim batches of due rows of ``item``'s kind (its own row first) and run
    ``handler(row_ids)`` on each; True if its own row was done.

    The handler marks done, in one commit, the rows it did, and returns the ones to try again
    with what went wrong; an error it raises fails the whole batch, to be tried again. While
    batches come full and without failures, for up to BATCH_JOB_SECONDS, the job takes another:
    a backlog drains without a job per batch, and the worker is soon free for other work.
    """
    job_started = time.perf_counter()
    done_own = False
    while True:
        started = time.perf_counter()
        ids = claim_batch(engine, item.kind, item.row_id, size, lease)
        claimed = time.perf_counter()
        if not ids:
            return done_own
        try:
            errors = dict(handler(ids))
        except Exception as exc:
            errors = dict.fromkeys(ids, f"{type(exc).__name__}: {exc}")
        if errors:
            log.warning("%s: %d of a batch of %d failed", item.job_id, len(errors), len(ids))
            fail_many(engine, item.kind, errors)
        # One line a batch: where the time goes (bench/sign.py adds these up).
        log.info(
            "%s batch of %d: claim %.1f ms, work %.1f ms",
            item.kind,
            len(ids),
            (claimed - started) * 1000,
            (time.perf_counter() - claimed) * 1000,
        )
        done_own = done_own or (item.row_id in ids and item.row_id not in errors)
        # A batch with failures (a mail server down) ends the job: the next try waits.
        if errors or len(ids) < size or time.perf_counter() - job_started > BATCH_JOB_SECONDS:
            return done_own


def fail(engine: Engine, kind: WorkKind, row_id: int, error: str) -> None:
    """Record a failed try and schedule the next one."""
    model = KINDS[kind]
    with Session(engine) as session, session.begin():
        row = _locked(session, model, row_id)
        if row is None or row.done_at is not None:
            return
        row.last_error = error[:2000]
        row.leased_until = None
        row.next_attempt_at = utcnow() + retry_delay(kind, row.attempts)


def run(
    engine: Engine, item: WorkItem, handler: Callable[[int], None], lease=DEFAULT_LEASE
) -> bool:
    """Claim ``item``'s row and run ``handler(row_id)`` on it; False if it was not run or failed.

    The handler marks the row done in the transaction that does its work. An error it raises
    is recorded on the row and the next try scheduled: a failure here is routine (a ballot
    system that is down), not a crash of the job.
    """
    if not claim(engine, item.kind, item.row_id, lease):
        return False
    try:
        handler(item.row_id)
    except Exception as exc:
        log.warning("%s failed (try %d): %s", item.job_id, item.attempts + 1, exc)
        fail(engine, item.kind, item.row_id, f"{type(exc).__name__}: {exc}")
        return False
    return True


def due(engine: Engine, limit: int = 500) -> Iterator[WorkItem]:
    """Rows whose work is not done, is due, and is not leased: what the relay offers again."""
    now = utcnow()
    with Session(engine) as session:
        for kind, model in KINDS.items():
            query = (
                select(model.id, model.attempts)
                .where(
                    model.done_at.is_(None),
                    model.next_attempt_at <= now,
                    or_(model.leased_until.is_(None), model.leased_until < now),
                )
                .order_by(model.next_attempt_at)
                .limit(limit)
            )
            for row_id, attempts in session.execute(query):
                yield WorkItem(kind, row_id, attempts)
