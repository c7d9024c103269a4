"""Signing: asking with an address, answering that mailbox, and confirming the e-mailed link.

Whoever asks gets the same answer, on the roll or not; a member who may sign is mailed their
link at the roll's address for them, and nobody is mailed anything else. A confirmation counts
once because the database refuses a second signature by the same member on the same petition,
not because of a check made before writing.
"""

import logging
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, bindparam, exists, insert, select, true
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from petitions.config import Settings
from petitions.db.engine import reader, utcnow
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
from petitions.outbox import mail, work
from petitions.outbox.mail import MailPurpose
from petitions.roll import member_numbers
from petitions.roll.addresses import parse_address
from petitions.signatures import mail_limits, name_check, sequencer, tokens
from petitions.signatures import withdrawal as withdrawal_links
from petitions.signatures.outcomes import SigningOutcome
from petitions.transparency import leaves, roll_commitment

MAX_MEMBER_NUMBER = 64
SIGNING_STATES = sequencer.SIGNING_STATES
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


# What a request to sign needs of its petition, and its insert, built once: the whole petition
# as an ORM row, and the request inserted through the session's flush, cost a busy web
# process more than the database's work for them (README, "Where the time goes").
_REQUESTED_PETITION = select(Petition.id, Petition.state, Petition.closes_at).where(
    Petition.slug == bindparam("slug")
)
_INSERT_REQUEST = insert(SignRequest.__table__).returning(SignRequest.__table__.c.id)


def request_signature(
    session: Session,
    slug: str,
    email: str,
    member_number: str | None = None,
    network: str | None = None,
    kind: str = "sign",
) -> int:
    """Record a request to sign ``slug`` as ``email``; the answer goes by mail, later. Returns
    the request's id. ``network`` is the requester's network (kept to spot floods from one
    place). With ``kind="manage"`` it asks for the link to withdraw a signature made instead,
    and is answered the same way (petitions.signatures.withdrawal); with
    ``kind="name_check"``, whether a signature is counted in the member's name
    (petitions.signatures.name_check), which may be asked after the close too.

    Raises InvalidAddress for a malformed address and SigningError for a petition that is
    unknown or closed, or a membership number that cannot be one; nothing about the roll.
    """
    connection = session.connection()
    petition = connection.execute(_REQUESTED_PETITION, {"slug": slug}).first()
    if petition is None or petition.state == PetitionState.DRAFT:
        raise SigningError(SigningOutcome.NOT_FOUND, f"there is no petition {slug!r}")
    # Whether one's name was used can be asked after the close too: the log stays public.
    now = utcnow()
    state = rules.state_at(PetitionState(petition.state), petition.closes_at, now)
    if kind != "name_check" and state not in SIGNING_STATES:
        raise SigningError(SigningOutcome.PETITION_CLOSED, "this petition is closed")
    address = parse_address(email)
    number = (member_number or "").strip() or None
    if number is not None and len(number) > MAX_MEMBER_NUMBER:
        raise SigningError(
            SigningOutcome.INVALID_MEMBER_ID, "a membership number has at most 64 characters"
        )
    request_id = connection.execute(
        _INSERT_REQUEST,
        {
            "petition_id": petition.id,
            "email": address.given,
            "email_key": address.key,
            "member_number": number,
            "network": network,
            "kind": kind,
            "created_at": now,
            "next_attempt_at": now,
            "attempts": 0,
        },
    ).scalar_one()
    work.written(session, work.WorkItem(work.WorkKind.SIGN_REQUEST, request_id, 0))
    return request_id


@dataclass(frozen=True)
class _Roll:
    """What a batch of requests needs from the roll: the members at each matching key (in roll
    order, whatever their standing), who of them has signed which petition, and who of them is
    on each petition's committed roll."""

    by_key: dict[str, list[Member]]
    signed: set[tuple[int, int]]
    committed: dict[int, set[str]]

    def eligible(self, petition: Petition, member: Member) -> bool:
        """Whether ``member`` may sign ``petition``: on its committed roll, whatever their
        standing now (later imports change nobody's eligibility until a re-commit), or, for a
        petition without one, in good standing on the roll."""
        if petition.roll_generation is not None:
            return member.number in self.committed.get(petition.id, set())
        return member.status == MemberStatus.ACTIVE


def _roll_for(session: Session, requests: list[SignRequest], petitions: dict) -> _Roll:
    members = session.scalars(
        select(Member)
        .where(Member.email_key.in_({r.email_key for r in requests}))
        .order_by(Member.id)
    ).all()
    by_key: dict[str, list[Member]] = {}
    for member in members:
        by_key.setdefault(member.email_key, []).append(member)
    signed = session.execute(
        select(Signature.petition_id, Signature.member_id).where(
            Signature.petition_id.in_({r.petition_id for r in requests}),
            Signature.member_id.in_([m.id for m in members]),
            Signature.withdrawn_at.is_(None),
        )
    ).all()
    committed = {}
    for petition_id in {r.petition_id for r in requests}:
        petition = petitions[petition_id]
        if petition.roll_generation is not None:
            committed[petition_id] = roll_commitment.committed_numbers(
                session, petition, (m.number for m in members)
            )
    return _Roll(by_key, {tuple(row) for row in signed}, committed)


