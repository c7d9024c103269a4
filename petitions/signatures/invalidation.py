"""Invalidating signatures: an organiser decides that some signatures do not count, with a
reason. Nothing is deleted: each signature is marked, the decision recorded (who, when, why) for
scrutineers, the count goes down, and the public log gets a leaf cancelling each one."""

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from petitions import audit
from petitions.config import Settings
from petitions.db.engine import utcnow
from petitions.db.models import Invalidation, LogLeaf, Member, Petition, Signature
from petitions.lifecycle import rules
from petitions.signatures import listing
from petitions.transparency import leaves, store

# Public: a reason code goes into the log. The free-text note stays with the scrutineers.
REASONS = {
    "not_a_member": "the signer was not a member in good standing",
    "duplicate_person": "one person signed twice under two memberships",
    "impersonation": "signed without the member's knowledge",
    "member_request": "the member asked for it to be removed",
    "other": "another reason, given in the note",
}


class InvalidationError(Exception):
    """The invalidation cannot be made; the message says why."""


def invalidate(
    engine: Engine,
    settings: Settings,
    slug: str,
    numbers: list[int],
    reason: str,
    decided_by: str,
    note: str = "",
    now: datetime | None = None,
    audit_actor: str | None = None,
) -> list[Invalidation]:
    """Invalidate the signatures numbered ``numbers`` on petition ``slug``, all or none.

    A triggered petition stays triggered: the vote has been called, and the log shows how the
    count moved afterwards. With ``audit_actor`` (the signed-in person, from the web) the audit
    trail records the decision in the same transaction, so it stands or falls with it.
    """
    if reason not in REASONS:
        raise InvalidationError(f"unknown reason {reason!r}; use one of {', '.join(REASONS)}")
    if not decided_by.strip():
        raise InvalidationError("say who decides (an organiser's name or address)")
    if not numbers:
        raise InvalidationError("name at least one signature number")
    if reason == "other" and not note.strip():
        raise InvalidationError("the reason 'other' needs a note saying what it is")
    now = now or utcnow()
    wanted = sorted(set(numbers))
    with Session(engine, expire_on_commit=False) as session, session.begin():
        petition = rules.find_petition(session, slug)
        if petition is None:
            raise InvalidationError(f"there is no petition {slug!r}")
        session.expunge(petition)
        # The count and the log are taken under the petition's row lock, as signing does.
        counted = session.execute(
            update(Petition)
            .where(Petition.id == petition.id)
            .values(
                signature_count=Petition.signature_count - len(wanted),
                log_size=Petition.log_size + len(wanted),
            )
            .returning(Petition.log_size)
        ).scalar_one()
        rows = session.execute(
            select(Signature, Member.number, LogLeaf.index)
            .join(Member, Member.id == Signature.member_id)
            .join(LogLeaf, (LogLeaf.signature_id == Signature.id) & (LogLeaf.kind == "signature"))
            .where(Signature.petition_id == petition.id, Signature.number.in_(wanted))
            .order_by(Signature.number)
            .with_for_update(of=Signature)
        ).all()
        found = {signature.number for signature, _, _ in rows}
        missing = [number for number in wanted if number not in found]
        if missing:
            raise InvalidationError(f"no signature numbered {', '.join(map(str, missing))}")
        already = [s.number for s, _, _ in rows if s.invalidated_at is not None]
        if already:
            raise InvalidationError(
                f"already invalidated: {', '.join(map(str, already))}; nothing was changed"
            )
        made = []
        next_index = counted - len(wanted)
        for signature, member_number, signed_leaf in rows:
            # An erased member's signature keeps its leaf's commitment; the roll row no
            # longer holds the number it was made from.
            commitment = signature.commitment or leaves.commitment(
                petition.log_secret, member_number
            )
            leaf = leaves.cancelling_leaf(
                "invalidation", next_index, commitment, signed_leaf, reason, now
            )
            store.append(session, petition, next_index, "invalidation", leaf, signature.id)
            signature.invalidated_at = now
            record = Invalidation(
                petition_id=petition.id,
                signature_id=signature.id,
                reason=reason,
                note=note.strip(),
                decided_by=decided_by.strip(),
                decided_at=now,
                leaf_index=next_index,
            )
            session.add(record)
            made.append(record)
            next_index += 1
        if audit_actor is not None:
            event = audit.record(
                session,
                audit_actor,
                "signature.invalidate",
                petition,
                _audit_detail(wanted, reason, note.strip()),
            )
            event.at = now
    return made


def _audit_detail(numbers: list[int], reason: str, note: str) -> str:
    written = listing.format_numbers(numbers)
    detail = f"{len(numbers)} signature(s): {written}; reason {reason}"
    return f"{detail}; note: {note}" if note else detail


def invalidations(session: Session, petition: Petition) -> list[tuple[Invalidation, int]]:
    """Every invalidation of a petition with the number of the signature it concerns."""
    return list(
        session.execute(
            select(Invalidation, Signature.number)
            .join(Signature, Signature.id == Invalidation.signature_id)
            .where(Invalidation.petition_id == petition.id)
            .order_by(Invalidation.id)
        ).all()
    )
