""" "Was my name used?": a member asks, by address, whether a signature is counted in their name,
and may report one they did not make.

The question is asked and answered like a request to sign (petitions.signatures.signing): the
page says the same to every address, a worker matches it to the roll later, and only the one
active member it names is mailed, at the roll's address for them. Their mail lists every
signature in their name (its entry in the public log, when it was confirmed, whether it still
counts, and a link to its receipt, which checks the inclusion proof in the browser), or says
there is none. It works while the petition is open and after it closes.

The mail about a signature carries a link, made when the mail leaves, to report it: the page
the link opens reports on its button (mail scanners follow links). A report names the
signature by its leaf of the public log and holds nothing personal; there is at most one per
leaf, so a second press (of any link naming it) says it was already reported. Reporting mails
every scrutineer account, is recorded in the audit trail (which says so when there was no
scrutineer to mail), and adds to the public count of reports.
"""

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from itsdangerous import BadSignature, SignatureExpired
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from petitions import audit
from petitions.config import Settings
from petitions.db.engine import utcnow
from petitions.db.models import (
    Invalidation,
    LogLeaf,
    Member,
    NameReport,
    Petition,
    Role,
    Signature,
    UserAccount,
)
from petitions.lifecycle import rules
from petitions.outbox import mail
from petitions.outbox.mail import MailPurpose
from petitions.signatures import receipts, tokens

# Who the audit trail says reported: the member is known to nobody but the log's keepers.
AUDIT_ACTOR = 'a member, from the answer to "Was my name used?"'
AUDIT_ACTION = "signature.reported"
# The most leaves one report link names (a member who signed and withdrew many times).
MAX_LEAVES = 50


class ReportOutcome(StrEnum):
    """What opening or using a link to report comes to."""

    CAN_REPORT = "can_report"
    REPORTED = "reported"
    ALREADY_REPORTED = "already_reported"
    EXPIRED = "expired"
    INVALID = "invalid"


def moment_in_words(moment: datetime) -> str:
    """A moment for a mail's reader: "4 December 2026, 03:50 UTC"."""
    moment = moment.astimezone(UTC)
    return f"{moment.day} {moment:%B %Y, %H:%M} UTC"


@dataclass(frozen=True)
class Entry:
    """One signature in a member's name, as their mail describes it."""

    number: int | None
    confirmed_at: datetime
    leaf_index: int | None
    leaf_hash: str | None
    standing: str

    @property
    def entry(self) -> int | None:
        """The leaf's place in the log as people count it (from 1)."""
        return None if self.leaf_index is None else self.leaf_index + 1


def _standing(signature: Signature, reason: str | None) -> str:
    if signature.withdrawn_at is not None:
        return f"withdrawn on {moment_in_words(signature.withdrawn_at)}: it no longer counts"
    if signature.invalidated_at is not None:
        words = receipts.reason_in_words("invalidation", reason or "")
        return (
            f"invalidated by the organisers on {moment_in_words(signature.invalidated_at)} "
            f"({words}): it no longer counts"
        )
    if signature.number is None:
        return "being counted: its entry in the public log follows within a minute"
    return "counted"


def entries_of(session: Session, petition_id: int, member_id: int) -> list[Entry]:
    """Every signature of the petition in the member's name, oldest first, with its leaf."""
    rows = session.execute(
        select(Signature, LogLeaf.index, LogLeaf.leaf_hash, Invalidation.reason)
        .outerjoin(
            LogLeaf,
            (LogLeaf.signature_id == Signature.id) & (LogLeaf.kind == "signature"),
        )
        .outerjoin(Invalidation, Invalidation.signature_id == Signature.id)
        .where(Signature.petition_id == petition_id, Signature.member_id == member_id)
        .order_by(Signature.id)
    ).all()
    return [
        Entry(
            signature.number,
            signature.confirmed_at,
            index,
            None if leaf_hash is None else leaf_hash.hex(),
            _standing(signature, reason),
        )
        for signature, index, leaf_hash, reason in rows
    ]


def receipt_url(settings: Settings, petition: Petition, entry: Entry) -> str:
    """The receipt of a signature's leaf: the page that checks its inclusion proof."""
    return (
        f"{settings.base_url}/p/{petition.slug}/receipt"
        f"?index={entry.leaf_index}&leaf_hash={entry.leaf_hash}"
    )


