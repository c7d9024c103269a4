"""Each petition's public, append-only log of signatures, as stored: appending leaves inside the
transaction of the event they record, proofs from stored subtree hashes, and signed tree heads.
"""

import base64
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import func, insert, select, tuple_
from sqlmodel import Session

from petitions.config import Settings
from petitions.db.engine import insert_on_conflict
from petitions.db.models import LogLeaf, LogNode, Petition, TreeHead
from petitions.transparency import leaves as log_leaves
from petitions.transparency import merkle, submissions


@dataclass(frozen=True)
class Head:
    """A signed tree head."""

    size: int
    root_hash: str
    timestamp: str
    signature: str

    def as_json(self) -> dict:
        """The head as the API and the evidence pack publish it."""
        return {
            "size": self.size,
            "root_hash": self.root_hash,
            "timestamp": self.timestamp,
            "signature": self.signature,
        }


def signing_key(settings: Settings) -> Ed25519PrivateKey:
    """The service's Ed25519 key for tree heads, from LOG_SIGNING_KEY (base64 of 32 bytes)."""
    return Ed25519PrivateKey.from_private_bytes(base64.b64decode(settings.log_signing_key))


def public_key(settings: Settings) -> str:
    """The public half of the head-signing key, base64 of the 32 raw bytes."""
    raw = signing_key(settings).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def head_message(slug: str, size: int, root_hash: str, timestamp: str) -> bytes:
    """The exact bytes a head's signature covers: canonical JSON naming the petition."""
    return log_leaves.encode(
        {"petition": slug, "root_hash": root_hash, "size": size, "timestamp": timestamp}
    )


class _StoredNodes:
    """get_node over the log_node table for one petition, fetching every node a computation
    needs in one query.

    Which nodes a Merkle computation reads depends only on the sizes and indices involved, never
    on hash values, so a dry run with placeholder hashes names them all; one round trip then
    loads them, and the real run reads from memory.
    """

    def __init__(self, session: Session, petition_id: int):
        self.session = session
        self.petition_id = petition_id
        self.cache: dict[tuple[int, int], bytes] = {}

    def __call__(self, level: int, index: int) -> bytes:
        try:
            return self.cache[(level, index)]
        except KeyError:
            raise LookupError(
                f"log node {(level, index)} of petition {self.petition_id} is missing"
            ) from None

    def run(self, computation):
        """``computation(get_node)`` with its nodes fetched in one query."""
        wanted: set[tuple[int, int]] = set()

        def record(level: int, index: int) -> bytes:
            wanted.add((level, index))
            return _PLACEHOLDER

        computation(record)
        if wanted:
            rows = self.session.execute(
                select(LogNode.level, LogNode.index, LogNode.hash).where(
                    LogNode.petition_id == self.petition_id,
                    tuple_(LogNode.level, LogNode.index).in_(sorted(wanted)),
                )
            )
            self.cache.update({(level, index): value for level, index, value in rows})
        return computation(self)


_PLACEHOLDER = bytes(merkle.HASH_SIZE)


def append(
    session: Session,
    petition: Petition,
    index: int,
    kind: str,
    data: bytes,
    signature_id: int | None = None,
) -> bytes:
    """Append leaf ``data`` at ``index`` with the subtree hashes it completes; return its hash.

    The caller holds the petition's row lock and took ``index`` from the petition's log_size in
    the same transaction, so leaves of one petition are appended one at a time, in order.
    """
    return append_many(session, petition, index, [(kind, data, signature_id)])[0]


# Core inserts, not the ORM's bulk path: a confirmation's batch runs them under the petition's
# lock, and the ORM's bookkeeping for rows nobody loads cost more than the inserts.
_INSERT_LEAVES = insert(LogLeaf.__table__)
_INSERT_NODES = insert(LogNode.__table__)


def append_many(
    session: Session,
    petition: Petition,
    first_index: int,
    entries: list[tuple[str, bytes, int | None]],
) -> list[bytes]:
    """Append the leaves ``entries`` ((kind, data, signature id) each) at ``first_index`` on,
    with every subtree hash they complete, in one insert of leaves and one of nodes; return
    their leaf hashes, in order.

    As for ``append``, the caller holds the petition's row lock and took ``first_index`` from
    its log_size in the same transaction. Subtrees completed inside the batch are hashed from
    the batch itself; the stored left siblings they need are read in one query.
    """
    if not entries:
        return []
    hashes = [merkle.leaf_hash(data) for _kind, data, _signature in entries]

    def completed(get_stored: merkle.GetNode) -> list[tuple[int, int, bytes]]:
        made: dict[tuple[int, int], bytes] = {}

        def get_node(level: int, position: int) -> bytes:
            found = made.get((level, position))
            return found if found is not None else get_stored(level, position)

        nodes = []
        for offset, leaf_hash in enumerate(hashes):
            for level, position, value in merkle.completed_nodes(
                first_index + offset, leaf_hash, get_node
            ):
                made[(level, position)] = value
                nodes.append((level, position, value))
        return nodes

    nodes = _StoredNodes(session, petition.id).run(completed)
    session.execute(
        _INSERT_LEAVES,
        [
            {
                "petition_id": petition.id,
                "index": first_index + offset,
                "kind": kind,
                "signature_id": signature_id,
                "data": data,
                "leaf_hash": leaf_hash,
            }
            for offset, ((kind, data, signature_id), leaf_hash) in enumerate(
                zip(entries, hashes, strict=True)
            )
        ],
    )
    if nodes:
        session.execute(
            _INSERT_NODES,
            [
                {"petition_id": petition.id, "level": level, "index": position, "hash": value}
                for level, position, value in nodes
            ],
        )
    return hashes


