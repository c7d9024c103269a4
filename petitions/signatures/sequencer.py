"""The sequencer: counts confirmed signatures in batches, under the petition's row lock.

Confirming a link only inserts the signature, unnumbered, and commits, without touching the
petition's row: the unique (petition, member) constraint alone refuses a second signature. The
sequencer then takes the petition's row lock and, in one short transaction, gives every
signature still waiting its number and its leaf of the log, adds them to the count, and decides
the crossing there: a batch per lock, one commit per batch, like a Certificate Transparency log
merging its submissions. The confirming request runs it at once (whichever request holds the
lock counts the others' signatures too), and housekeeping runs it every second for whatever a
crash left waiting (README, "Confirming at scale").
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from petitions.config import Settings
from petitions.db.engine import utcnow
from petitions.db.models import LogLeaf, Member, Petition, PetitionState, Signature
from petitions.signatures import thresholds
from petitions.transparency import leaves, store

SIGNING_STATES = (PetitionState.OPEN, PetitionState.TRIGGERED)


@dataclass(frozen=True)
class Sequenced:
    """A counted signature: its number, when it was confirmed, and its leaf of the log."""

    number: int
    confirmed_at: datetime
    leaf_index: int
    leaf_hash: bytes


@dataclass(frozen=True)
class Batch:
    """What one turn of the sequencer did: the receipts it knows (by signature id: those it
    counted, and the one asked for if an earlier turn counted it), the ids it refused, and how
    many it counted."""

    receipts: dict[int, Sequenced]
    refused: tuple[int, ...] = ()
    counted: int = 0

    @property
    def changed(self) -> bool:
        """Whether anything was written."""
        return bool(self.counted or self.refused)


# The statements of every batch, built once: building and keying them per confirmation cost
# more of the web's CPU than the database's work for them (README, "Where the time goes").
_LOCK = (
    select(Petition).where(Petition.id == bindparam("petition_id")).with_for_update(key_share=True)
)
# Trying for the lock, which most confirming requests of a surge find taken: the row's id on
# the connection, without the ORM's machinery for a petition that is then not read.
_TRY_LOCK = (
    select(Petition.id)
    .where(Petition.id == bindparam("petition_id"))
    .with_for_update(key_share=True, skip_locked=True)
)
# A signature's leaf of the log, if it has one yet.
_SIGNATURE_LEAF = (LogLeaf.signature_id == Signature.id) & (LogLeaf.kind == "signature")
_ROWS = (
    select(
        Signature.id,
        Signature.number.label("signature_number"),
        Signature.confirmed_at,
        Member.number,
        LogLeaf.index,
        LogLeaf.leaf_hash,
    )
    .join(Member, Member.id == Signature.member_id)
    .outerjoin(LogLeaf, _SIGNATURE_LEAF)
    .order_by(Signature.id)
)
_WAITING = _ROWS.where(
    Signature.petition_id == bindparam("petition_id"), Signature.number.is_(None)
)
# ... and the one signature asked about, which an earlier batch may have counted.
_WAITING_OR_ASKED = _ROWS.where(
    Signature.petition_id == bindparam("petition_id"),
    or_(Signature.number.is_(None), Signature.id == bindparam("signature_id")),
)
_NUMBER = (
    update(Signature.__table__)
    .where(Signature.__table__.c.id == bindparam("signature_id"))
    .values(number=bindparam("signature_number"))
)
_petitions = Petition.__table__.c
_ADD = (
    update(Petition.__table__)
    .where(_petitions.id == bindparam("petition_id"))
    .values(
        signature_count=_petitions.signature_count + bindparam("added"),
        last_number=_petitions.last_number + bindparam("added"),
        log_size=_petitions.log_size + bindparam("added"),
    )
)

# A confirming request that waits out another's batch: the share lock it waits with, and the
# receipt it then reads.
_SHARE = (
    select(Petition.id).where(Petition.id == bindparam("petition_id")).with_for_update(read=True)
)
_RECEIPT = (
    select(Signature.number, Signature.confirmed_at, LogLeaf.index, LogLeaf.leaf_hash)
    .outerjoin(LogLeaf, _SIGNATURE_LEAF)
    .where(Signature.id == bindparam("signature_id"))
)


def sequence(
    session: Session,
    settings: Settings,
    petition_id: int,
    now: datetime,
    signature_id: int | None = None,
    skip_locked: bool = False,
) -> Batch | None:
    """Count every signature of the petition still waiting, in the caller's transaction.

    Takes the petition's row lock (as FOR NO KEY UPDATE, which confirmations' inserts do not
    wait for) and holds it until the caller's commit, so batches of one petition follow one
    another, as do invalidations, closes and signed heads, which take the same lock. A signature
    waiting when the petition has closed, or confirmed at or after its closing time, is refused:
    deleted, as if its confirmation had come after the close (it was never counted, and its
    member was never told it was).

    With ``signature_id``, the batch also carries that signature's receipt if an earlier batch
    counted it (read in the same query as the waiting ones, to keep the lock's turn short).
    With ``skip_locked``, returns None at once, doing nothing, when another transaction holds
    the lock.
    """
    if skip_locked:
        tried = session.connection().execute(_TRY_LOCK, {"petition_id": petition_id}).first()
        if tried is None:
            return None
    # Takes the lock; after a successful try, which holds it already, only reads the row.
    petition = session.scalars(_LOCK, {"petition_id": petition_id}).one_or_none()
    if petition is None:
        raise LookupError(f"no petition {petition_id}")
    # Detached: its count and state are written with SQL below, never by the ORM.
    session.expunge(petition)
    rows = session.execute(
        _WAITING if signature_id is None else _WAITING_OR_ASKED,
        {"petition_id": petition_id, "signature_id": signature_id},
    ).all()
    earlier = {
        row.id: Sequenced(row.signature_number, row.confirmed_at, row.index, bytes(row.leaf_hash))
        for row in rows
        if row.signature_number is not None
    }
    waiting = [row for row in rows if row.signature_number is None]
    if not waiting:
        return Batch(earlier)
    signing = petition.state in SIGNING_STATES
    counted = [
        row
        for row in waiting
        if signing and (petition.closes_at is None or row.confirmed_at < petition.closes_at)
    ]
    taken = {row.id for row in counted}
    refused = tuple(row.id for row in waiting if row.id not in taken)
    if refused:
        session.execute(delete(Signature).where(Signature.id.in_(refused)))
    if not counted:
        return Batch(earlier, refused)

    first_number, first_index = petition.last_number + 1, petition.log_size
    entries = []
    for offset, row in enumerate(counted):
        commitment = leaves.commitment(petition.log_secret, row.number)
        leaf = leaves.signature_leaf(first_index + offset, commitment, row.confirmed_at)
        entries.append(("signature", leaf, row.id))
    hashes = store.append_many(session, petition, first_index, entries)
    session.execute(
        _NUMBER,
        [
            {"signature_id": row.id, "signature_number": first_number + offset}
            for offset, row in enumerate(counted)
        ],
    )
    added = len(counted)
    session.execute(_ADD, {"petition_id": petition_id, "added": added})
    _decide_crossing(session, settings, petition, counted, now)
    return Batch(
        {
            **earlier,
            **{
                row.id: Sequenced(
                    first_number + offset, row.confirmed_at, first_index + offset, digest
                )
                for offset, (row, digest) in enumerate(zip(counted, hashes, strict=True))
            },
        },
        refused,
        len(counted),
    )


def _decide_crossing(
    session: Session, settings: Settings, petition: Petition, counted: list, now: datetime
) -> None:
    """Trigger the petition at the signature of the batch whose count reaches the threshold.

    The count moved from ``petition.signature_count`` by one per signature of the batch, in
    order, all under the row lock: exactly one signature of one batch can be the one whose
    count first reaches the threshold of the open petition.
    """
    if petition.state != PetitionState.OPEN or petition.threshold is None:
        return
    for offset, row in enumerate(counted):
        count = petition.signature_count + offset + 1
        if count >= petition.threshold:
            log_size = petition.log_size + offset + 1
            thresholds.record_crossing(session, petition, row.id, count, log_size, settings, now)
            return


WAIT_TURNS = 3
"""How many batches of others a confirming request waits for (all such waiters at once) before
it queues for the lock itself."""

_REFUSED = object()


def sequence_petition(
    bind: Engine | Connection,
    settings: Settings,
    petition_id: int,
    signature_id: int | None = None,
) -> Sequenced | None:
    """Count the petition's waiting signatures, in a transaction of its own, and return the
    receipt of ``signature_id`` (None if it was refused, or not given).

    ``bind`` may be the connection the caller confirmed on, so that a confirmation checks out
    one connection. A confirming request that finds another's batch holding the lock does not
    queue behind it: it waits for that batch to end, together with every other such request
    (a share lock on the petition's row, which the batch's lock excludes and which shares with
    the others), and leaves with its receipt if that batch counted its signature. Otherwise it
    tries again; after WAIT_TURNS batches it queues for the lock. A turn that finds nothing
    waiting rolls back, which releases the lock without a WAL flush.
    """
    on_postgres = bind.dialect.name == "postgresql"
    for turn in range(WAIT_TURNS + 1):
        wait = on_postgres and signature_id is not None and turn < WAIT_TURNS
        with Session(bind=bind, expire_on_commit=False) as session:
            try:
                batch = sequence(
                    session, settings, petition_id, utcnow(), signature_id, skip_locked=wait
                )
                if batch is None:
                    receipt = _after_current_batch(session, petition_id, signature_id)
                    session.rollback()
                    if receipt is None:
                        continue
                    return None if receipt is _REFUSED else receipt
                receipt = batch.receipts.get(signature_id) if signature_id is not None else None
                if batch.changed:
                    session.commit()
                else:
                    session.rollback()
            except BaseException:
                session.rollback()
                raise
        return receipt
    raise AssertionError("the last turn queues for the lock")  # pragma: no cover


def _after_current_batch(session: Session, petition_id: int, signature_id: int):
    """Wait for the batch holding the petition's lock to commit, then: the receipt of
    ``signature_id`` if it is counted, _REFUSED if it is gone, None if it still waits."""
    # Plain rows: on the connection, without the ORM's layer.
    connection = session.connection()
    connection.execute(_SHARE, {"petition_id": petition_id})
    row = connection.execute(_RECEIPT, {"signature_id": signature_id}).first()
    if row is None:
        return _REFUSED
    if row.number is None:
        return None
    return Sequenced(row.number, row.confirmed_at, row.index, bytes(row.leaf_hash))


def sequence_waiting(session: Session, settings: Settings, now: datetime) -> int:
    """Count, in the caller's transaction, the signatures of every petition still waiting for
    the sequencer (a request that stopped between its two commits); return how many were
    counted. Run by housekeeping every second, before heads are signed."""
    petition_ids = session.scalars(
        select(Signature.petition_id)
        .where(Signature.number.is_(None))
        .distinct()
        .order_by(Signature.petition_id)
    ).all()
    batches = [sequence(session, settings, petition_id, now) for petition_id in petition_ids]
    return sum(batch.counted for batch in batches)
