"""What a signer's receipt names, as things stand now: the leaf of the public log that records a
signature (found again from the signature's number), whether it still counts, and, if a later leaf
cancels it, when and why, in words."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from petitions.db.models import Invalidation, LogLeaf, Signature
from petitions.signatures.invalidation import REASONS
from petitions.transparency import leaves

# The published reason codes, as a member reading their receipt is told them. The note that
# goes with "other" stays with the scrutineers, so the public words do not promise it.
PUBLIC_REASONS = {
    **REASONS,
    "other": "another reason, recorded with the decision for the scrutineers",
}
WITHDRAWAL_WORDS = "the member withdrew it"


def reason_in_words(kind: str, reason: str) -> str:
    """A cancelling leaf's reason for people: the published words for its code."""
    if kind == "withdrawal":
        return WITHDRAWAL_WORDS
    return PUBLIC_REASONS.get(reason, f"a reason coded {reason!r}")


@dataclass(frozen=True)
class Cancellation:
    """A leaf of the log that cancels the receipt's leaf."""

    leaf: LogLeaf
    kind: str
    reason: str
    time: str

    @property
    def reason_text(self) -> str:
        """The reason, in words."""
        return reason_in_words(self.kind, self.reason)

    @property
    def moment(self) -> datetime:
        """When the cancelling leaf was added, as a datetime (UTC)."""
        return datetime.fromisoformat(self.time)


@dataclass(frozen=True)
class ReceiptStatus:
    """The signature behind a signature leaf and the leaves cancelling it (oldest first)."""

    number: int | None
    confirmed_at: datetime | None
    cancellations: list[Cancellation]


def cancellations_of(session: Session, petition_id: int, index: int) -> list[Cancellation]:
    """The leaves of the log that cancel leaf ``index``, oldest first (none for a leaf that is
    not a signature's)."""
    signed = session.execute(
        select(LogLeaf.signature_id, Signature.withdrawal_leaf)
        .join(Signature, Signature.id == LogLeaf.signature_id)
        .where(
            LogLeaf.petition_id == petition_id, LogLeaf.index == index, LogLeaf.kind == "signature"
        )
    ).first()
    if signed is None:
        return []
    signature_id = signed.signature_id
    # Every cancelling leaf is named by its invalidation's record or its signature's withdrawal:
    # a lookup by primary key and by the log's unique index, however long the log.
    cancelling = session.scalars(
        select(LogLeaf)
        .join(
            Invalidation,
            (Invalidation.petition_id == LogLeaf.petition_id)
            & (Invalidation.leaf_index == LogLeaf.index),
        )
        .where(Invalidation.signature_id == signature_id, LogLeaf.petition_id == petition_id)
        .order_by(LogLeaf.index)
    ).all()
    if signed.withdrawal_leaf is not None:
        # A withdrawal's leaf is named by its signature.
        withdrawn = session.scalar(
            select(LogLeaf).where(
                LogLeaf.petition_id == petition_id, LogLeaf.index == signed.withdrawal_leaf
            )
        )
        cancelling = sorted([*cancelling, withdrawn], key=lambda leaf: leaf.index)
    found = []
    for leaf in cancelling:
        fields = leaves.decode(leaf.data)
        if fields.get("cancels") == index:
            found.append(
                Cancellation(leaf, fields["type"], str(fields.get("reason", "")), fields["time"])
            )
    return found


def receipt_status(
    session: Session, petition_id: int, index: int, leaf_hash: bytes
) -> ReceiptStatus | None:
    """What the receipt for leaf ``index`` with ``leaf_hash`` stands for now, or None when the
    log has no such signature leaf (a receipt copied wrongly, or one not yet in the log)."""
    row = session.execute(
        select(Signature.number, Signature.confirmed_at)
        .join(LogLeaf, LogLeaf.signature_id == Signature.id)
        .where(
            LogLeaf.petition_id == petition_id,
            LogLeaf.index == index,
            LogLeaf.kind == "signature",
            LogLeaf.leaf_hash == leaf_hash,
        )
    ).first()
    if row is None:
        return None
    return ReceiptStatus(
        row.number, row.confirmed_at, cancellations_of(session, petition_id, index)
    )


@dataclass(frozen=True)
class ReceiptLeaf:
    """Where a signature is in its petition's log: the leaf's position and hash (hex)."""

    index: int
    leaf_hash: str


def leaf_of(session: Session, petition_id: int, number: int) -> ReceiptLeaf | None:
    """The log leaf of signature ``number`` of the petition, or None when there is no such
    signature (or it is not in the log yet)."""
    row = session.execute(
        select(LogLeaf.index, LogLeaf.leaf_hash)
        .join(Signature, Signature.id == LogLeaf.signature_id)
        .where(
            Signature.petition_id == petition_id,
            Signature.number == number,
            LogLeaf.petition_id == petition_id,
            LogLeaf.kind == "signature",
        )
    ).first()
    return None if row is None else ReceiptLeaf(row.index, row.leaf_hash.hex())