def answer(session: Session, settings: Settings, petition: Petition, member: Member) -> str:
    """Mail ``member``, at the roll's address for them, whether a signature of ``petition`` is
    counted in their name (in the caller's transaction); return the mail's purpose, which is
    what the request came to."""
    entries = entries_of(session, petition.id, member.id)
    context = {
        "name": member.name,
        "petition": petition,
        "petition_url": f"{settings.base_url}/p/{petition.slug}",
    }
    if not entries:
        purpose = MailPurpose.NAME_NOT_USED
        links = None
    else:
        purpose = MailPurpose.NAME_USED
        leaves = [entry.leaf_index for entry in entries if entry.leaf_index is not None]
        context |= {
            "entries": [
                {
                    "entry": entry,
                    "confirmed": moment_in_words(entry.confirmed_at),
                    "receipt": None
                    if entry.leaf_index is None
                    else receipt_url(settings, petition, entry),
                }
                for entry in entries
            ],
            "reportable": bool(leaves),
            "max_age_hours": round(settings.confirm_link_max_age / 3600),
            "button": "I did not sign this",
        }
        links = {"link": report_link_spec(petition, leaves[-MAX_LEAVES:])} if leaves else None
    session.add(
        mail.compose(
            purpose,
            member.email,
            context,
            petition.id,
            links,
            organisation=settings.organisation,
        )
    )
    return purpose


def report_link_spec(petition: Petition, leaves: list[int]) -> mail.LinkSpec:
    """What the link to report the signatures at ``leaves`` is made from: public numbers only
    (the token is made, with SECRET_KEY, when the mail is sent)."""
    return {
        "kind": "name_report",
        "slug": petition.slug,
        "petition_id": petition.id,
        "leaves": list(leaves),
    }


def make_report_link(settings: Settings, spec: mail.LinkSpec) -> str:
    """A fresh link to report, made from ``spec`` (see report_link_spec)."""
    signer = tokens.serializer(
        settings.secret_key, settings.secret_key_fallbacks, tokens.NAME_REPORT_SALT
    )
    token = signer.dumps(
        {"p": spec["petition_id"], "l": spec["leaves"], "n": secrets.token_urlsafe(9)}
    )
    return f"{settings.base_url}/p/{spec['slug']}/name-report?token={token}"


@dataclass(frozen=True)
class ReportLink:
    """What a link to report names: a petition and the leaves of signatures in one name."""

    petition_id: int
    leaves: tuple[int, ...]


def read_report_link(settings: Settings, token: str) -> ReportLink | ReportOutcome:
    """The link ``token`` names, or EXPIRED or INVALID."""
    signer = tokens.serializer(
        settings.secret_key, settings.secret_key_fallbacks, tokens.NAME_REPORT_SALT
    )
    try:
        payload = signer.loads(token, max_age=settings.confirm_link_max_age)
    except SignatureExpired:
        return ReportOutcome.EXPIRED
    except BadSignature:
        return ReportOutcome.INVALID
    try:
        leaves = tuple(int(index) for index in payload["l"])
        link = ReportLink(int(payload["p"]), leaves)
    except (KeyError, TypeError, ValueError):
        return ReportOutcome.INVALID
    if not leaves or len(leaves) > MAX_LEAVES:
        return ReportOutcome.INVALID
    return link


@dataclass(frozen=True)
class Report:
    """What a link to report came to, and the leaves it names (entries counted from 1)."""

    outcome: ReportOutcome
    petition: Petition | None = None
    leaves: tuple[int, ...] = ()
    reported_at: datetime | None = None
    notified: int = 0
    entries: list[int] = field(default_factory=list)


def _found(outcome: ReportOutcome, petition: Petition, leaves, **more) -> Report:
    return Report(outcome, petition, leaves, entries=[i + 1 for i in leaves], **more)


def _existing(session: Session, petition_id: int, leaves) -> list[NameReport]:
    return list(
        session.scalars(
            select(NameReport)
            .where(NameReport.petition_id == petition_id, NameReport.leaf_index.in_(leaves))
            .order_by(NameReport.reported_at)
        )
    )


def _signature_leaves(session: Session, petition_id: int, leaves) -> tuple[int, ...]:
    """Those of ``leaves`` that are signature leaves of the petition's log."""
    found = session.scalars(
        select(LogLeaf.index).where(
            LogLeaf.petition_id == petition_id,
            LogLeaf.index.in_(leaves),
            LogLeaf.kind == "signature",
        )
    ).all()
    return tuple(sorted(found))


def _resolve(session: Session, settings: Settings, token: str, slug: str):
    link = read_report_link(settings, token)
    petition = rules.find_published(session, slug)
    if isinstance(link, ReportOutcome):
        return Report(link, petition), None
    if petition is None or petition.id != link.petition_id:
        return Report(ReportOutcome.INVALID, petition), None
    leaves = _signature_leaves(session, petition.id, link.leaves)
    if len(leaves) != len(set(link.leaves)):
        return Report(ReportOutcome.INVALID, petition), None
    return petition, leaves


