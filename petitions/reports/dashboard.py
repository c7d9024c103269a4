"""What the organisers' dashboard shows about one petition, computed from the database: the
signatures over time, the split by region, how sign requests fared (the funnel, and why some did
not become signatures), the mail waiting to be sent, the threshold event and every webhook try.

These are heavier than the live count (they scan a petition's requests and signatures), so the
web layer keeps each petition's figures for a few seconds (see DASHBOARD_TTL in
petitions.web.dashboard) rather than computing them for every viewer on every poll.
"""

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import BigInteger, Integer, and_, case, cast, func, or_, select
from sqlmodel import Session

from petitions.db.engine import utcnow
from petitions.db.models import (
    Invitation,
    Mail,
    Member,
    Petition,
    Signature,
    SignRequest,
    ThresholdEvent,
    WebhookAttempt,
    WebhookDelivery,
)
from petitions.lifecycle import rules
from petitions.outbox import backlog
from petitions.outbox.mail import FAILED, MailPurpose
from petitions.signatures import counts

# Bucket widths for the chart, smallest first, with their names; the smallest that gives at most
# MAX_BUCKETS buckets over the petition's life so far is used.
WIDTHS = (
    (60, "minute"),
    (5 * 60, "5 minutes"),
    (15 * 60, "15 minutes"),
    (3600, "hour"),
    (3 * 3600, "3 hours"),
    (6 * 3600, "6 hours"),
    (86400, "day"),
    (7 * 86400, "week"),
    (28 * 86400, "4 weeks"),
)
MAX_BUCKETS = 48

# Why a request to sign did not become a signature, in the order the dashboard lists them.
REASONS = {
    "not_on_roll": "Not on the roll",
    "lapsed": "On the roll, but lapsed or suspended",
    "not_on_committed_roll": "In good standing, but not on the roll committed for this petition",
    "household_needs_number": "Shared (household) address without a matching membership number",
    "wrong_number": "Membership number does not match the address",
    "already_signed": "Had already signed",
    "already_mailed": "Asked again past the address's mail limit: the link mailed earlier works",
    "petition_closed": "Petition closed when the request was answered",
    "link_expired": "Link sent, expired without being confirmed",
    "awaiting": "Link sent, not confirmed yet (still valid)",
    "pending": "Not answered yet",
}


@dataclass(frozen=True)
class Bucket:
    """Signatures confirmed in [start, end): those still counted, those since invalidated, and
    the counted total at the bucket's end."""

    start: datetime
    end: datetime
    confirmed: int
    invalidated: int
    total: int


@dataclass(frozen=True)
class Series:
    """Signatures over time in buckets of ``width`` seconds (called ``unit``)."""

    width: int
    unit: str
    buckets: list[Bucket]


@dataclass(frozen=True)
class RegionRow:
    """Counted signatures from members of one region, and their share of all counted."""

    region: str
    count: int
    percent: float


@dataclass(frozen=True)
class Funnel:
    """From asking to sign to a counted signature.

    ``links_sent`` are requests answered with a confirmation link; ``invited`` are invitation
    e-mails sent from the roll (each carries a link too); ``confirmed`` are signatures however
    they came, ``counted`` those not invalidated.
    """

    requests: int
    answered: int
    links_sent: int
    links_confirmed: int
    invited: int
    confirmed: int
    invalidated: int
    counted: int


@dataclass(frozen=True)
class Reason:
    """How many requests did not become a signature for one reason."""

    code: str
    label: str
    count: int


@dataclass(frozen=True)
class Attempt:
    """One try at delivering a webhook."""

    number: int
    started_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None


@dataclass(frozen=True)
class FailedMail:
    """E-mails of one purpose that can never be sent (they could not be composed), and why."""

    purpose: str
    count: int
    reason: str


@dataclass(frozen=True)
class Delivery:
    """A threshold webhook to one URL and every try at it. ``status`` is delivered, disabled
    (the ballot system answered 410), trying (a try is under way) or waiting (for its next
    try at ``next_attempt_at``)."""

    id: int
    webhook_id: str
    url: str | None
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    response_status: int | None
    done_at: datetime | None
    tries: list[Attempt]

    @property
    def retryable(self) -> bool:
        """Whether an organiser may have it tried now."""
        return self.status == "waiting"


