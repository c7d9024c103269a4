"""Signing: asking with an address, answering that mailbox, and confirming the e-mailed link.

Whoever asks gets the same answer, on the roll or not; a member who may sign is mailed their
link at the roll's address for them, and nobody is mailed anything else. A confirmation counts
once because the database refuses a second signature by the same member on the same petition,
not because of a check made before writing.
"""

import logging
import time
from dataclasses import dataclass

from sqlalchemy import insert, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from petitions.config import Settings
from petitions.db.engine import utcnow
from petitions.db.models import (
    Member,
    MemberStatus,
    Petition,
    PetitionState,
    Signature,
    SignRequest,
)
from petitions.lifecycle import rules
from petitions.lifecycle.rules import iso_utc
from petitions.outbox import mail
from petitions.outbox.mail import MailPurpose
from petitions.roll.addresses import parse_address
from petitions.signatures import thresholds, tokens
from petitions.signatures.outcomes import SigningOutcome
from petitions.transparency import leaves, store

MAX_MEMBER_NUMBER = 64
SIGNING_STATES = (PetitionState.OPEN, PetitionState.TRIGGERED)
log = logging.getLogger(__name__)


class SigningError(Exception):
    """A request that cannot be taken; ``code`` is the API's error code."""

    def __init__(self, code: SigningOutcome, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Confirmation:
    """What confirming a link came to: ``status`` is confirmed, already_signed, expired,
    invalid, petition_closed or not_in_good_standing."""

    status: SigningOutcome
    petition: Petition | None = None
    number: int | None = None
    confirmed_at: str | None = None
    link: tokens.SignLink | None = None
    leaf_index: int | None = None
    leaf_hash: bytes | None = None

    @property
    def receipt(self) -> dict | None:
        """The signer's receipt: which petition, which signature, when."""
        if self.number is None or self.petition is None:
            return None
        receipt = {
            "petition": self.petition.slug,
            "number": self.number,
            "confirmed_at": self.confirmed_at,
        }
        if self.leaf_hash is not None:
            receipt["leaf_index"] = self.leaf_index
            receipt["leaf_hash"] = self.leaf_hash.hex()
        return receipt


def public_petition(session: Session, slug: str) -> Petition:
    """The petition ``slug`` unless it is unknown or a draft (SigningError not_found)."""
    petition = rules.find_published(session, slug)
    if petition is None:
        raise SigningError(SigningOutcome.NOT_FOUND, f"there is no petition {slug!r}")
    return petition


def request_signature(
    session: Session,
    slug: str,
    email: str,
    member_number: str | None = None,
    network: str | None = None,
) -> SignRequest:
    """Record a request to sign ``slug`` as ``email``; the answer goes by mail, later.
    ``network`` is the requester's network (kept to spot floods from one place).

    Raises InvalidAddress for a malformed address and SigningError for a petition that is
    unknown or closed, or a membership number that cannot be one; nothing about the roll.
    """
    petition = public_petition(session, slug)
    if rules.effective_state(petition) not in SIGNING_STATES:
        raise SigningError(SigningOutcome.PETITION_CLOSED, "this petition is closed")
    address = parse_address(email)
    number = (member_number or "").strip() or None
    if number is not None and len(number) > MAX_MEMBER_NUMBER:
        raise SigningError(
            SigningOutcome.INVALID_MEMBER_ID, "a membership number has at most 64 characters"
        )
    request = SignRequest(
        petition_id=petition.id,
        email=address.given,
        email_key=address.key,
        member_number=number,
        network=network,
    )
    session.add(request)
    session.flush()
    return request


@dataclass(frozen=True)
class _Roll:
    """What a batch of requests needs from the roll: the members in good standing at each
    matching key (in roll order), and who of them has signed which petition."""

    by_key: dict[str, list[Member]]
    signed: set[tuple[int, int]]


def _roll_for(session: Session, requests: list[SignRequest]) -> _Roll:
    members = session.scalars(
        select(Member)
        .where(
            Member.email_key.in_({r.email_key for r in requests}),
            Member.status == MemberStatus.ACTIVE,
        )
        .order_by(Member.id)
    ).all()
    by_key: dict[str, list[Member]] = {}
    for member in members:
        by_key.setdefault(member.email_key, []).append(member)
    signed = session.execute(
        select(Signature.petition_id, Signature.member_id).where(
            Signature.petition_id.in_({r.petition_id for r in requests}),
            Signature.member_id.in_([m.id for m in members]),
        )
    ).all()
    return _Roll(by_key, {tuple(row) for row in signed})


def _decide(
    request: SignRequest, petition: Petition, roll: _Roll
) -> tuple[MailPurpose, Member | None]:
    """What a request to sign comes to, and the member who is mailed a signing link, if any.

    A typed address may be anyone's, so the only mail a request can cause is the signing link
    of the one member it names, sent to the roll's own address for them (a look-alike that
    folds to a member's matching key may be a stranger's mailbox). Every other outcome is
    recorded for the organisers' figures and mailed to nobody: anyone could otherwise make the
    service write to a lapsed member or a household (README, "Security").
    """
    if rules.effective_state(petition) not in SIGNING_STATES:
        return MailPurpose.PETITION_CLOSED, None
    candidates = roll.by_key.get(request.email_key, [])
    if not candidates:
        return MailPurpose.NOT_IN_GOOD_STANDING, None
    if request.member_number is not None:
        chosen = [m for m in candidates if m.number == request.member_number]
        if not chosen:
            if len(candidates) > 1:
                return MailPurpose.HOUSEHOLD_NEEDS_NUMBER, None
            return MailPurpose.WRONG_NUMBER, None
    elif len(candidates) > 1:
        return MailPurpose.HOUSEHOLD_NEEDS_NUMBER, None
    else:
        chosen = candidates
    member = chosen[0]
    # A member who has signed already still gets their link: confirming it again shows their
    # receipt, which is what a member who asks twice wants to find.
    if (petition.id, member.id) in roll.signed:
        return MailPurpose.ALREADY_SIGNED, member
    return MailPurpose.CONFIRM_LINK, member


def confirm_link_spec(petition: Petition, member_id: int) -> mail.LinkSpec:
    """What the confirmation link for ``member_id`` on ``petition`` is made from: nothing that
    confirms by itself (the token is made, with SECRET_KEY, only when the mail is sent)."""
    return {
        "kind": "confirm",
        "slug": petition.slug,
        "petition_id": petition.id,
        "member_id": member_id,
    }


def make_confirm_link(settings: Settings, spec: mail.LinkSpec) -> str:
    """A fresh confirmation link made from ``spec`` (see confirm_link_spec)."""
    token = tokens.make_token(
        settings.secret_key, settings.secret_key_fallbacks, spec["petition_id"], spec["member_id"]
    )
    return f"{settings.base_url}/p/{spec['slug']}/confirm?token={token}"


def confirm_url(settings: Settings, petition: Petition, member_id: int) -> str:
    """A fresh confirmation link for ``member_id`` on ``petition``."""
    return make_confirm_link(settings, confirm_link_spec(petition, member_id))


def answer_requests(engine: Engine, settings: Settings, request_ids: list[int]) -> dict[int, str]:
    """Decide what each claimed request to sign comes to and queue the signing link it earns,
    if any, all in one commit; return the requests to try again, with why.

    The batch reads the roll once for all its requests and writes in one flush. If something
    in it cannot be answered (a mail that cannot be composed), it is answered again with each
    request in a savepoint of its own, so that only the one that fails waits for its next try.
    """
    started = time.perf_counter()
    try:
        errors = _answer_batch(engine, settings, request_ids, alone=False)
    except Exception as exc:
        log.warning("a batch of requests to sign failed (%s); answering each alone", exc)
        errors = _answer_batch(engine, settings, request_ids, alone=True)
    # One line a batch: where the time goes (bench/sign.py adds these up).
    log.info(
        "sign request batch: %d to try again; decide, compose and commit %.1f ms",
        len(errors),
        (time.perf_counter() - started) * 1000,
    )
    return errors


def _answer_batch(
    engine: Engine, settings: Settings, request_ids: list[int], alone: bool
) -> dict[int, str]:
    errors: dict[int, str] = {}
    with Session(engine) as session, session.begin():
        requests = session.scalars(
            select(SignRequest)
            .where(SignRequest.id.in_(request_ids), SignRequest.done_at.is_(None))
            .order_by(SignRequest.id)
        ).all()
        if not requests:
            return errors
        petitions = {
            petition.id: petition
            for petition in session.scalars(
                select(Petition).where(Petition.id.in_({r.petition_id for r in requests}))
            )
        }
        roll = _roll_for(session, requests)
        for request in requests:
            if not alone:
                _answer(session, settings, request, petitions[request.petition_id], roll)
                continue
            try:
                with session.begin_nested():
                    _answer(session, settings, request, petitions[request.petition_id], roll)
            except Exception as exc:
                errors[request.id] = f"{type(exc).__name__}: {exc}"
    return errors


def _answer(
    session: Session, settings: Settings, request: SignRequest, petition: Petition, roll: _Roll
) -> None:
    outcome, member = _decide(request, petition, roll)
    if member is not None:
        context = {
            "name": member.name,
            "petition": petition,
            "petition_url": f"{settings.base_url}/p/{petition.slug}",
            "max_age_hours": round(settings.confirm_link_max_age / 3600),
        }
        links = {"link": confirm_link_spec(petition, member.id)}
        session.add(
            mail.compose(MailPurpose.CONFIRM_LINK, member.email, context, petition.id, links)
        )
    request.outcome = outcome
    request.done_at = utcnow()
    request.leased_until = None


def read_link(settings: Settings, token: str) -> tokens.SignLink:
    """The link a token names; raises tokens.TokenExpired or tokens.TokenInvalid."""
    return tokens.read_token(
        settings.secret_key,
        settings.secret_key_fallbacks,
        token,
        settings.confirm_link_max_age,
    )


class _Refused(Exception):
    def __init__(self, status: SigningOutcome):
        self.status = status


def _existing_number(engine: Engine, link: tokens.SignLink) -> int | None:
    with Session(engine) as session:
        return session.scalars(
            select(Signature.number).where(
                Signature.petition_id == link.petition_id, Signature.member_id == link.member_id
            )
        ).first()


def confirm(
    engine: Engine, settings: Settings, token: str, slug: str | None = None
) -> Confirmation:
    """Confirm the signature a link names: count it, and trigger the vote if it crossed the
    threshold, all in one transaction.

    ``slug``, when given (the page's address), must be the petition the token names.
    """
    try:
        link = read_link(settings, token)
    except tokens.TokenExpired as exc:
        return Confirmation(
            SigningOutcome.EXPIRED, _load(engine, exc.link.petition_id), link=exc.link
        )
    except tokens.TokenInvalid:
        return Confirmation(SigningOutcome.INVALID)
    now = utcnow()
    try:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            petition = session.get(Petition, link.petition_id)
            if (
                petition is None
                or petition.state == PetitionState.DRAFT
                or (slug and petition.slug != slug)
            ):
                raise _Refused(SigningOutcome.INVALID)
            # Detached: its count and state are written with SQL below, never by the ORM.
            session.expunge(petition)
            member = session.get(Member, link.member_id)
            if member is None:
                raise _Refused(SigningOutcome.INVALID)
            if member.status != MemberStatus.ACTIVE:
                raise _Refused(SigningOutcome.NOT_IN_GOOD_STANDING)
            # Taking the count locks the petition's row until the commit: confirmations of one
            # petition queue here, so exactly one of them can see the count reach the threshold.
            # It comes after the reads to keep that queue short.
            counted = session.execute(
                update(Petition)
                .where(
                    Petition.id == petition.id,
                    Petition.state.in_(SIGNING_STATES),
                    or_(Petition.closes_at.is_(None), Petition.closes_at > now),
                )
                .values(
                    signature_count=Petition.signature_count + 1,
                    last_number=Petition.last_number + 1,
                    log_size=Petition.log_size + 1,
                )
                .returning(
                    Petition.signature_count,
                    Petition.last_number,
                    Petition.log_size,
                    Petition.state,
                )
            ).first()
            if counted is None:
                raise _Refused(SigningOutcome.PETITION_CLOSED)
            count, number, log_size, state = counted
            try:
                signature_id = session.execute(
                    insert(Signature)
                    .values(
                        petition_id=petition.id,
                        member_id=member.id,
                        number=number,
                        nonce=link.nonce,
                        confirmed_at=now,
                    )
                    .returning(Signature.id)
                ).scalar_one()
            except IntegrityError:
                raise _Refused(SigningOutcome.ALREADY_SIGNED) from None
            leaf_index = log_size - 1
            commitment = leaves.commitment(petition.log_secret, member.number)
            leaf = leaves.signature_leaf(leaf_index, commitment, now)
            leaf_hash = store.append(session, petition, leaf_index, "signature", leaf, signature_id)
            petition.state = state
            thresholds.record_crossing(
                session, petition, signature_id, count, log_size, settings, now
            )
    except _Refused as refused:
        already = refused.status == SigningOutcome.ALREADY_SIGNED
        number = _existing_number(engine, link) if already else None
        return Confirmation(refused.status, _load(engine, link.petition_id), number, link=link)
    return Confirmation(
        SigningOutcome.CONFIRMED, petition, number, iso_utc(now), link, leaf_index, leaf_hash
    )


def _load(engine: Engine, petition_id: int) -> Petition | None:
    with Session(engine, expire_on_commit=False) as session:
        return session.get(Petition, petition_id)


def renew_request(
    session: Session, settings: Settings, token: str, slug: str, network: str | None = None
) -> SignRequest:
    """A new request to sign for the member an expired (but genuine) link named, answered at
    their address on the roll; ``network`` is the requester's, recorded as for any request.
    Raises tokens.TokenInvalid for anything but a genuine link."""
    link = tokens.read_token(
        settings.secret_key, settings.secret_key_fallbacks, token, max_age=None
    )
    member = session.get(Member, link.member_id)
    petition = session.get(Petition, link.petition_id)
    if member is None or petition is None or petition.slug != slug:
        raise tokens.TokenInvalid("names no member of this petition")
    return request_signature(session, slug, member.email, member.number, network)
