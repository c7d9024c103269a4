"""The list scrutineers contact: each drawn signature with its member's details as on the roll,
found by commitment (HMAC-SHA256 of the member number under the petition's key), written as CSV
that no spreadsheet runs."""

import hashlib
import hmac
from dataclasses import dataclass
from typing import TextIO

from sqlalchemy import select
from sqlmodel import Session

from petitions.db.models import Member
from petitions.spreadsheet import SafeWriter
from petitions.transparency.sampling import Sample

# The audit trail's action for a draw made with the roll's contact details.
AUDIT_ACTION = "log.sample"
COLUMNS = (
    "draw_order",
    "leaf_index",
    "entry_number",
    "confirmed_at",
    "member_id",
    "name",
    "email",
    "region",
    "status",
    "note",
)
NOT_ON_ROLL = "matches no member on the roll"
_BATCH = 5000


@dataclass(frozen=True)
class Contact:
    """A member as the roll holds them."""

    member_id: str
    name: str | None
    email: str
    region: str | None
    status: str


def contacts(session: Session, log_secret: str, commitments: set[str]) -> dict[str, Contact]:
    """The roll's members whose commitment under ``log_secret`` is one of ``commitments``, by
    commitment (hex). The roll is read in batches and every number hashed, as a scrutineer
    matching by hand would; nothing else links a drawn leaf to a person."""
    key = bytes.fromhex(log_secret)
    found: dict[str, Contact] = {}
    rows = session.execute(
        select(Member.number, Member.name, Member.email, Member.region, Member.status)
        .order_by(Member.id)
        .execution_options(yield_per=_BATCH)
    )
    for number, name, email, region, status in rows:
        commitment = hmac.new(key, number.encode(), hashlib.sha256).hexdigest()
        if commitment in commitments:
            found[commitment] = Contact(number, name, email, region, status)
    return found


def write(drawn: Sample, members: dict[str, Contact], out: TextIO) -> int:
    """Write one CSV row per drawn signature, in the order drawn, with its member's details (or
    a note that none matches); return how many rows were written."""
    writer = SafeWriter(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for leaf in drawn.drawn:
        member = members.get(leaf.commitment)
        details = (
            (member.member_id, member.name, member.email, member.region, member.status, "")
            if member is not None
            else ("", "", "", "", "", NOT_ON_ROLL)
        )
        writer.writerow((leaf.order, leaf.index, leaf.entry, leaf.time, *details))
    return len(drawn.drawn)