@dataclass(frozen=True)
class Threshold:
    """The moment the count reached the threshold."""

    reached_at: datetime
    count: int
    threshold: int
    eligible_members: int
    signature_number: int | None


@dataclass(frozen=True)
class MailFigures:
    """The petition's own mail not sent yet, and all mail's, with the delay a link asked for
    now would have (which the public pages tell members once it is MAIL_SLOW_AFTER_SECONDS)."""

    petition: backlog.MailQueue
    overall: backlog.Backlog


@dataclass(frozen=True)
class Dashboard:
    """Everything the dashboard shows about one petition, as of ``computed_at``."""

    slug: str
    computed_at: datetime
    series: Series
    regions: list[RegionRow]
    funnel: Funnel
    reasons: list[Reason]
    threshold: Threshold | None
    mail: MailFigures
    deliveries: list[Delivery] = field(default_factory=list)
    failed_mails: list[FailedMail] = field(default_factory=list)

    def as_json(self) -> dict:
        """The figures as JSON-ready data (times in ISO 8601 UTC)."""
        return _jsonable(asdict(self))

    def digest(self, part: str) -> str:
        """A short fingerprint of one part's data, so a page can tell whether it changed."""
        data = json.dumps(_jsonable(asdict(self)[part]), sort_keys=True)
        return hashlib.sha256(data.encode()).hexdigest()[:16]


def _jsonable(value):
    if isinstance(value, datetime):
        return rules.iso_utc(value)
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


# --- signatures over time ---------------------------------------------------------------------


def _epoch(session: Session, column):
    """SQL for ``column`` (a UTC timestamp) as whole seconds since 1970, on either backend."""
    if session.get_bind().dialect.name == "sqlite":
        return cast(func.strftime("%s", column), Integer)
    return cast(func.floor(func.extract("epoch", column)), BigInteger)


def _end_of(petition: Petition, now: datetime) -> datetime:
    stopped = petition.closed_at
    if stopped is None and petition.closes_at is not None and petition.closes_at <= now:
        stopped = petition.closes_at
    return min(now, stopped) if stopped is not None else now


def choose_width(span: timedelta) -> tuple[int, str]:
    """The narrowest bucket width that shows ``span`` in at most MAX_BUCKETS buckets."""
    seconds = max(0.0, span.total_seconds())
    for width, unit in WIDTHS:
        if seconds / width < MAX_BUCKETS:
            return width, unit
    return WIDTHS[-1]


