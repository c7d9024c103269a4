"""The committed roll: which members count for a petition, fixed when it opens and changed only
by an organiser's recorded, public re-commit (README, "The committed roll").

A generation of the committed roll is the set of its eligible members' commitments (the same
HMAC-SHA256 of the member number under the petition's own key as the signature leaves carry),
stored for signing to look members up in, and published as its size and the RFC 6962 root over
the commitments sorted bytewise (so the root says nothing about the roll's order): in a leaf of
the petition's log, signed with the log's Ed25519 key. At opening it is the log's first leaf.
A scrutineer holding the key and a roll file recomputes the root and compares.
"""

import base64
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import bindparam, exists, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from petitions import audit
from petitions.config import Settings
from petitions.db.engine import session_scope, utcnow
from petitions.db.models import CommittedMember, Member, MemberStatus, Petition, RollCommitment
from petitions.lifecycle import rules
from petitions.transparency import leaves, merkle, store

RECOMMIT_ACTION = "petition.recommit"
REASON_MAX = 2000
_SQLITE_BATCH = 5000
_SQLITE_INSERT = (
    "INSERT INTO committed_member (petition_id, generation, commitment) VALUES (?, ?, ?)"
)


def member_commitment(key: bytes, member_number: str) -> bytes:
    """A member's commitment as 32 bytes (the hex of it is what log leaves carry)."""
    return hmac.digest(key, member_number.encode(), "sha256")


def sorted_commitments(key: bytes, member_numbers: Iterable[str]) -> list[bytes]:
    """The commitments of ``member_numbers`` under ``key``, sorted bytewise, without repeats."""
    return sorted({member_commitment(key, number) for number in member_numbers})


def roll_root(commitments: list[bytes]) -> str:
    """The hex RFC 6962 root over ``commitments`` (sorted), each leaf the commitment's 32 bytes."""
    return merkle.root_of(commitments).hex()


def signed_message(slug: str, fields: dict) -> bytes:
    """The exact bytes a committed roll's signature covers: its fields, naming the petition."""
    return leaves.encode({**fields, "petition": slug})


def check_signature(public_key: str, slug: str, fields: dict, signature: str) -> bool:
    """Whether ``signature`` (base64) signs the committed roll ``fields`` of petition ``slug``
    under ``public_key`` (base64 Ed25519)."""
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key, validate=True))
        key.verify(base64.b64decode(signature, validate=True), signed_message(slug, fields))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def statement_fields(row: RollCommitment) -> dict:
    """The fields a stored generation states and signs (see leaves.roll_commitment_fields)."""
    return leaves.roll_commitment_fields(
        row.generation, row.root_hash, row.eligible_count, row.previous_count, row.committed_at
    )


def as_json(row: RollCommitment) -> dict:
    """A generation as the evidence pack and the API publish it."""
    return {
        **statement_fields(row),
        "leaf_index": row.leaf_index,
        "signature": row.signature,
    }


def _eligible_numbers(session: Session) -> list[str]:
    # One statement, so one snapshot of the roll: a roll import committing meanwhile is seen
    # whole or not at all, and the count is the set's own size (README, "The committed roll").
    return list(session.scalars(select(Member.number).where(Member.status == MemberStatus.ACTIVE)))


def _store_members(session: Session, petition_id: int, generation: int, found: list[bytes]):
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        cursor = connection.connection.driver_connection.cursor()
        with (
            cursor,
            cursor.copy(
                "COPY committed_member (petition_id, generation, commitment) FROM STDIN"
            ) as copy,
        ):
            for commitment in found:
                copy.write_row((petition_id, generation, commitment))
        return
    # The driver's own executemany: the ORM's bulk insert costs more than the rows do.
    cursor = connection.connection.driver_connection.cursor()
    try:
        for start in range(0, len(found), _SQLITE_BATCH):
            cursor.executemany(
                _SQLITE_INSERT,
                [
                    (petition_id, generation, value)
                    for value in found[start : start + _SQLITE_BATCH]
                ],
            )
    finally:
        cursor.close()


