"""The purge: removes or blanks the personal data whose retention (petitions.privacy.retention)
has run out, a batch at a time, and never touches what the counts and the public log depend on
(signatures, log leaves and nodes, heads, threshold events, invalidations, petitions).

Each step finds the rows that are due and not yet purged, so a second run finds nothing: the
purge is idempotent, and one cut short (by its time bound) is simply taken up by the next.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, delete, func, or_, select, update
from sqlalchemy.sql import ColumnElement

from petitions.config import Settings
from petitions.db.models import (
    DataExport,
    DataExportRequest,
    Erasure,
    ErasureRequest,
    Invitation,
    Mail,
    Petition,
    RollImport,
    RollImportNote,
    RollUpload,
    SignInLink,
    SignInRequest,
    SignRequest,
    UserSession,
)

log = logging.getLogger(__name__)

# How long one purge may run before it stops between batches; the next run takes up the rest.
DEFAULT_TIME_LIMIT = 300.0


@dataclass(frozen=True)
class Step:
    """What one step of the purge does to one table: which rows are due, and what to them
    (``blank``: the columns to set; without it the rows are removed)."""

    name: str
    table: type
    due: Callable[[Settings, datetime], ColumnElement[bool]]
    blank: dict | None = None


def _before(days: int, now: datetime) -> datetime:
    return now - timedelta(days=days)


def _closed_before(petition_id, cutoff: datetime) -> ColumnElement[bool]:
    closed = select(Petition.id).where(Petition.closed_at.is_not(None), Petition.closed_at < cutoff)
    return petition_id.in_(closed)


def _mail_bodies(settings: Settings, now: datetime) -> ColumnElement[bool]:
    # The recipient goes with the body: nothing reads a sent mail's address again (invitations
    # are sent once by their own rows, not by looking for earlier mail).
    cutoff = _before(settings.mail_body_retention_days, now)
    return and_(
        Mail.done_at.is_not(None),
        Mail.done_at < cutoff,
        or_(
            Mail.text_body != "",
            Mail.html_body != "",
            Mail.links.is_not(None),
            Mail.to_address != "",
        ),
    )


def _answered(model) -> Callable[[Settings, datetime], ColumnElement[bool]]:
    """Requests for one's data or its erasure, answered long enough ago, still with their
    address."""

    def due(settings: Settings, now: datetime) -> ColumnElement[bool]:
        cutoff = _before(settings.privacy_request_retention_days, now)
        return and_(model.done_at.is_not(None), model.done_at < cutoff, model.email != "")

    return due


def _links_ended(model) -> Callable[[Settings, datetime], ColumnElement[bool]]:
    """Links to one's data or its erasure that expired long enough ago, still with the
    address's matching key."""

    def due(settings: Settings, now: datetime) -> ColumnElement[bool]:
        cutoff = _before(settings.privacy_request_retention_days, now)
        expired = cutoff - timedelta(seconds=settings.privacy_export_link_max_age)
        return and_(model.created_at < expired, model.email_key != "")

    return due


def _sign_requests(settings: Settings, now: datetime) -> ColumnElement[bool]:
    cutoff = _before(settings.sign_request_retention_days, now)
    return and_(
        SignRequest.done_at.is_not(None),
        _closed_before(SignRequest.petition_id, cutoff),
        or_(
            SignRequest.email != "",
            SignRequest.email_key != "",
            SignRequest.member_number.is_not(None),
            SignRequest.network.is_not(None),
        ),
    )


def _sessions(settings: Settings, now: datetime) -> ColumnElement[bool]:
    # A session ends when signed out, after its idle time, or after its longest life.
    cutoff = _before(settings.session_retention_days, now)
    return or_(
        and_(UserSession.ended_at.is_not(None), UserSession.ended_at < cutoff),
        UserSession.last_seen_at < cutoff - timedelta(seconds=settings.session_idle_seconds),
        UserSession.created_at < cutoff - timedelta(seconds=settings.session_max_seconds),
    )


def _sign_in_links(settings: Settings, now: datetime) -> ColumnElement[bool]:
    cutoff = _before(settings.session_retention_days, now)
    return or_(
        and_(SignInLink.used_at.is_not(None), SignInLink.used_at < cutoff),
        SignInLink.created_at < cutoff - timedelta(seconds=settings.sign_in_link_max_age),
    )


def _sign_in_requests(settings: Settings, now: datetime) -> ColumnElement[bool]:
    cutoff = _before(settings.session_retention_days, now)
    return and_(SignInRequest.done_at.is_not(None), SignInRequest.done_at < cutoff)