def signatures_over_time(session: Session, petition: Petition, now: datetime) -> Series:
    """Confirmed signatures per bucket, from the petition's opening to now (or its close), with
    the counted total at each bucket's end; invalidated signatures are not in the totals."""
    first = session.scalar(
        select(func.min(Signature.confirmed_at)).where(
            Signature.petition_id == petition.id, Signature.number.is_not(None)
        )
    )
    starts = [moment for moment in (petition.opened_at, first) if moment is not None]
    if not starts:
        return Series(WIDTHS[0][0], WIDTHS[0][1], [])
    start = min(starts)
    end = max(_end_of(petition, now), start)
    width, unit = choose_width(end - start)
    bucket = _epoch(session, Signature.confirmed_at) // width
    rows = session.execute(
        select(
            bucket,
            func.count(),
            func.sum(case((Signature.invalidated_at.is_not(None), 1), else_=0)),
        )
        .where(Signature.petition_id == petition.id, Signature.number.is_not(None))
        .group_by(bucket)
    ).all()
    found = {int(index): (int(total), int(invalid or 0)) for index, total, invalid in rows}
    first_index = int(start.timestamp()) // width
    last_index = max([int(end.timestamp()) // width, *found])
    buckets, running = [], 0
    for index in range(min([first_index, *found]), last_index + 1):
        total, invalid = found.get(index, (0, 0))
        running += total - invalid
        buckets.append(
            Bucket(
                start=datetime.fromtimestamp(index * width, UTC),
                end=datetime.fromtimestamp((index + 1) * width, UTC),
                confirmed=total - invalid,
                invalidated=invalid,
                total=running,
            )
        )
    return Series(width, unit, buckets)


# --- regions, funnel, reasons -----------------------------------------------------------------


def region_split(session: Session, petition: Petition) -> list[RegionRow]:
    """Counted signatures per region, most first (then by name), with each region's share."""
    by_region = counts.by_region(session, petition)
    total = sum(by_region.values())
    rows = sorted(by_region.items(), key=lambda item: (-item[1], item[0]))
    return [
        RegionRow(region, count, round(count * 100 / total, 1) if total else 0.0)
        for region, count in rows
    ]


def _signed_by_requester():
    """SQL: the requesting address (and number, if given) has signed this petition."""
    return (
        select(Signature.id)
        .join(Member, Member.id == Signature.member_id)
        .where(
            Signature.petition_id == SignRequest.petition_id,
            Member.email_key == SignRequest.email_key,
            or_(SignRequest.member_number.is_(None), Member.number == SignRequest.member_number),
        )
        .exists()
    )


def _sum_when(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _request_figures(session: Session, petition: Petition, cutoff: datetime) -> dict[str, int]:
    outcomes = dict(
        session.execute(
            select(SignRequest.outcome, func.count())
            # Requests for the link to withdraw are not requests to sign.
            .where(SignRequest.petition_id == petition.id, SignRequest.kind == "sign")
            .group_by(SignRequest.outcome)
        ).all()
    )
    on_roll = select(Member.id).where(Member.email_key == SignRequest.email_key).exists()
    lapsed = session.scalar(
        select(func.count()).where(
            SignRequest.petition_id == petition.id,
            SignRequest.outcome == MailPurpose.NOT_IN_GOOD_STANDING,
            on_roll,
        )
    )
    signed = _signed_by_requester()
    confirmed, expired = session.execute(
        select(
            _sum_when(signed),
            _sum_when(and_(~signed, SignRequest.created_at < cutoff)),
        ).where(
            SignRequest.petition_id == petition.id, SignRequest.outcome == MailPurpose.CONFIRM_LINK
        )
    ).one()
    links = outcomes.get(MailPurpose.CONFIRM_LINK, 0)
    return {
        "requests": sum(outcomes.values()),
        "pending": outcomes.get(None, 0),
        "links_sent": links,
        "links_confirmed": int(confirmed),
        "not_on_roll": outcomes.get(MailPurpose.NOT_IN_GOOD_STANDING, 0) - lapsed,
        "lapsed": lapsed,
        "not_on_committed_roll": outcomes.get(MailPurpose.NOT_ON_COMMITTED_ROLL, 0),
        "household_needs_number": outcomes.get(MailPurpose.HOUSEHOLD_NEEDS_NUMBER, 0),
        "wrong_number": outcomes.get(MailPurpose.WRONG_NUMBER, 0),
        "already_signed": outcomes.get(MailPurpose.ALREADY_SIGNED, 0),
        "already_mailed": outcomes.get(MailPurpose.ALREADY_MAILED, 0),
        "petition_closed": outcomes.get(MailPurpose.PETITION_CLOSED, 0),
        "link_expired": int(expired),
        "awaiting": links - int(confirmed) - int(expired),
    }


def funnel_and_reasons(
    session: Session, petition: Petition, max_age: int, now: datetime
) -> tuple[Funnel, list[Reason]]:
    """The funnel from requests to counted signatures, and why requests fell out of it.

    A link counts as confirmed when the member it was sent to (the requesting address, and
    the membership number if one was given) has signed; one never confirmed and older than
    ``max_age`` seconds (CONFIRM_LINK_MAX_AGE) has expired. "Lapsed" and "not on the roll"
    split the worker's not_in_good_standing answers by whether the address is on the roll now.
    """
    figures = _request_figures(session, petition, now - timedelta(seconds=max_age))
    signatures, invalidated = session.execute(
        select(func.count(), _sum_when(Signature.invalidated_at.is_not(None))).where(
            Signature.petition_id == petition.id, Signature.number.is_not(None)
        )
    ).one()
    invited = session.scalar(
        select(func.count()).where(
            Invitation.petition_id == petition.id, Invitation.mail_id.is_not(None)
        )
    )
    funnel = Funnel(
        requests=figures["requests"],
        answered=figures["requests"] - figures["pending"],
        links_sent=figures["links_sent"],
        links_confirmed=figures["links_confirmed"],
        invited=invited,
        confirmed=signatures,
        invalidated=int(invalidated),
        counted=signatures - int(invalidated),
    )
    reasons = [Reason(code, label, figures[code]) for code, label in REASONS.items()]
    return funnel, reasons


# --- the threshold and its webhook ------------------------------------------------------------


def threshold_event(session: Session, petition: Petition) -> Threshold | None:
    """The petition's threshold event, with the number of the signature that crossed it."""
    row = session.execute(
        select(ThresholdEvent, Signature.number)
        .outerjoin(Signature, Signature.id == ThresholdEvent.signature_id)
        .where(ThresholdEvent.petition_id == petition.id)
    ).first()
    if row is None:
        return None
    event, number = row
    return Threshold(event.reached_at, event.count, event.threshold, event.eligible_members, number)


def _status(delivery: WebhookDelivery, now: datetime) -> str:
    if delivery.done_at is not None:
        return delivery.outcome or "delivered"
    if delivery.leased_until is not None and delivery.leased_until > now:
        return "trying"
    return "waiting"


def webhook_deliveries(session: Session, petition: Petition, now: datetime) -> list[Delivery]:
    """The petition's threshold webhook deliveries, oldest first, each with every try."""
    deliveries = session.scalars(
        select(WebhookDelivery)
        .join(ThresholdEvent, ThresholdEvent.id == WebhookDelivery.event_id)
        .where(ThresholdEvent.petition_id == petition.id)
        .order_by(WebhookDelivery.id)
    ).all()
    tries: dict[int, list[Attempt]] = {delivery.id: [] for delivery in deliveries}
    if deliveries:
        for attempt in session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(list(tries)))
            .order_by(WebhookAttempt.delivery_id, WebhookAttempt.id)
        ):
            tries[attempt.delivery_id].append(
                Attempt(
                    attempt.number,
                    attempt.started_at,
                    attempt.duration_ms,
                    attempt.status_code,
                    attempt.error,
                )
            )
    return [
        Delivery(
            id=delivery.id,
            webhook_id=delivery.webhook_id,
            url=delivery.url,
            status=_status(delivery, now),
            attempts=delivery.attempts,
            next_attempt_at=None if delivery.done_at is not None else delivery.next_attempt_at,
            last_error=delivery.last_error,
            response_status=delivery.response_status,
            done_at=delivery.done_at,
            tries=tries[delivery.id],
        )
        for delivery in deliveries
    ]


def failed_mails(session: Session, petition: Petition) -> list[FailedMail]:
    """The petition's e-mails marked failed, by purpose, with the latest reason."""
    rows = session.execute(
        select(Mail.purpose, func.count(), func.max(Mail.last_error))
        .where(Mail.petition_id == petition.id, Mail.transport == FAILED)
        .group_by(Mail.purpose)
        .order_by(Mail.purpose)
    ).all()
    return [FailedMail(purpose, count, reason or "") for purpose, count, reason in rows]


def dashboard(
    session: Session, petition: Petition, max_age: int, now: datetime | None = None
) -> Dashboard:
    """Every figure of the dashboard for ``petition`` at ``now``. ``max_age`` is how long a
    confirmation link lives (CONFIRM_LINK_MAX_AGE, seconds)."""
    now = now or utcnow()
    funnel, reasons = funnel_and_reasons(session, petition, max_age, now)
    return Dashboard(
        slug=petition.slug,
        computed_at=now,
        series=signatures_over_time(session, petition, now),
        regions=region_split(session, petition),
        funnel=funnel,
        reasons=reasons,
        threshold=threshold_event(session, petition),
        mail=MailFigures(
            petition=backlog.mail_queue(session, petition.id, now),
            overall=backlog.measure(session, now),
        ),
        deliveries=webhook_deliveries(session, petition, now),
        failed_mails=failed_mails(session, petition),
    )