def in_force(session: Session, petition: Petition) -> RollCommitment | None:
    """The generation of ``petition``'s committed roll in force, or None for a petition opened
    before rolls were committed (and never re-committed)."""
    if petition.roll_generation is None:
        return None
    return session.scalars(
        select(RollCommitment).where(
            RollCommitment.petition_id == petition.id,
            RollCommitment.generation == petition.roll_generation,
        )
    ).one()


def commit_roll(
    session: Session,
    settings: Settings,
    petition: Petition,
    now: datetime,
    actor: str,
    reason: str = "",
) -> RollCommitment:
    """Commit the roll's eligible members as the petition's next generation, in the caller's
    transaction: store their commitments, append the signed roll_commitment leaf at the end of
    the log and make the generation the one in force.

    The caller holds the petition's row lock (as every append does) and has ``petition``
    attached to ``session``, read under that lock.
    """
    key = bytes.fromhex(petition.log_secret)
    found = sorted_commitments(key, _eligible_numbers(session))
    previous = in_force(session, petition)
    generation = (petition.roll_generation or 0) + 1
    moment = now.replace(microsecond=0)
    fields = leaves.roll_commitment_fields(
        generation,
        roll_root(found),
        len(found),
        previous.eligible_count if previous is not None else None,
        moment,
    )
    signature = base64.b64encode(
        store.signing_key(settings).sign(signed_message(petition.slug, fields))
    ).decode()
    index = petition.log_size
    _store_members(session, petition.id, generation, found)
    store.append(
        session,
        petition,
        index,
        "roll_commitment",
        leaves.roll_commitment_leaf(index, fields, signature),
    )
    row = RollCommitment(
        petition_id=petition.id,
        generation=generation,
        root_hash=fields["root_hash"],
        eligible_count=len(found),
        previous_count=fields.get("previous_count"),
        committed_at=moment,
        signature=signature,
        leaf_index=index,
        committed_by=actor,
        reason=reason,
    )
    session.add(row)
    petition.log_size = index + 1
    petition.roll_generation = generation
    session.add(petition)
    session.flush()
    return row


def committer(settings: Settings, actor: str):
    """What opening a petition calls to commit its roll (lifecycle.rules.open_petition's
    ``commit_roll``): commits generation 1 and returns its eligible count."""

    def commit(session: Session, petition: Petition, now: datetime) -> int:
        return commit_roll(session, settings, petition, now, actor).eligible_count

    return commit


# Built once: every confirmation asks it (README, "Where the time goes").
_IS_COMMITTED = select(
    exists().where(
        CommittedMember.petition_id == bindparam("petition_id"),
        CommittedMember.generation == bindparam("generation"),
        CommittedMember.commitment == bindparam("commitment"),
    )
)


def is_committed(session: Session, petition: Petition, member_number: str) -> bool:
    """Whether the member counts for ``petition``: their commitment is in the generation in
    force. A petition opened before rolls were committed has none, and counts the live roll."""
    if petition.roll_generation is None:
        return True
    commitment = member_commitment(bytes.fromhex(petition.log_secret), member_number)
    # A plain value: on the connection, without the ORM's layer.
    found = session.connection().execute(
        _IS_COMMITTED,
        {
            "petition_id": petition.id,
            "generation": petition.roll_generation,
            "commitment": commitment,
        },
    )
    return bool(found.scalar())


def committed_numbers(
    session: Session, petition: Petition, member_numbers: Iterable[str]
) -> set[str]:
    """Which of ``member_numbers`` are in the petition's generation in force (all of them for a
    petition without a committed roll), in one query."""
    numbers = set(member_numbers)
    if petition.roll_generation is None or not numbers:
        return numbers
    key = bytes.fromhex(petition.log_secret)
    by_commitment = {member_commitment(key, number): number for number in numbers}
    found = session.scalars(
        select(CommittedMember.commitment).where(
            CommittedMember.petition_id == petition.id,
            CommittedMember.generation == petition.roll_generation,
            CommittedMember.commitment.in_(list(by_commitment)),
        )
    )
    return {by_commitment[bytes(value)] for value in found}


def generations(session: Session, petition_id: int) -> list[RollCommitment]:
    """Every generation of the petition's committed roll, oldest first."""
    return list(
        session.scalars(
            select(RollCommitment)
            .where(RollCommitment.petition_id == petition_id)
            .order_by(RollCommitment.generation)
        )
    )