def root_hash(session: Session, petition: Petition, size: int) -> bytes:
    """The root of the first ``size`` leaves."""
    return _StoredNodes(session, petition.id).run(lambda get_node: merkle.root(get_node, size))


def sign_head(
    session: Session, petition: Petition, size: int, settings: Settings, now: datetime
) -> Head:
    """Sign and store the head of the first ``size`` leaves (or return the stored one)."""
    existing = session.scalars(
        select(TreeHead).where(TreeHead.petition_id == petition.id, TreeHead.size == size)
    ).first()
    if existing is not None:
        return _head(existing)
    root = root_hash(session, petition, size).hex()
    # Heads are dated in the order of their sizes, even when the caller's clock reading is a
    # little older than the newest head's.
    newest = session.scalar(
        select(func.max(TreeHead.timestamp)).where(TreeHead.petition_id == petition.id)
    )
    moment = max(now.astimezone(UTC), newest or now).replace(microsecond=0)
    stamp = log_leaves.leaf_time(moment)
    signature = signing_key(settings).sign(head_message(petition.slug, size, root, stamp))
    values = {
        "petition_id": petition.id,
        "size": size,
        "root_hash": root,
        "timestamp": moment,
        "signature": base64.b64encode(signature).decode(),
    }
    # Two signers may race for the same size; the first head stored stands.
    inserted = session.execute(
        insert_on_conflict(session, TreeHead).values(values).on_conflict_do_nothing()
    )
    if inserted.rowcount:
        submissions.reopen(session, petition.id, settings, moment)
    stored = session.scalars(
        select(TreeHead).where(TreeHead.petition_id == petition.id, TreeHead.size == size)
    ).one()
    return _head(stored)


def _head(row: TreeHead) -> Head:
    return Head(row.size, row.root_hash, log_leaves.leaf_time(row.timestamp), row.signature)


def latest_head(session: Session, petition_id: int) -> Head | None:
    """The newest signed head of a petition's log, or None before its first leaf."""
    row = session.scalars(
        select(TreeHead).where(TreeHead.petition_id == petition_id).order_by(TreeHead.size.desc())
    ).first()
    return _head(row) if row is not None else None


def head_at(session: Session, petition_id: int, size: int) -> Head | None:
    """The signed head of the first ``size`` leaves, if one was signed."""
    row = session.scalars(
        select(TreeHead).where(TreeHead.petition_id == petition_id, TreeHead.size == size)
    ).first()
    return _head(row) if row is not None else None


def heads(session: Session, petition_id: int) -> list[Head]:
    """Every signed head of a petition's log, oldest first."""
    rows = session.scalars(
        select(TreeHead).where(TreeHead.petition_id == petition_id).order_by(TreeHead.size)
    )
    return [_head(row) for row in rows]


def sign_pending_heads(session: Session, settings: Settings, now: datetime) -> int:
    """Sign a head for every petition whose log has grown past its newest head; return how many.

    Run every second or so beside the workers, so a head lags the log by seconds at most.
    """
    newest = (
        select(func.max(TreeHead.size)).where(TreeHead.petition_id == Petition.id).scalar_subquery()
    )
    grown = session.scalars(
        select(Petition.id)
        .where(Petition.log_size > func.coalesce(newest, 0))
        .order_by(Petition.id)
    )
    signed = 0
    for petition_id in grown.all():
        # Under the petition's row lock, as appends are: no leaf can be added, nor a crossing
        # head signed, between reading the size and signing it. FOR NO KEY UPDATE, the lock an
        # UPDATE of the row takes, lets signatures be inserted meanwhile (their foreign key
        # only shares the row's key; README, "Confirming at scale").
        petition = session.scalars(
            select(Petition).where(Petition.id == petition_id).with_for_update(key_share=True)
        ).one()
        sign_head(session, petition, petition.log_size, settings, now)
        signed += 1
    return signed


def leaves(session: Session, petition_id: int, start: int, limit: int) -> list[LogLeaf]:
    """Leaves ``start`` .. ``start + limit - 1`` of a petition's log, in order."""
    return list(
        session.scalars(
            select(LogLeaf)
            .where(LogLeaf.petition_id == petition_id, LogLeaf.index >= start)
            .order_by(LogLeaf.index)
            .limit(limit)
        )
    )


def inclusion_proof(session: Session, petition: Petition, index: int, size: int) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of the first ``size`` leaves."""
    return _StoredNodes(session, petition.id).run(
        lambda get_node: merkle.inclusion_proof(get_node, index, size)
    )


def consistency_proof(session: Session, petition: Petition, first: int, second: int) -> list[bytes]:
    """The proof that the tree of ``first`` leaves is a prefix of the tree of ``second``."""
    return _StoredNodes(session, petition.id).run(
        lambda get_node: merkle.consistency_proof(get_node, first, second)
    )


def leaf_hash_at(session: Session, petition_id: int, index: int) -> bytes | None:
    """The stored hash of leaf ``index``."""
    return session.scalar(
        select(LogLeaf.leaf_hash).where(LogLeaf.petition_id == petition_id, LogLeaf.index == index)
    )