def _in_good_standing(member: Member) -> bool:
    return member.status == MemberStatus.ACTIVE


def _named(
    email_key: str, member_number: str | None, roll: _Roll, admits=_in_good_standing
) -> tuple[MailPurpose | None, Member | None]:
    """The one member a request names (its address's matching key, and its membership number if
    it gives one) among those ``admits`` (by default the members in good standing), or why
    there is none."""
    candidates = [member for member in roll.by_key.get(email_key, []) if admits(member)]
    if not candidates:
        return MailPurpose.NOT_IN_GOOD_STANDING, None
    if member_number is not None:
        chosen = member_numbers.matching(member_number, candidates)
        if not chosen:
            if len(candidates) > 1:
                return MailPurpose.HOUSEHOLD_NEEDS_NUMBER, None
            return MailPurpose.WRONG_NUMBER, None
        if len(chosen) > 1:
            # Numbers that differ only in case, and a typed one that is neither exactly: which
            # member is meant cannot be told, so nobody is picked.
            return MailPurpose.WRONG_NUMBER, None
    elif len(candidates) > 1:
        return MailPurpose.HOUSEHOLD_NEEDS_NUMBER, None
    else:
        chosen = candidates
    return None, chosen[0]


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
    # A member who has signed stays one the request may name (for their receipt, or the link
    # to withdraw), even if a re-commit has left them off the roll since.
    refused, member = _named(
        request.email_key,
        request.member_number,
        roll,
        lambda member: roll.eligible(petition, member) or (petition.id, member.id) in roll.signed,
    )
    if member is None:
        # A member in good standing who is not on the roll committed for this petition (they
        # joined after it opened, or since its last re-commit) is told apart from one who is
        # not a member in good standing at all, for the organisers' figures.
        at_key = roll.by_key.get(request.email_key, [])
        if refused == MailPurpose.NOT_IN_GOOD_STANDING and any(map(_in_good_standing, at_key)):
            return MailPurpose.NOT_ON_COMMITTED_ROLL, None
        return refused, None
    # A member who has signed already still gets their link: confirming it again shows their
    # receipt, which is what a member who asks twice wants to find.
    if (petition.id, member.id) in roll.signed:
        return MailPurpose.ALREADY_SIGNED, member
    return MailPurpose.CONFIRM_LINK, member


def match_member(request: SignRequest, roll: _Roll) -> Member | MailPurpose:
    """The one member in good standing a request names (by its address's matching key, and its
    membership number where a household shares the address), or why it names none."""
    refused, member = _named(request.email_key, request.member_number, roll)
    return refused if member is None else member


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
        roll = _roll_for(session, requests, petitions)
        ledger = _ledger(session, settings, requests, roll)
        for request in requests:
            petition = petitions[request.petition_id]
            if not alone:
                _answer(session, settings, request, petition, roll, ledger)
                continue
            try:
                with session.begin_nested():
                    _answer(session, settings, request, petition, roll, ledger)
            except Exception as exc:
                errors[request.id] = f"{type(exc).__name__}: {exc}"
    return errors


def _ledger(
    session: Session, settings: Settings, requests: list[SignRequest], roll: _Roll
) -> mail_limits.Ledger:
    """The links lately mailed to the batch's mailboxes, under SIGN_LIMIT_PER_ADDRESS."""

    def member_of(email_key: str, member_number: str | None) -> int | None:
        member = _named(email_key, member_number, roll)[1]
        return None if member is None else member.id

    budget = mail_limits.Budget.of(settings.sign_limit_per_address, settings.confirm_link_max_age)
    keys = {request.email_key for request in requests}
    return mail_limits.Ledger.load(session, budget, keys, utcnow(), member_of)