def preview(engine: Engine, settings: Settings, token: str, slug: str) -> Report:
    """What the link ``token`` on the page of petition ``slug`` would report (read only)."""
    with Session(engine, expire_on_commit=False) as session:
        petition, leaves = _resolve(session, settings, token, slug)
        if leaves is None:
            return petition
        existing = _existing(session, petition.id, leaves)
        if len(existing) == len(leaves):
            return _found(
                ReportOutcome.ALREADY_REPORTED,
                petition,
                leaves,
                reported_at=existing[0].reported_at,
            )
        return _found(ReportOutcome.CAN_REPORT, petition, leaves)


def scrutineers(session: Session) -> list[UserAccount]:
    """Every scrutineer account that is not disabled."""
    return list(
        session.scalars(
            select(UserAccount)
            .where(UserAccount.role == Role.SCRUTINEER, UserAccount.disabled_at.is_(None))
            .order_by(UserAccount.id)
        )
    )


def report(
    engine: Engine, settings: Settings, token: str, slug: str, now: datetime | None = None
) -> Report:
    """Report the signatures the link ``token`` names as not the member's own.

    In one transaction: a report row for each leaf not reported yet, a mail to every scrutineer,
    and the audit trail's record. A leaf already reported (by this link or another naming it)
    is not reported again; when every leaf is, nothing changes and the answer says when.
    """
    now = now or utcnow()
    try:
        return _report(engine, settings, token, slug, now)
    except IntegrityError:
        # Another press of a link naming the same leaf committed first.
        return preview(engine, settings, token, slug)


def _report(engine: Engine, settings: Settings, token: str, slug: str, now: datetime) -> Report:
    with Session(engine, expire_on_commit=False) as session, session.begin():
        petition, leaves = _resolve(session, settings, token, slug)
        if leaves is None:
            return petition
        existing = _existing(session, petition.id, leaves)
        done = {row.leaf_index for row in existing}
        new = [index for index in leaves if index not in done]
        if not new:
            return _found(
                ReportOutcome.ALREADY_REPORTED,
                petition,
                leaves,
                reported_at=existing[0].reported_at,
            )
        readers = scrutineers(session)
        for index in new:
            session.add(
                NameReport(
                    petition_id=petition.id,
                    leaf_index=index,
                    reported_at=now,
                    notified=len(readers),
                )
            )
        described = ", ".join(f"entry {index + 1} (leaf index {index})" for index in new)
        context = {
            "petition": petition,
            "described": described,
            "reported": moment_in_words(now),
            "link": f"{settings.base_url}/scrutiny/p/{petition.slug}",
            "button": "Open the petition's scrutiny page",
        }
        for reader in readers:
            session.add(
                mail.compose(
                    MailPurpose.NAME_REPORTED,
                    reader.email,
                    context,
                    petition.id,
                    organisation=settings.organisation,
                )
            )
        if readers:
            notified = f"mailed to {len(readers)} scrutineer{'s' if len(readers) != 1 else ''}"
        else:
            notified = "no scrutineer account: nobody was notified; the report is public"
        audit.record(session, AUDIT_ACTOR, AUDIT_ACTION, petition, f"{described}; {notified}")
        return _found(
            ReportOutcome.REPORTED, petition, leaves, reported_at=now, notified=len(readers)
        )


def report_count(session: Session, petition_id: int) -> int:
    """How many signatures of the petition have been reported by the member named (public)."""
    return (
        session.scalar(
            select(func.count())
            .select_from(NameReport)
            .where(NameReport.petition_id == petition_id)
        )
        or 0
    )


@dataclass(frozen=True)
class DisputedLeaf:
    """A reported signature, as scrutineers read it: its leaf, number and whether it counts."""

    report: NameReport
    number: int | None
    counts: bool


def reports_of(session: Session, petition_id: int) -> list[DisputedLeaf]:
    """The petition's reports, oldest first, with each signature's number and standing."""
    rows = session.execute(
        select(NameReport, Signature.number, Signature.invalidated_at)
        .outerjoin(
            LogLeaf,
            (LogLeaf.petition_id == NameReport.petition_id)
            & (LogLeaf.index == NameReport.leaf_index),
        )
        .outerjoin(Signature, Signature.id == LogLeaf.signature_id)
        .where(NameReport.petition_id == petition_id)
        .order_by(NameReport.id)
    ).all()
    return [
        DisputedLeaf(row, number, invalidated_at is None) for row, number, invalidated_at in rows
    ]
