"""What scrutineers read: the audit trail, the roll imports, and each petition's decisions
(invalidations), its threshold event and every try at delivering its webhook."""

from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from petitions.db.models import (
    AuditEvent,
    Invalidation,
    Petition,
    RollImport,
    RollUpload,
    ThresholdEvent,
    TreeHead,
    WebhookAttempt,
    WebhookDelivery,
)
from petitions.signatures import invalidation

AUDIT_PAGE = 100
IMPORTS_SHOWN = 100
ATTEMPTS_SHOWN = 100
KEY_ACTION = "log.commitment_key"
_EXPORT_BATCH = 1000


@dataclass(frozen=True)
class TrailEntry:
    """One audit event with the slug and title of the petition it concerns (None for none)."""

    event: AuditEvent
    slug: str | None
    title: str | None = None


def audit_page(
    session: Session, before: int | None = None, limit: int = AUDIT_PAGE
) -> tuple[list[TrailEntry], int | None]:
    """The newest ``limit`` audit events with an id below ``before`` (all, when None), and the
    ``before`` that gives the next, older page (None when there is none)."""
    query = (
        select(AuditEvent, Petition.slug, Petition.title)
        .outerjoin(Petition, Petition.id == AuditEvent.petition_id)
        .order_by(AuditEvent.id.desc())
        .limit(limit + 1)
    )
    if before is not None:
        query = query.where(AuditEvent.id < before)
    rows = session.execute(query).all()
    entries = [TrailEntry(event, slug, title) for event, slug, title in rows[:limit]]
    older = entries[-1].event.id if len(rows) > limit else None
    return entries, older


def all_events(engine: Engine) -> Iterator[TrailEntry]:
    """Every audit event, oldest first, read in batches, each in a short transaction of its
    own: a long download holds no lock (on SQLite, the write lock signing needs)."""
    after = 0
    while True:
        with Session(engine, expire_on_commit=False) as session:
            rows = session.execute(
                select(AuditEvent, Petition.slug)
                .outerjoin(Petition, Petition.id == AuditEvent.petition_id)
                .where(AuditEvent.id > after)
                .order_by(AuditEvent.id)
                .limit(_EXPORT_BATCH)
            ).all()
        for event, slug in rows:
            yield TrailEntry(event, slug)
        if len(rows) < _EXPORT_BATCH:
            return
        after = rows[-1][0].id


@dataclass(frozen=True)
class ImportEntry:
    """A roll import, and who uploaded its file when it came through the browser."""

    record: RollImport
    uploaded_by: str | None


def roll_imports(session: Session, limit: int = IMPORTS_SHOWN) -> list[ImportEntry]:
    """The newest roll imports, accepted or refused."""
    rows = session.execute(
        select(RollImport, RollUpload.uploaded_by)
        .outerjoin(RollUpload, RollUpload.import_id == RollImport.id)
        .order_by(RollImport.id.desc())
        .limit(limit)
    ).all()
    return [ImportEntry(record, uploader) for record, uploader in rows]


@dataclass(frozen=True)
class PetitionSummary:
    """One line of the scrutineer's list of petitions."""

    petition: Petition
    invalidations: int
    deliveries: int
    delivered: int


def petition_summaries(session: Session) -> list[PetitionSummary]:
    """Every petition, newest first, with how many invalidations and webhook deliveries it has."""
    invalidated = (
        select(Invalidation.petition_id, func.count().label("n"))
        .group_by(Invalidation.petition_id)
        .subquery()
    )
    delivered = (
        select(
            ThresholdEvent.petition_id,
            func.count(WebhookDelivery.id).label("n"),
            func.count(WebhookDelivery.done_at).label("done"),
        )
        .join(WebhookDelivery, WebhookDelivery.event_id == ThresholdEvent.id)
        .group_by(ThresholdEvent.petition_id)
        .subquery()
    )
    rows = session.execute(
        select(Petition, invalidated.c.n, delivered.c.n, delivered.c.done)
        .outerjoin(invalidated, invalidated.c.petition_id == Petition.id)
        .outerjoin(delivered, delivered.c.petition_id == Petition.id)
        .order_by(Petition.id.desc())
    ).all()
    return [
        PetitionSummary(petition, invalidations or 0, deliveries or 0, done or 0)
        for petition, invalidations, deliveries, done in rows
    ]


@dataclass
class Delivery:
    """A webhook delivery and its newest tries (``attempt_count`` counts them all)."""

    delivery: WebhookDelivery
    attempts: list[WebhookAttempt]
    attempt_count: int


@dataclass
class PetitionTrail:
    """Everything a scrutineer reads about one petition besides its log."""

    threshold_event: ThresholdEvent | None = None
    deliveries: list[Delivery] = field(default_factory=list)
    invalidations: list[tuple[Invalidation, int]] = field(default_factory=list)
    events: list[AuditEvent] = field(default_factory=list)
    key_fetches: list[AuditEvent] = field(default_factory=list)
    heads: int = 0


def petition_trail(session: Session, petition: Petition) -> PetitionTrail:
    """The petition's invalidations, threshold event, webhook deliveries with their tries, and
    audit events (with those that revealed the commitment key picked out)."""
    trail = PetitionTrail()
    trail.threshold_event = session.scalars(
        select(ThresholdEvent).where(ThresholdEvent.petition_id == petition.id)
    ).first()
    if trail.threshold_event is not None:
        deliveries = session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.event_id == trail.threshold_event.id)
            .order_by(WebhookDelivery.id)
        ).all()
        for delivery in deliveries:
            attempts = session.scalars(
                select(WebhookAttempt)
                .where(WebhookAttempt.delivery_id == delivery.id)
                .order_by(WebhookAttempt.number.desc())
                .limit(ATTEMPTS_SHOWN)
            ).all()
            count = session.scalar(
                select(func.count())
                .select_from(WebhookAttempt)
                .where(WebhookAttempt.delivery_id == delivery.id)
            )
            trail.deliveries.append(Delivery(delivery, list(attempts), count or 0))
    trail.invalidations = invalidation.invalidations(session, petition)
    trail.events = list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.petition_id == petition.id)
            .order_by(AuditEvent.id.desc())
            .limit(AUDIT_PAGE)
        )
    )
    trail.key_fetches = list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.petition_id == petition.id, AuditEvent.action == KEY_ACTION)
            .order_by(AuditEvent.id.desc())
        )
    )
    trail.heads = (
        session.scalar(
            select(func.count()).select_from(TreeHead).where(TreeHead.petition_id == petition.id)
        )
        or 0
    )
    return trail
