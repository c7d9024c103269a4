"""Asking for one's data by address, and the mailed link to the export: signed (its own salt),
valid for PRIVACY_EXPORT_LINK_MAX_AGE from when the mail leaves, and good for one use, recorded
in its ``data_export`` row. An organiser answering a request by post makes the export at once,
recorded in the audit trail.
"""

import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from petitions import audit
from petitions.config import Settings
from petitions.db.engine import utcnow
from petitions.db.models import DataExport, DataExportRequest, Member
from petitions.outbox import mail
from petitions.privacy import export, single_use
from petitions.roll.addresses import parse_address
from petitions.signatures import mail_limits

SALT = "petitions.data-export"
PATH = "/privacy/export/"


class ExportLinkInvalid(single_use.LinkInvalid):
    """The export link is not one we sent, has expired or has been used."""


@dataclass(frozen=True)
class Opened:
    """An export link spent: its row and what it shows."""

    export_id: int
    data: dict


def request_export(session: Session, email: str) -> DataExportRequest:
    """Record a request for what is held about ``email``. A worker answers it
    (answer_request): the request is the same whether or not anything is held, so the form
    cannot tell, not even by how long it takes. Raises InvalidAddress for a malformed address."""
    request = DataExportRequest(email=parse_address(email).given)
    session.add(request)
    return request


def recipient(session: Session, email_key: str, given: str) -> str:
    """Where a link about an address goes: only to the member's address on the roll, or, for
    an address not on the roll (someone who only asked to sign), to it as it was given, the
    same mailbox."""
    on_roll = session.scalar(select(Member.email).where(Member.email_key == email_key).limit(1))
    return on_roll or given


def answer_request(engine: Engine, settings: Settings, request_id: int) -> None:
    """Mail a link to the export if anything is held about the request's address (nothing
    otherwise), and mark the request done, in one transaction (outbox work of kind
    ``data_export_request``)."""
    with Session(engine) as session, session.begin():
        request = session.get(DataExportRequest, request_id)
        if request is None or request.done_at is not None:
            return
        request.done_at = utcnow()
        request.leased_until = None
        key = parse_address(request.email).key
        if not export.find(session, key).holds_anything():
            return
        if answered_by_earlier_link(session, settings, DataExport, key):
            return
        nonce = secrets.token_urlsafe(24)
        session.add(DataExport(nonce=nonce, email_key=key))
        context = {
            "button": "See my data",
            "max_age_hours": max(1, settings.privacy_export_link_max_age // 3600),
        }
        # The nonce alone opens nothing: the link's token is made, with SECRET_KEY, only when
        # the mail is sent.
        session.add(
            mail.compose(
                mail.MailPurpose.DATA_EXPORT,
                recipient(session, key, request.email),
                context,
                None,
                {"link": {"kind": "data_export", "nonce": nonce}},
                organisation=settings.organisation,
            )
        )


def answered_by_earlier_link(session: Session, settings: Settings, links, email_key: str) -> bool:
    """True when the mailbox has had as many links of one kind (``links``: the DataExport or
    Erasure table) lately as PRIVACY_LIMIT_PER_ADDRESS allows and holds one still unused with at
    least half its life ahead: then that link answers the request, and nothing is mailed.
    Otherwise a new link is mailed, whoever asked, so the member always has one that works
    (README, "Security")."""
    budget = mail_limits.Budget.of(
        settings.privacy_limit_per_address, settings.privacy_export_link_max_age
    )
    now = utcnow()
    mailed = session.execute(
        select(links.created_at, links.used_at).where(
            links.email_key == email_key,
            links.made_by.is_(None),
            links.created_at >= now - budget.lookback,
        )
    ).all()
    since = now - budget.still_valid
    return budget.used_up((row.created_at for row in mailed), now) and any(
        row.used_at is None and row.created_at > since for row in mailed
    )


def make_link(settings: Settings, spec: dict) -> str:
    """The export link made from ``spec`` (see answer_request): its age counts from now, when
    the mail leaves."""
    return f"{settings.base_url}{PATH}{single_use.make_token(settings, SALT, spec['nonce'])}"


def _nonce(settings: Settings, token: str) -> str:
    return single_use.nonce_of(settings, SALT, token, ExportLinkInvalid)


def check_link(session: Session, settings: Settings, token: str) -> None:
    """Raise ExportLinkInvalid unless ``token`` is a genuine, unexpired, unused export link."""
    single_use.unused_row(session, DataExport, _nonce(settings, token), ExportLinkInvalid)


def open_link(session: Session, settings: Settings, token: str) -> Opened:
    """Spend the export link ``token`` and gather the export. Raises ExportLinkInvalid; a link
    works once, even under concurrent use."""
    row = single_use.spend(session, DataExport, _nonce(settings, token), ExportLinkInvalid)
    return Opened(row.id, export.collect(session, row.email_key))


def reopen(session: Session, export_id: int) -> dict | None:
    """The export of a spent link again (for the JSON download from the page it opened), or
    None if there is no such export."""
    row = session.get(DataExport, export_id)
    if row is None or row.used_at is None:
        return None
    return export.collect(session, row.email_key)


def export_for_post(session: Session, actor: str, email: str, reference: str = "") -> dict:
    """The export for ``email``, made at once by the organiser ``actor`` for a request that came
    by post, recorded (without the address) in the audit trail in the caller's transaction.
    Raises InvalidAddress for a malformed address."""
    key = parse_address(email).key
    data = export.collect(session, key)
    session.add(
        DataExport(nonce=secrets.token_urlsafe(24), email_key=key, made_by=actor, used_at=utcnow())
    )
    counts = ", ".join(f"{len(data[section])} {section}" for section in export.SECTIONS)
    detail = f"data export for a request by post ({counts})"
    if reference:
        detail += f"; reference {reference}"
    audit.record(session, actor, "privacy.export", detail=detail)
    return data


# The page an export link opens offers the same export as JSON for a while: a token of its own
# salt, in that page only (never mailed), naming the export.
DOWNLOAD_SALT = "petitions.data-export-download"
DOWNLOAD_MAX_AGE = 30 * 60


def download_token(settings: Settings, export_id: int) -> str:
    """The token the opened page's download button carries for ``export_id``."""
    return URLSafeTimedSerializer(settings.secret_key, salt=DOWNLOAD_SALT).dumps({"e": export_id})


def read_download_token(settings: Settings, token: str) -> int:
    """The export a download token names; ExportLinkInvalid if it is not genuine or too old."""
    keys = [*reversed(settings.secret_key_fallbacks), settings.secret_key]
    try:
        payload = URLSafeTimedSerializer(keys, salt=DOWNLOAD_SALT).loads(
            token, max_age=DOWNLOAD_MAX_AGE
        )
    except SignatureExpired:
        raise ExportLinkInvalid("expired") from None
    except BadSignature:
        raise ExportLinkInvalid("forged") from None
    export_id = payload.get("e") if isinstance(payload, dict) else None
    if not isinstance(export_id, int):
        raise ExportLinkInvalid("forged")
    return export_id