def committed_set(session: Session, petition: Petition, generation: int) -> set[bytes]:
    """The commitments of one generation (for recounting from the database)."""
    return {
        bytes(value)
        for value in session.scalars(
            select(CommittedMember.commitment).where(
                CommittedMember.petition_id == petition.id,
                CommittedMember.generation == generation,
            )
        )
    }


@dataclass(frozen=True)
class Recommit:
    """What a re-commit did: the petition, the generation it replaced (None when the petition
    had none) and the new one."""

    petition: Petition
    previous: RollCommitment | None
    current: RollCommitment


def _validate_reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise rules.PetitionError("give the reason for re-committing the roll", "reason")
    if len(reason) > REASON_MAX:
        raise rules.PetitionError(
            f"the reason is {len(reason)} characters long; the limit is {REASON_MAX}", "reason"
        )
    if "\x00" in reason:
        raise rules.PetitionError("the reason must not contain NUL characters", "reason")
    return reason


def recommit(
    engine: Engine,
    settings: Settings,
    actor: str,
    slug: str,
    reason: str,
    *,
    committed_by: str | None = None,
    now: datetime | None = None,
) -> Recommit:
    """Commit the roll as it stands now as the next generation of the open or triggered
    petition ``slug``: from then on, members count for it by the new generation. Signatures
    already counted stay counted (`log recount` lists any outside the generation in force).
    Recorded in the audit trail with the reason; published as a signed leaf with both counts.
    Raises PetitionError, writing nothing, for a petition that is not signing or no reason.

    ``actor`` is who the audit trail names (the signed-in person, or ``command line``), and
    ``committed_by`` who decided, when the command line names them (``--by``)."""
    reason = _validate_reason(reason)
    committed_by = (committed_by or "").strip() or actor
    now = now or utcnow()
    with session_scope(engine) as session:
        # FOR NO KEY UPDATE, the lock the sequencer, invalidations and heads take: appends to
        # one petition's log follow one another (README, "Confirming at scale").
        petition = session.scalars(
            select(Petition)
            .where(Petition.slug == slug)
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        ).first()
        if petition is None:
            raise rules.PetitionError(f"no petition with slug {slug!r}")
        state = rules.effective_state(petition, now)
        if state not in rules.LIVE_STATES:
            raise rules.PetitionError(
                f"petition {slug!r} is {state}; only an open petition's roll can be re-committed"
            )
        previous = in_force(session, petition)
        current = commit_roll(session, settings, petition, now, committed_by, reason)
        audit.record(session, actor, RECOMMIT_ACTION, petition, describe(previous, current))
    return Recommit(petition, previous, current)


def describe(previous: RollCommitment | None, current: RollCommitment) -> str:
    """The audit trail's note of a (re-)commit: both counts, the new root, and why."""
    before = (
        f"{previous.eligible_count:,} eligible members (generation {previous.generation})"
        if previous is not None
        else "no committed roll"
    )
    note = (
        f"roll re-committed: {before} -> {current.eligible_count:,} eligible members "
        f"(generation {current.generation}, root {current.root_hash}, log entry "
        f"{current.leaf_index + 1})"
    )
    return f"{note}; decided by {current.committed_by}; reason: {current.reason}"


@dataclass(frozen=True)
class RollChanges:
    """How the roll now differs from the committed roll in force: members in good standing now,
    those of them not on it (joined since), and those on it who are not in good standing now
    (lapsed, suspended or gone) but still count for the petition until a re-commit."""

    active_now: int
    joined: int
    left: int


def roll_changes(session: Session, petition: Petition) -> RollChanges:
    """Compare the roll as it stands with the petition's committed roll in force (for the page
    where an organiser decides whether to re-commit)."""
    now_set = set(
        sorted_commitments(bytes.fromhex(petition.log_secret), _eligible_numbers(session))
    )
    if petition.roll_generation is None:
        return RollChanges(len(now_set), len(now_set), 0)
    committed = committed_set(session, petition, petition.roll_generation)
    return RollChanges(len(now_set), len(now_set - committed), len(committed - now_set))
