"""Withdrawing a signature: a member takes their signature back while the petition is open.

The member reaches this by a link: the one the confirmed page and the receipt carry, or the
one mailed in answer to a "manage my signature" request (asked for by address, and answered
like a request to sign: by a worker, to the roll's own address, and only for an active member
who has signed). Nothing is deleted: the signature is marked withdrawn, the count goes down and
the public log gets a leaf cancelling it, under the petition's row lock, as an invalidation
does. A triggered petition stays triggered. A member who withdrew may sign again: a new
signature, with a new number and leaf.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from petitions.config import Settings
from petitions.db.engine import utcnow
from petitions.db.models import LogLeaf, Member, Petition, PetitionState, Signature
from petitions.lifecycle import rules
from petitions.outbox import mail
from petitions.signatures import sequencer, tokens
from petitions.transparency import leaves, store

# The reason a withdrawal leaf publishes.
REASON = "withdrawn"


class WithdrawalOutcome(StrEnum):
    """What opening or using a link to withdraw comes to."""

    CAN_WITHDRAW = "can_withdraw"
    WITHDRAWN = "withdrawn"
    ALREADY_WITHDRAWN = "already_withdrawn"
    NOT_COUNTED = "not_counted"
    NOT_SIGNED = "not_signed"
    PETITION_CLOSED = "petition_closed"
    EXPIRED = "expired"
    INVALID = "invalid"


@dataclass(frozen=True)
class Withdrawal:
    """The signature a link to withdraw names, as things stand (or as withdrawing left it)."""

    outcome: WithdrawalOutcome
    petition: Petition | None = None
    number: int | None = None
    triggered: bool = False
    leaf_index: int | None = None
    leaf_hash: str | None = None
    count: int | None = None


def manage_link_spec(petition: Petition, member_id: int) -> mail.LinkSpec:
    """What the link to withdraw ``member_id``'s signature of ``petition`` is made from."""
    return {
        "kind": "manage",
        "slug": petition.slug,
        "petition_id": petition.id,
        "member_id": member_id,
    }


def make_manage_link(settings: Settings, spec: mail.LinkSpec) -> str:
    """A fresh link to withdraw, made from ``spec`` (see manage_link_spec)."""
    token = tokens.make_token(
        settings.secret_key,
        settings.secret_key_fallbacks,
        spec["petition_id"],
        spec["member_id"],
        salt=tokens.MANAGE_SALT,
    )
    return f"{settings.base_url}/p/{spec['slug']}/withdraw?token={token}"


def manage_token(settings: Settings, petition_id: int, member_id: int) -> str:
    """A fresh token for the link to withdraw (what the confirmed page offers)."""
    return tokens.make_token(
        settings.secret_key,
        settings.secret_key_fallbacks,
        petition_id,
        member_id,
        salt=tokens.MANAGE_SALT,
    )


def read_manage_link(settings: Settings, token: str) -> tokens.SignLink:
    """The link a token to withdraw names; raises tokens.TokenExpired or tokens.TokenInvalid."""
    return tokens.read_token(
        settings.secret_key,
        settings.secret_key_fallbacks,
        token,
        settings.confirm_link_max_age,
        salt=tokens.MANAGE_SALT,
    )


def _link(settings: Settings, token: str) -> tokens.SignLink | WithdrawalOutcome:
    try:
        return read_manage_link(settings, token)
    except tokens.TokenExpired:
        return WithdrawalOutcome.EXPIRED
    except tokens.TokenInvalid:
        return WithdrawalOutcome.INVALID


def _signatures(session: Session, link: tokens.SignLink) -> list[Signature]:
    """The member's signatures of the petition, newest first (all but the newest withdrawn)."""
    return list(
        session.scalars(
            select(Signature)
            .where(Signature.petition_id == link.petition_id, Signature.member_id == link.member_id)
            .order_by(Signature.id.desc())
        )
    )


def _standing(petition: Petition, signatures: list[Signature], now: datetime):
    """What the link can do now, and the signature it concerns."""
    if rules.effective_state(petition, now) not in sequencer.SIGNING_STATES:
        return WithdrawalOutcome.PETITION_CLOSED, None
    if not signatures:
        return WithdrawalOutcome.NOT_SIGNED, None
    newest = signatures[0]
    if newest.withdrawn_at is not None:
        return WithdrawalOutcome.ALREADY_WITHDRAWN, newest
    if newest.invalidated_at is not None:
        return WithdrawalOutcome.NOT_COUNTED, newest
    return WithdrawalOutcome.CAN_WITHDRAW, newest


