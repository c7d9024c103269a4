"""Asking for one's data to be erased by address, and the mailed link that erases it: signed
(its own salt), valid for PRIVACY_EXPORT_LINK_MAX_AGE from when the mail leaves, and good for
one erasure, recorded in its ``erasure`` row. An organiser acting on a request by post erases
at once, recorded in the audit trail.

The row holds no live link: the link's token is made, with SECRET_KEY, only when the mail
leaves (outbox.mail), as for the export's link (petitions.privacy.links).
"""

import secrets

from sqlalchemy.engine import Engine
from sqlmodel import Session

from petitions import audit
from petitions.config import Settings
from petitions.db.engine import utcnow
from petitions.db.models import Erasure, ErasureRequest
from petitions.outbox import mail
from petitions.privacy import erasure, export, single_use
from petitions.privacy.links import answered_by_earlier_link, recipient
from petitions.roll.addresses import parse_address

SALT = "petitions.erasure"
PATH = "/privacy/erase/"
# Who the audit trail says erased, when the member did it with a mailed link.
MEMBER_ACTOR = "member (by a mailed link)"


class ErasureLinkInvalid(single_use.LinkInvalid):
    """The erasure link is not one we sent, has expired or has been used."""


def request_erasure(session: Session, email: str) -> ErasureRequest:
    """Record a request to erase what is held about ``email``. A worker answers it
    (answer_request): the request is the same whether or not anything is held, so the form
    cannot tell, not even by how long it takes. Raises InvalidAddress for a malformed address."""
    request = ErasureRequest(email=parse_address(email).given)
    session.add(request)
    return request


def answer_request(engine: Engine, settings: Settings, request_id: int) -> None:
    """Mail a link to erase if anything is held about the request's address (nothing
    otherwise), and mark the request done, in one transaction (outbox work of kind
    ``erasure_request``). A member on the current roll is told in the mail that the erasure
    must wait until they are off it."""
    with Session(engine) as session, session.begin():
        request = session.get(ErasureRequest, request_id)
        if request is None or request.done_at is not None:
            return
        request.done_at = utcnow()
        request.leased_until = None
        key = parse_address(request.email).key
        held = export.find(session, key)
        if not held.holds_anything():
            return
        if answered_by_earlier_link(session, settings, Erasure, key):
            return
        nonce = secrets.token_urlsafe(24)
        session.add(Erasure(nonce=nonce, email_key=key))
        context = {
            "button": "Erase my data",
            "max_age_hours": max(1, settings.privacy_export_link_max_age // 3600),
            "on_roll": erasure.refusal(held) == erasure.Refusal.ON_ROLL,
        }
        session.add(
            mail.compose(
                mail.MailPurpose.ERASURE_LINK,
                recipient(session, key, request.email),
                context,
                None,
                {"link": {"kind": "erasure", "nonce": nonce}},
                organisation=settings.organisation,
            )
        )


def make_link(settings: Settings, spec: dict) -> str:
    """The erasure link made from ``spec`` (see answer_request): its age counts from now, when
    the mail leaves."""
    return f"{settings.base_url}{PATH}{single_use.make_token(settings, SALT, spec['nonce'])}"


def _nonce(settings: Settings, token: str) -> str:
    return single_use.nonce_of(settings, SALT, token, ErasureLinkInvalid)


def _row(session: Session, nonce: str) -> Erasure:
    return single_use.unused_row(session, Erasure, nonce, ErasureLinkInvalid)


def preview(session: Session, settings: Settings, token: str) -> erasure.Plan:
    """What the link ``token`` would erase, or why it would be refused (reads only). Raises
    ErasureLinkInvalid unless it is a genuine, unexpired, unused erasure link."""
    return erasure.plan(session, _row(session, _nonce(settings, token)).email_key)


def use_link(session: Session, settings: Settings, token: str) -> erasure.Plan:
    """Erase what the link ``token`` names and spend the link, in the caller's transaction;
    return what was erased. Raises ErasureLinkInvalid, or erasure.ErasureRefused (the caller
    rolls back, and the link stays unused). A link erases once, even under concurrent use."""
    now = utcnow()
    row = single_use.spend(session, Erasure, _nonce(settings, token), ErasureLinkInvalid, now)
    done = erasure.erase(session, settings, row.email_key, now)
    row.email_key = ""
    row.counts = erasure.record(done.counts)
    audit.record(session, MEMBER_ACTOR, "privacy.erase", detail=f"erasure ({done.summary()})")
    return done


def plan_for_post(session: Session, email: str) -> erasure.Plan:
    """What erasing ``email`` would do, for an organiser about to act on a request by post.
    Raises InvalidAddress for a malformed address."""
    return erasure.plan(session, parse_address(email).key)


def erase_for_post(
    session: Session, settings: Settings, actor: str, email: str, reference: str = ""
) -> erasure.Plan:
    """Erase ``email``'s data at once, by the organiser ``actor`` for a request that came by
    post, recorded (without the address) in the audit trail, in the caller's transaction.
    Raises InvalidAddress or erasure.ErasureRefused."""
    key = parse_address(email).key
    now = utcnow()
    done = erasure.erase(session, settings, key, now)
    session.add(
        Erasure(
            nonce=secrets.token_urlsafe(24),
            email_key="",
            made_by=actor,
            used_at=now,
            counts=erasure.record(done.counts),
        )
    )
    detail = f"erasure for a request by post ({done.summary()})"
    if reference:
        detail += f"; reference {reference}"
    audit.record(session, actor, "privacy.erase", detail=detail)
    return done