def _answer(
    session: Session,
    settings: Settings,
    request: SignRequest,
    petition: Petition,
    roll: _Roll,
    ledger: mail_limits.Ledger,
) -> None:
    if request.kind == "name_check":
        found = match_member(request, roll)
        if isinstance(found, MailPurpose):
            request.outcome = found
        elif ledger.used_up(request.email_key):
            # Answers count towards the mailbox's limit like links, so that a stranger cannot
            # flood a member with them; past it the member has had an answer within the hour.
            request.outcome = MailPurpose.ALREADY_MAILED
        else:
            request.outcome = name_check.answer(session, settings, petition, found)
            ledger.record(request.email_key, (petition.id, request.kind, found.id))
        request.done_at = utcnow()
        request.leased_until = None
        return
    outcome, member = _decide(request, petition, roll)
    if request.kind == "manage":
        # Only a member who has signed (and has not withdrawn) has a signature to manage; the
        # link goes to nobody else, and what the request came to is kept apart from signing's.
        if outcome == MailPurpose.ALREADY_SIGNED:
            outcome = MailPurpose.MANAGE_LINK
        else:
            outcome, member = MailPurpose.NOT_SIGNED, None
    link = None if member is None else (petition.id, request.kind, member.id)
    if link is not None and ledger.answered_by_earlier_mail(request.email_key, link):
        # The mailbox has had its links for now and holds this one, still working.
        outcome, member = MailPurpose.ALREADY_MAILED, None
    if member is not None and outcome == MailPurpose.MANAGE_LINK:
        session.add(
            mail.compose(
                MailPurpose.MANAGE_LINK,
                member.email,
                {
                    "name": member.name,
                    "petition": petition,
                    "max_age_hours": round(settings.confirm_link_max_age / 3600),
                    "button": "Withdraw my signature",
                },
                petition.id,
                {"link": withdrawal_links.manage_link_spec(petition, member.id)},
                organisation=settings.organisation,
            )
        )
    elif member is not None:
        context = {
            "name": member.name,
            "petition": petition,
            "petition_url": f"{settings.base_url}/p/{petition.slug}",
            "max_age_hours": round(settings.confirm_link_max_age / 3600),
        }
        links = {"link": confirm_link_spec(petition, member.id)}
        session.add(
            mail.compose(
                MailPurpose.CONFIRM_LINK,
                member.email,
                context,
                petition.id,
                links,
                organisation=settings.organisation,
            )
        )
    if member is not None:
        ledger.record(request.email_key, link)
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
    def __init__(self, status: SigningOutcome, number: int | None = None):
        self.status = status
        self.number = number


def _erased_signature(petition_id: int):
    """A signature of the petition whose member's data was erased (it keeps its commitment)."""
    return (Signature.petition_id == petition_id) & Signature.commitment.is_not(None)


def _refuse_if_signed_before_erasure(session: Session, petition: Petition, member: Member):
    """Raise _Refused(ALREADY_SIGNED) if the member signed before their data was erased and the
    roll brought them back: their old signature, still standing, carries their commitment."""
    commitment = leaves.commitment(petition.log_secret, member.number)
    number = session.scalar(
        select(Signature.number).where(
            _erased_signature(petition.id),
            Signature.commitment == commitment,
            Signature.withdrawn_at.is_(None),
        )
    )
    if number is not None:
        raise _Refused(SigningOutcome.ALREADY_SIGNED, number)


def _existing_signature(engine: Engine, link: tokens.SignLink) -> tuple[int, int | None] | None:
    """(id, number) of the link's member's signature of its petition, if there is one."""
    with Session(reader(engine)) as session:
        row = session.execute(
            select(Signature.id, Signature.number).where(
                Signature.petition_id == link.petition_id,
                Signature.member_id == link.member_id,
                Signature.withdrawn_at.is_(None),
            )
        ).first()
    return None if row is None else (row.id, row.number)


