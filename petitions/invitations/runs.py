"""Inviting members to sign: a run mails every active member (or one region's) a personal link,
a batch at a time at the rate the organiser chose.

A run is outbox work (kind ``invitation_run``). Each wake sends one batch and, if members
remain, schedules the next wake a batch's worth of time later. A batch is one transaction: the
``Invitation`` rows (unique per petition and member), their mails, and the run's ``sent``
counter all commit together or not at all. So a run taken over after a crash, or two runs for
the same petition at once, never mail anybody twice: a member already invited is no longer a
target, and the unique key refuses a second invitation that a concurrent batch tried to add.

Who is a target is decided again at every batch: members in good standing (in the run's
region), not yet invited to the petition, not signed, whose address has not opted out.

A paused run (``paused_at``) sends nothing: its next try is put off to the far future
(``PAUSED_UNTIL``) so the relay does not offer it, and a batch offered anyway (a retry scheduled
by a failure that raced the pause) finds it paused and puts it off again. Resuming makes it due
now. A run that ended because its petition closed has ``stopped_at``.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import exists, func, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from petitions.config import Settings
from petitions.db.engine import insert_on_conflict, utcnow
from petitions.db.models import (
    Invitation,
    InvitationRun,
    Mail,
    MailOptOut,
    Member,
    MemberStatus,
    Petition,
    Signature,
)
from petitions.invitations import opt_out
from petitions.lifecycle import rules
from petitions.outbox import mail
from petitions.signatures import signing

# A batch is this many seconds' worth of the run's rate (at least one member): small enough
# that progress moves visibly and the mail goes out smoothly, large enough that a big roll
# does not cost a query per member.
BATCH_SECONDS = 5
# The most members one batch takes, whatever the rate: one transaction stays short.
MAX_BATCH = 1000
PAUSED_UNTIL = datetime(9999, 12, 31, tzinfo=UTC)
SUMMARY_LENGTH = 400
STATE_LABELS = {
    "sending": "Sending",
    "retrying": "Waiting to retry after an error",
    "paused": "Paused",
    "finished": "Finished",
    "cancelled": "Cancelled",
    "stopped": "Stopped: the petition closed",
}


class InvitationError(Exception):
    """A request about invitations was refused; the message is fit to show as it is, and
    ``field`` names the form field at fault ("form" when it is none in particular)."""

    def __init__(self, message: str, field: str = "form"):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Reach:
    """How many members a run started now would invite: in all, and per region."""

    everyone: int
    by_region: dict[str, int]
    regions: list[str]

    def of(self, region: str | None) -> int:
        """How many a run for ``region`` (None: every region) would invite."""
        return self.everyone if region is None else self.by_region.get(region, 0)


def targets(petition_id: int, region: str | None) -> list:
    """Conditions on Member for who a run of ``petition_id`` (for ``region``) still invites."""
    conditions = [
        Member.status == MemberStatus.ACTIVE,
        ~exists().where(Invitation.petition_id == petition_id, Invitation.member_id == Member.id),
        ~exists().where(Signature.petition_id == petition_id, Signature.member_id == Member.id),
        ~exists().where(MailOptOut.email_key == Member.email_key),
    ]
    if region is not None:
        conditions.append(Member.region == region)
    return conditions


def regions(session: Session) -> list[str]:
    """The regions of the members in good standing on the roll, sorted."""
    query = (
        select(Member.region)
        .where(Member.status == MemberStatus.ACTIVE, Member.region.is_not(None))
        .distinct()
        .order_by(Member.region)
    )
    return list(session.scalars(query))


def reach(session: Session, petition: Petition) -> Reach:
    """How many members a run started now would invite, in all and for each region."""
    query = (
        select(Member.region, func.count())
        .where(*targets(petition.id, None))
        .group_by(Member.region)
    )
    counts = {region: count for region, count in session.execute(query)}  # noqa: C416 - rows
    by_region = {region: count for region, count in counts.items() if region is not None}
    return Reach(sum(counts.values()), by_region, regions(session))


def is_live(petition: Petition, now: datetime | None = None) -> bool:
    """Whether members can be invited to ``petition``: it is open (or triggered)."""
    return rules.effective_state(petition, now) in rules.LIVE_STATES


def state(run: InvitationRun) -> str:
    """What ``run`` is doing: sending, retrying, paused, finished, cancelled or stopped."""
    if run.done_at is not None:
        if run.cancelled_at is not None:
            return "cancelled"
        return "stopped" if run.stopped_at is not None else "finished"
    if run.paused_at is not None:
        return "paused"
    return "retrying" if run.last_error else "sending"


def progress(run: InvitationRun) -> dict:
    """``run``'s progress as the organiser's page and its JSON show it."""
    run_state = state(run)
    return {
        "id": run.id,
        "state": run_state,
        "state_label": STATE_LABELS[run_state],
        "sent": run.sent,
        # New members who joined the roll during the run are invited too.
        "total": max(run.total, run.sent),
        "skipped": max(0, run.total - run.sent) if run.done_at and run_state == "finished" else 0,
        "active": run.done_at is None,
        "error": run.last_error if run_state == "retrying" else None,
    }


def runs_of(session: Session, petition: Petition) -> list[InvitationRun]:
    """The runs of ``petition``, newest first."""
    query = (
        select(InvitationRun)
        .where(InvitationRun.petition_id == petition.id)
        .order_by(InvitationRun.id.desc())
    )
    return list(session.scalars(query))


def locked_run(session: Session, petition: Petition, run_id: int) -> InvitationRun | None:
    """Run ``run_id`` of ``petition``, its row locked until the commit (a batch in progress
    finishes first), or None."""
    query = (
        select(InvitationRun)
        .where(InvitationRun.id == run_id, InvitationRun.petition_id == petition.id)
        .with_for_update()
    )
    return session.scalars(query).first()


def validate_rate(raw, max_rate: int) -> int:
    """The rate per minute given as ``raw``: a whole number from 1 to ``max_rate``."""
    try:
        rate = int(str(raw).strip())
    except ValueError:
        raise InvitationError(
            f"The rate must be a whole number from 1 to {max_rate:,}.", "rate"
        ) from None
    if not 1 <= rate <= max_rate:
        raise InvitationError(f"The rate must be from 1 to {max_rate:,} a minute.", "rate")
    return rate


def recipients(session: Session, petition: Petition, region: str | None) -> int:
    """How many members a run for ``region`` (None: all) started now would invite.

    Refused when the petition is not open, the region is not on the roll, or nobody is left
    to invite.
    """
    if not is_live(petition):
        raise InvitationError("Invitations can only be sent while the petition is open.")
    if region is not None and region not in regions(session):
        raise InvitationError("Choose a region from the roll.", "region")
    total = reach(session, petition).of(region)
    if total == 0:
        raise InvitationError(
            "Every member this would reach has been invited already, has "
            "signed, or has asked not to be mailed."
        )
    return total


def start_run(
    session: Session,
    petition: Petition,
    *,
    region: str | None,
    rate_per_minute: int,
    started_by: str,
) -> InvitationRun:
    """Start inviting the members of ``region`` (None: all) to ``petition``, in the caller's
    transaction; the first batch goes out as soon as it commits.

    Refused as recipients() refuses.
    """
    total = recipients(session, petition, region)
    run = InvitationRun(
        petition_id=petition.id,
        region=region,
        rate_per_minute=rate_per_minute,
        started_by=started_by,
        total=total,
    )
    session.add(run)
    session.flush()
    return run


def pause(run: InvitationRun, now: datetime | None = None) -> None:
    """Stop ``run`` (locked by the caller) sending until it is resumed."""
    if state(run) not in ("sending", "retrying"):
        raise InvitationError("Only a run that is sending can be paused.")
    run.paused_at = now or utcnow()
    run.next_attempt_at = PAUSED_UNTIL
    run.leased_until = None


def resume(run: InvitationRun, petition: Petition, now: datetime | None = None) -> str:
    """Let paused ``run`` (locked by the caller) send again; its new state. A run of a
    petition that has closed meanwhile is stopped instead."""
    if state(run) != "paused":
        raise InvitationError("Only a paused run can be resumed.")
    now = now or utcnow()
    run.paused_at = None
    if is_live(petition, now):
        run.next_attempt_at = now
        run.last_error = None
    else:
        _stop(run, now)
    return state(run)


def cancel(run: InvitationRun, now: datetime | None = None) -> None:
    """End ``run`` (locked by the caller) for good; what it has sent stays sent."""
    if run.done_at is not None:
        raise InvitationError("This run has already ended.")
    now = now or utcnow()
    run.cancelled_at = now
    run.done_at = now
    run.leased_until = None


def _stop(run: InvitationRun, now: datetime) -> None:
    run.done_at = now
    run.leased_until = None
    run.stopped_at = now


def batch_size(rate_per_minute: int) -> int:
    """How many members one batch of a run at ``rate_per_minute`` takes."""
    return max(1, min(MAX_BATCH, rate_per_minute * BATCH_SECONDS // 60))


def batch_interval(rate_per_minute: int) -> timedelta:
    """The time between the starts of two batches: what keeps the run at its rate."""
    return timedelta(seconds=batch_size(rate_per_minute) * 60 / rate_per_minute)


def summary(body: str, limit: int = SUMMARY_LENGTH) -> str:
    """The petition's text for an e-mail: its first paragraph on one line, cut at a word
    near ``limit`` characters."""
    first = re.split(r"\n\s*\n", body.strip(), maxsplit=1)[0]
    text = " ".join(first.split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",.;:") + " …"


def compose_invitation(settings: Settings, petition: Petition, member) -> Mail:
    """The invitation to ``petition`` for ``member`` (anything with the id, email,
    email_key and name of a Member), its links left to be made when it is sent."""
    context = {
        "petition": petition,
        "name": member.name,
        "summary": summary(petition.body),
        "button": "Sign the petition",
        "max_age_hours": round(settings.confirm_link_max_age / 3600),
        "petition_url": f"{settings.base_url}/p/{petition.slug}",
    }
    links = {
        "link": signing.confirm_link_spec(petition, member.id),
        "opt_out_link": opt_out.link_spec(member.email_key),
    }
    return mail.compose(
        mail.MailPurpose.INVITATION,
        member.email,
        context,
        petition.id,
        links,
        organisation=settings.organisation,
    )


def _invite(session: Session, settings: Settings, run: InvitationRun, petition: Petition, members):
    """Invite ``members`` (in member order, so concurrent batches wait rather than deadlock):
    the invitations the unique key accepts, and a mail for each; how many were invited."""
    if not members:
        # An INSERT executed with no rows would insert one of defaults.
        return 0
    rows = [{"run_id": run.id, "petition_id": petition.id, "member_id": m.id} for m in members]
    statement = (
        insert_on_conflict(session, Invitation)
        .on_conflict_do_nothing(index_elements=["petition_id", "member_id"])
        .returning(Invitation.id, Invitation.member_id)
    )
    invited = {member_id: id_ for id_, member_id in session.execute(statement, rows)}
    if not invited:
        return 0
    mails = {m.id: compose_invitation(settings, petition, m) for m in members if m.id in invited}
    session.add_all(mails.values())
    session.flush()
    session.execute(
        update(Invitation),
        [{"id": invited[member_id], "mail_id": row.id} for member_id, row in mails.items()],
    )
    return len(mails)


def _cursor(session: Session, run: InvitationRun) -> int:
    """Where ``run``'s next batch starts: after the last member it invited.

    A run takes members in member order, so everyone before that one has had their turn; a
    batch need not step over every member invited so far, which on a large roll would make
    each batch slower than the last. (The petition's unique index answers this backwards in a
    few reads.) Skipped members stay skipped; the target conditions alone decide who is mailed.
    """
    query = select(func.max(Invitation.member_id)).where(
        Invitation.petition_id == run.petition_id, Invitation.run_id == run.id
    )
    return session.execute(query).scalar() or 0


def send_batch(engine: Engine, settings: Settings, run_id: int) -> None:
    """Send the next batch of invitation run ``run_id`` (outbox work of kind ``invitation_run``)
    and schedule the next, or mark the run done when nobody is left to invite.

    An error rolls the whole batch back (nobody is marked invited who was not mailed) and
    leaves the retry to the outbox.
    """
    started = utcnow()
    with Session(engine, expire_on_commit=False) as session, session.begin():
        query = select(InvitationRun).where(InvitationRun.id == run_id).with_for_update()
        run = session.scalars(query).first()
        if run is None or run.done_at is not None:
            return
        if state(run) == "paused":
            # Paused between the claim and this lock, or offered by a retry that a failure
            # scheduled as the pause was made: let the lease go and wait for the resume.
            run.leased_until = None
            run.next_attempt_at = PAUSED_UNTIL
            return
        petition = session.get(Petition, run.petition_id)
        if not is_live(petition, started):
            _stop(run, started)
            return
        size = batch_size(run.rate_per_minute)
        # One more than the batch: whether anybody is left after it.
        members = session.execute(
            select(Member.id, Member.email, Member.email_key, Member.name)
            .where(Member.id > _cursor(session, run), *targets(petition.id, run.region))
            .order_by(Member.id)
            .limit(size + 1)
        ).all()
        run.sent += _invite(session, settings, run, petition, members[:size])
        run.leased_until = None
        run.last_error = None
        if len(members) <= size:
            run.done_at = utcnow()
        else:
            run.next_attempt_at = started + batch_interval(run.rate_per_minute)