def _invitations(settings: Settings, now: datetime) -> ColumnElement[bool]:
    return _closed_before(Invitation.petition_id, _before(settings.invitation_retention_days, now))


def _roll_notes(settings: Settings, now: datetime) -> ColumnElement[bool]:
    cutoff = _before(settings.roll_report_retention_days, now)
    finished = select(RollImport.id).where(
        func.coalesce(RollImport.finished_at, RollImport.started_at) < cutoff,
        RollImport.outcome != "running",
    )
    return RollImportNote.import_id.in_(finished)


def _roll_uploads(settings: Settings, now: datetime) -> ColumnElement[bool]:
    cutoff = _before(settings.roll_report_retention_days, now)
    return and_(
        RollUpload.done_at.is_not(None),
        RollUpload.done_at < cutoff,
        func.length(RollUpload.data) > 0,
    )


STEPS = (
    Step(
        "mail bodies",
        Mail,
        _mail_bodies,
        {"text_body": "", "html_body": "", "links": None, "to_address": ""},
    ),
    Step(
        "sign requests",
        SignRequest,
        _sign_requests,
        {"email": "", "email_key": "", "member_number": None, "network": None},
    ),
    Step("sessions", UserSession, _sessions),
    Step("sign-in links", SignInLink, _sign_in_links),
    Step("sign-in requests", SignInRequest, _sign_in_requests),
    Step("invitations", Invitation, _invitations),
    Step("roll import notes", RollImportNote, _roll_notes),
    Step("roll upload files", RollUpload, _roll_uploads, {"data": b""}),
    Step("data export requests", DataExportRequest, _answered(DataExportRequest), {"email": ""}),
    Step("data export links", DataExport, _links_ended(DataExport), {"email_key": ""}),
    Step("erasure requests", ErasureRequest, _answered(ErasureRequest), {"email": ""}),
    Step("erasure links", Erasure, _links_ended(Erasure), {"email_key": ""}),
)


@dataclass
class PurgeReport:
    """What a purge removed or blanked (or, on a dry run, would), step by step."""

    dry_run: bool
    counts: dict[str, int] = field(default_factory=lambda: {step.name: 0 for step in STEPS})
    batches: int = 0
    # False when the time bound stopped the purge before everything due was done.
    finished: bool = True

    @property
    def total(self) -> int:
        """Rows removed or blanked in all."""
        return sum(self.counts.values())


def purge(
    engine: Engine,
    settings: Settings,
    now: datetime,
    *,
    dry_run: bool = False,
    batch_size: int | None = None,
    time_limit: float = DEFAULT_TIME_LIMIT,
    clock: Callable[[], float] = time.monotonic,
) -> PurgeReport:
    """Remove or blank what is due at ``now``, ``batch_size`` rows (PURGE_BATCH_SIZE) per
    commit, until nothing is due or ``time_limit`` seconds have passed (at least one batch is
    done); with ``dry_run``, only count what would go."""
    report = PurgeReport(dry_run=dry_run)
    size = batch_size or settings.purge_batch_size
    deadline = clock() + time_limit
    for step in STEPS:
        due = step.due(settings, now)
        if dry_run:
            with engine.connect() as connection:
                counted = select(func.count()).select_from(step.table).where(due)
                report.counts[step.name] = connection.execute(counted).scalar_one()
            continue
        while True:
            found, done = _one_batch(engine, step, due, size)
            report.counts[step.name] += done
            if found:
                report.batches += 1
            if found < size:
                break
            # Checked after a batch, so that every run does at least one.
            if clock() > deadline:
                report.finished = False
                return report
    return report


def _one_batch(engine: Engine, step: Step, due: ColumnElement[bool], size: int) -> tuple[int, int]:
    """Purge up to ``size`` due rows of ``step`` in one commit; return how many were found due
    and how many this purge removed or blanked."""
    key = step.table.id
    with engine.begin() as connection:
        ids = connection.execute(select(key).where(due).order_by(key).limit(size)).scalars().all()
        if not ids:
            return 0, 0
        # Asked again with the ids: a purge in another process may have taken some meanwhile,
        # and the count is of what this one did.
        if step.blank is None:
            done = connection.execute(delete(step.table).where(key.in_(ids), due))
        else:
            done = connection.execute(
                update(step.table).where(key.in_(ids), due).values(**step.blank)
            )
    return len(ids), done.rowcount


def summary(report: PurgeReport) -> str:
    """One line for the log: the figures only, nothing about whom they were."""
    parts = ", ".join(f"{name} {count}" for name, count in report.counts.items())
    verb = "would purge" if report.dry_run else "purged"
    return f"{verb} {report.total} rows ({parts})" + ("" if report.finished else "; unfinished")