def preview(engine: Engine, settings: Settings, token: str, slug: str) -> Withdrawal:
    """What the link ``token`` on the page of petition ``slug`` would withdraw (read only)."""
    link = _link(settings, token)
    with Session(engine, expire_on_commit=False) as session:
        petition = rules.find_published(session, slug)
        if isinstance(link, WithdrawalOutcome):
            return Withdrawal(link, petition)
        if petition is None or petition.id != link.petition_id:
            return Withdrawal(WithdrawalOutcome.INVALID, petition)
        outcome, signature = _standing(petition, _signatures(session, link), utcnow())
        return Withdrawal(
            outcome,
            petition,
            None if signature is None else signature.number,
            petition.state == PetitionState.TRIGGERED,
        )


def withdraw(
    engine: Engine, settings: Settings, token: str, slug: str, now: datetime | None = None
) -> Withdrawal:
    """Withdraw the signature the link ``token`` names, on petition ``slug``.

    Under the petition's row lock, taken by the sequencer (which first counts any signature
    still waiting, this member's included, so that what is withdrawn is a numbered signature
    with its leaf): the count goes down by one, the log grows by one cancelling leaf, and the
    signature is marked withdrawn, in one transaction. Withdrawing again changes nothing.
    """
    link = _link(settings, token)
    if isinstance(link, WithdrawalOutcome):
        return Withdrawal(link)
    now = now or utcnow()
    with Session(engine, expire_on_commit=False) as session, session.begin():
        published = rules.find_published(session, slug)
        if published is None or published.id != link.petition_id:
            return Withdrawal(WithdrawalOutcome.INVALID, published)
        session.expunge(published)
        # The sequencer takes the row lock, held to the commit, and counts what waits.
        sequencer.sequence(session, settings, link.petition_id, now)
        petition = session.get(Petition, link.petition_id, populate_existing=True)
        session.expunge(petition)
        outcome, signature = _standing(petition, _signatures(session, link), now)
        triggered = petition.state == PetitionState.TRIGGERED
        if outcome != WithdrawalOutcome.CAN_WITHDRAW:
            number = None if signature is None else signature.number
            return Withdrawal(outcome, petition, number, triggered)
        size, count = session.execute(
            update(Petition)
            .where(Petition.id == petition.id)
            .values(
                signature_count=Petition.signature_count - 1,
                log_size=Petition.log_size + 1,
            )
            .returning(Petition.log_size, Petition.signature_count)
        ).one()
        index = size - 1
        member_number, signed_leaf = session.execute(
            select(Member.number, LogLeaf.index)
            .select_from(Signature)
            .join(LogLeaf, LogLeaf.signature_id == Signature.id)
            .join(Member, Member.id == Signature.member_id)
            .where(Signature.id == signature.id, LogLeaf.kind == "signature")
        ).one()
        # An erased member's signature keeps its leaf's commitment (see invalidation).
        commitment = signature.commitment or leaves.commitment(petition.log_secret, member_number)
        leaf = leaves.cancelling_leaf("withdrawal", index, commitment, signed_leaf, REASON, now)
        digest = store.append(session, petition, index, "withdrawal", leaf, signature.id)
        # ``invalidated_at`` is when a signature stopped counting, whoever decided: every count,
        # list and chart already leaves it out, and no invalidation can cancel it a second time.
        signature.invalidated_at = now
        signature.withdrawn_at = now
        signature.withdrawal_leaf = index
        return Withdrawal(
            WithdrawalOutcome.WITHDRAWN,
            petition,
            signature.number,
            triggered,
            index,
            digest.hex(),
            count,
        )


def has_counted_signature(session: Session, petition_id: int, member_id: int) -> bool:
    """Whether the member has a signature of the petition that counts (or is about to)."""
    return (
        session.scalar(
            select(Signature.id).where(
                Signature.petition_id == petition_id,
                Signature.member_id == member_id,
                Signature.withdrawn_at.is_(None),
                Signature.invalidated_at.is_(None),
            )
        )
        is not None
    )
