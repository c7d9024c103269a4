"""A signer's receipt found again from its signature number: the leaf of the public log that
records that signature, which the receipt page checks in the browser."""

from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import Session

from petitions.db.models import LogLeaf, Signature


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