def confirm(
    engine: Engine, settings: Settings, token: str, slug: str | None = None
) -> Confirmation:
    """Confirm the signature a link names: record it, then count it (and trigger the vote if
    it crossed the threshold) in the sequencer's next batch, which this request runs itself.

    ``slug``, when given (the page's address), must be the petition the token names. The
    signature is inserted and committed without the petition's row lock; the lock is taken only
    by the sequencer's batch (README, "Confirming at scale"). Should this request stop between
    the two, the signature waits for housekeeping's sequencer, which counts it within seconds.
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
    # One connection for both transactions and the receipt: a checkout (and its ping) each
    # would cost as much as the statements.
    with engine.connect() as connection:
        try:
            signature_id, petition = _record(connection, link, slug, now)
        except _Refused as refused:
            connection.close()
            return _refusal(engine, settings, link, refused.status, refused.number)
        sequenced = sequencer.sequence_petition(connection, settings, petition.id, signature_id)
    if sequenced is None:
        return Confirmation(SigningOutcome.PETITION_CLOSED, petition, link=link)
    return Confirmation(
        SigningOutcome.CONFIRMED,
        petition,
        sequenced.number,
        iso_utc(sequenced.confirmed_at),
        link,
        sequenced.leaf_index,
        sequenced.leaf_hash,
    )


# The statements of every confirmation, built once: building and keying them per request
# cost more of the web's CPU than the database's work for them (README, "Where the time goes").
_CONFIRMING = (
    select(
        Petition,
        Member,
        exists().where(_erased_signature(bindparam("petition_id", type_=Integer))),
    )
    .join(Member, true())
    .where(Petition.id == bindparam("petition_id"), Member.id == bindparam("member_id"))
)
_INSERT_SIGNATURE = insert(Signature.__table__).returning(Signature.__table__.c.id)


def _record(
    connection: Connection, link: tokens.SignLink, slug: str | None, now: datetime
) -> tuple[int, Petition]:
    """Insert the link's signature, not yet numbered, and commit; return its id and the
    petition (detached). Raises _Refused with the outcome when there is nothing to insert."""
    with Session(bind=connection, expire_on_commit=False) as session, session.begin():
        # Both rows in one round trip: two primary-key lookups joined on nothing, and whether
        # the petition has signatures of erased members (an index lookup, nearly always none).
        found = session.execute(
            _CONFIRMING, {"petition_id": link.petition_id, "member_id": link.member_id}
        ).first()
        if found is None:
            raise _Refused(SigningOutcome.INVALID)
        petition, member, has_erased = found
        if petition.state == PetitionState.DRAFT or (slug and petition.slug != slug):
            raise _Refused(SigningOutcome.INVALID)
        if petition.roll_generation is None:
            if member.status != MemberStatus.ACTIVE:
                raise _Refused(SigningOutcome.NOT_IN_GOOD_STANDING)
        elif not roll_commitment.is_committed(session, petition, member.number):
            # Later imports change nobody's eligibility for a petition with a committed roll:
            # a member on it signs whatever their standing now, one not on it cannot sign. One
            # who signed before a re-commit left them off is told they have signed.
            if _has_signed(session, petition.id, member.id):
                raise _Refused(SigningOutcome.ALREADY_SIGNED)
            raise _Refused(
                SigningOutcome.NOT_ON_COMMITTED_ROLL
                if member.status == MemberStatus.ACTIVE
                else SigningOutcome.NOT_IN_GOOD_STANDING
            )
        # Read without a lock: a close committed after this read is seen by the sequencer,
        # which refuses what it finds waiting on a closed petition.
        if rules.effective_state(petition, now) not in SIGNING_STATES:
            raise _Refused(SigningOutcome.PETITION_CLOSED)
        if has_erased:
            _refuse_if_signed_before_erasure(session, petition, member)
        try:
            inserted = session.connection().execute(
                _INSERT_SIGNATURE,
                {
                    "petition_id": petition.id,
                    "member_id": member.id,
                    "number": None,
                    "nonce": link.nonce,
                    "confirmed_at": now,
                },
            )
        except IntegrityError:
            raise _Refused(SigningOutcome.ALREADY_SIGNED) from None
        signature_id = inserted.scalar_one()
    return signature_id, petition


def _has_signed(session: Session, petition_id: int, member_id: int) -> bool:
    return (
        session.scalar(
            select(Signature.id).where(
                Signature.petition_id == petition_id,
                Signature.member_id == member_id,
                Signature.withdrawn_at.is_(None),
            )
        )
        is not None
    )


def _refusal(
    engine: Engine,
    settings: Settings,
    link: tokens.SignLink,
    status: SigningOutcome,
    number: int | None = None,
) -> Confirmation:
    """The answer to a confirmation that counted nothing; "already signed" carries the number
    of the member's signature (``number`` when known already), counting it first if it is
    still waiting for the sequencer."""
    if status == SigningOutcome.ALREADY_SIGNED and number is None:
        existing = _existing_signature(engine, link)
        if existing is not None and existing[1] is None:
            sequencer.sequence_petition(engine, settings, link.petition_id)
            existing = _existing_signature(engine, link)
        if existing is None:
            # It was waiting when the petition closed, and was refused.
            status = SigningOutcome.PETITION_CLOSED
        else:
            number = existing[1]
    return Confirmation(status, _load(engine, link.petition_id), number, link=link)


def _load(engine: Engine, petition_id: int) -> Petition | None:
    with Session(engine, expire_on_commit=False) as session:
        return session.get(Petition, petition_id)


def renew_request(
    session: Session, settings: Settings, token: str, slug: str, network: str | None = None
) -> int:
    """A new request to sign for the member an expired (but genuine) link named, answered at
    their address on the roll; ``network`` is the requester's, recorded as for any request.
    Returns the request's id. Raises tokens.TokenInvalid for anything but a genuine link."""
    link = tokens.read_token(
        settings.secret_key, settings.secret_key_fallbacks, token, max_age=None
    )
    member = session.get(Member, link.member_id)
    petition = session.get(Petition, link.petition_id)
    if member is None or petition is None or petition.slug != slug:
        raise tokens.TokenInvalid("names no member of this petition")
    return request_signature(session, slug, member.email, member.number, network)
