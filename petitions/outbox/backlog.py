"""How far behind e-mail is: the mail waiting to be sent, how fast mail goes out, and how long
a link asked for now would take to leave (README, "When mail backs up").

The public pages ask on every view during a surge, so the figures come from a few indexed
queries: the mail not sent yet has a partial index of its own (``ix_mail_waiting``), mail sent
lately and requests to sign not answered yet are read from their ``due`` indexes. The web layer
keeps the answer for a few seconds per process.

The estimate. Workers take due work roughly oldest first, so a link asked for now waits behind
every due mail not sent yet and every due request to sign not answered yet (each may become a
mail). While the oldest of those has been waiting, mail has been going out as fast as it can,
so the rate it went out at over that time (at most the last minute) is the rate the queue
drains at: the delay is the work ahead over that rate, and never less than the oldest has
waited already. Measured over a quiet stretch instead, the rate would be what members asked
for, not what can be sent, and a handful of new mails would look like a long queue.

Mail waiting for another try after a failed one is not due, so it is ahead of nothing: a mail
that keeps failing (an address the mail server refuses) holds up no one. But when no mail at
all has gone out for a minute and mail written within that minute has failed already, the
mail server is refusing everything, and the delay is how long mail has been waiting since the
last one went out.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlmodel import Session

from petitions.db.engine import utcnow
from petitions.db.models import Mail, SignRequest
from petitions.outbox.mail import FAILED

RATE_WINDOW = timedelta(minutes=1)


@dataclass(frozen=True)
class MailQueue:
    """Mail not sent yet, and mail sent in the last minute: all of it, or one petition's.

    ``retrying`` of the ``waiting`` failed a try and are not due again yet;
    ``oldest_age`` is how long the oldest waiting mail has waited, in whole seconds (None when
    none waits). Mail that can never be sent is not waiting: it is done, marked failed.
    """

    waiting: int
    retrying: int
    oldest_age: int | None
    sent_last_minute: int


@dataclass(frozen=True)
class Backlog:
    """All mail: the queue, the requests to sign due and not answered yet, and the estimated
    delay in whole seconds before a link asked for now leaves (0: none to speak of)."""

    queue: MailQueue
    requests_due: int
    delay_seconds: int

    @property
    def sending(self) -> bool:
        """Whether mail is going out at all (some left in the last minute)."""
        return self.queue.sent_last_minute > 0

    def slow_delay(self, slow_after: int) -> int | None:
        """The delay when it is at least ``slow_after`` seconds (MAIL_SLOW_AFTER_SECONDS), so
        that links are arriving slowly; None when they arrive as usual."""
        return self.delay_seconds if self.delay_seconds >= slow_after else None


def _seconds(span: timedelta) -> float:
    return max(0.0, span.total_seconds())


def _waiting(*columns):
    """SQL: ``columns`` of the mail not sent yet (answered from ix_mail_waiting alone)."""
    return select(*columns).where(Mail.done_at.is_(None))


def _waiting_figures(session: Session, now: datetime, petition_id: int | None = None):
    """How many mails wait, how many of them wait for a later try, when the oldest was
    written, and the earliest time one of them is due (at or before ``now``: it is overdue)."""
    query = _waiting(
        func.count(),
        func.coalesce(func.sum(case((Mail.next_attempt_at > now, 1), else_=0)), 0),
        func.min(Mail.created_at),
        func.min(Mail.next_attempt_at),
    )
    if petition_id is not None:
        query = query.where(Mail.petition_id == petition_id)
    waiting, retrying, oldest, first_due = session.execute(query).one()
    return waiting, int(retrying), oldest, first_due


def _sent_since(*moments: datetime, petition_id: int | None = None):
    """SQL: how many mails were sent (not marked failed) since each of ``moments``, the first
    of which must be the earliest."""
    query = select(
        *(
            func.coalesce(func.sum(case((Mail.done_at >= moment, 1), else_=0)), 0)
            for moment in moments
        )
    ).where(Mail.done_at >= moments[0], Mail.transport != FAILED)
    if petition_id is not None:
        query = query.where(Mail.petition_id == petition_id)
    return query


def _age(now: datetime, moment: datetime | None) -> int | None:
    return None if moment is None else int(_seconds(now - moment))


def mail_queue(
    session: Session, petition_id: int | None = None, now: datetime | None = None
) -> MailQueue:
    """The MailQueue of all mail, or of petition ``petition_id``'s."""
    now = now or utcnow()
    waiting, retrying, oldest, _first_due = _waiting_figures(session, now, petition_id)
    (sent,) = session.execute(_sent_since(now - RATE_WINDOW, petition_id=petition_id)).one()
    return MailQueue(waiting, retrying, _age(now, oldest), int(sent))


def _requests_due(session: Session, now: datetime) -> tuple[int, datetime | None]:
    """How many requests to sign are due and not answered, and since when the oldest is."""
    count, since = session.execute(
        select(func.count(), func.min(SignRequest.next_attempt_at)).where(
            SignRequest.done_at.is_(None), SignRequest.next_attempt_at <= now
        )
    ).one()
    return count, since


def _refused_for(session: Session, now: datetime) -> float:
    """When mail written within the last minute has already failed: how long mail has waited
    since the last one went out (the mail server is refusing everything). Otherwise 0."""
    last_sent = session.scalar(
        select(Mail.done_at)
        .where(Mail.done_at.is_not(None), Mail.transport != FAILED)
        .order_by(Mail.done_at.desc())
        .limit(1)
    )
    query = _waiting(func.min(Mail.created_at), func.max(Mail.created_at)).where(Mail.attempts > 0)
    if last_sent is not None:
        query = query.where(Mail.created_at > last_sent)
    first, newest = session.execute(query).one()
    if newest is None or newest < now - RATE_WINDOW:
        return 0.0
    return _seconds(now - first)


def measure(session: Session, now: datetime | None = None) -> Backlog:
    """The backlog of all mail at ``now``, with the estimated delay (see the module's text).
    Three queries, and two more while no mail goes out but some waits."""
    now = now or utcnow()
    waiting, retrying, oldest, first_due = _waiting_figures(session, now)
    requests_due, first_request = _requests_due(session, now)
    overdue = [moment for moment in (first_due, first_request) if moment and moment <= now]
    waited = max((_seconds(now - moment) for moment in overdue), default=0.0)
    window = min(waited, RATE_WINDOW.total_seconds())
    sent_last_minute, sent_meanwhile = session.execute(
        _sent_since(now - RATE_WINDOW, now - timedelta(seconds=window))
    ).one()
    ahead = waiting - retrying + requests_due
    delay = 0.0
    if ahead:
        delay = max(waited, ahead * window / sent_meanwhile) if sent_meanwhile else waited
    if waiting and not sent_last_minute:
        delay = max(delay, _refused_for(session, now))
    return Backlog(
        queue=MailQueue(waiting, retrying, _age(now, oldest), int(sent_last_minute)),
        requests_due=requests_due,
        delay_seconds=round(delay),
    )
