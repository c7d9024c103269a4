"""The evidence pack: a petition's whole public log and what it is checked against, as JSON
Lines, so that it streams out of the server and into `flask log verify` however long it is.

Line 1 is the header: the format, the petition and its rules, the roll snapshot's digest, the
head-signing public key, every signed head, every head again as a C2SP checkpoint (with the
log's origin, its verifier key, the witnesses' keys and every cosignature gathered), and every
generation of the committed roll (its root, count, time, signature and log entry). Each
following line is one leaf:
``{"index": i, "leaf_input": base64}``.
"""

import base64
import json
from collections.abc import Iterable, Iterator

from sqlalchemy import select
from sqlmodel import Session

from petitions.config import Settings
from petitions.db.models import LogLeaf, Petition, RollImport
from petitions.lifecycle import rules as lifecycle
from petitions.transparency import checkpoints, roll_commitment, store, witnessing

FORMAT = "petitions-evidence/1"
_BATCH = 5000


def _roll_snapshot(session: Session, petition: Petition) -> dict | None:
    # The roll that eligibility was frozen against: the last accepted import before the roll
    # was last committed (or, without a committed roll, before opening).
    frozen = petition.opened_at
    committed = roll_commitment.generations(session, petition.id)
    if committed:
        frozen = committed[-1].committed_at
    query = select(RollImport).where(RollImport.outcome == "accepted")
    if frozen is not None:
        query = query.where(RollImport.started_at <= frozen)
    snapshot = session.scalars(query.order_by(RollImport.id.desc())).first()
    if snapshot is None:
        return None
    return {
        "import_id": snapshot.id,
        "sha256": snapshot.sha256,
        "imported_at": lifecycle.iso_utc(snapshot.finished_at),
        "members_in_file": snapshot.rows - snapshot.rejected,
    }


def header(session: Session, petition: Petition, settings: Settings) -> dict:
    """The pack's first line."""
    rule = (
        {"absolute": petition.threshold_absolute}
        if petition.threshold_absolute is not None
        else {"percent_of_active_members": petition.threshold_percent}
    )
    heads = store.heads(session, petition.id)
    return {
        "format": FORMAT,
        "petition": {
            "slug": petition.slug,
            "title": petition.title,
            "state": lifecycle.effective_state(petition),
            "threshold_rule": rule,
            "threshold": petition.threshold,
            "eligible_members": petition.eligible_members,
            "opened_at": lifecycle.iso_utc(petition.opened_at),
            "closes_at": lifecycle.iso_utc(petition.closes_at),
            "reached_at": lifecycle.iso_utc(petition.reached_at),
            "count": petition.signature_count,
            "log_size": petition.log_size,
        },
        "roll": _roll_snapshot(session, petition),
        "public_key": store.public_key(settings),
        "heads": [head.as_json() for head in heads],
        "checkpoint_origin": checkpoints.origin(settings.base_url, petition.slug),
        "log_vkey": witnessing.log_vkey(settings, petition.slug),
        "witnesses": [witnessing.verifier_of(witness).vkey() for witness in settings.witnesses],
        "checkpoints": [
            witnessing.served_note(session, petition, settings, head)[0] for head in heads
        ],
        "roll_commitments": [
            roll_commitment.as_json(row)
            for row in roll_commitment.generations(session, petition.id)
        ],
    }


def stored_leaves(session: Session, petition: Petition) -> Iterator[tuple[int, bytes]]:
    """(index, leaf bytes) of every stored leaf, in order, read in batches."""
    start = 0
    while True:
        rows = session.execute(
            select(LogLeaf.index, LogLeaf.data)
            .where(LogLeaf.petition_id == petition.id, LogLeaf.index >= start)
            .order_by(LogLeaf.index)
            .limit(_BATCH)
        ).all()
        yield from rows
        if len(rows) < _BATCH:
            return
        start = rows[-1][0] + 1


def export(session: Session, petition: Petition, settings: Settings) -> Iterator[str]:
    """The pack, line by line (each ending in a newline)."""
    yield json.dumps(header(session, petition, settings), sort_keys=True) + "\n"
    for index, data in stored_leaves(session, petition):
        yield json.dumps({"index": index, "leaf_input": base64.b64encode(data).decode()}) + "\n"


def read(lines: Iterable[str]) -> tuple[dict, Iterator[tuple[int, bytes]]]:
    """Split a pack into its header and an iterator of (index, leaf bytes); ValueError if it
    is not a pack this version understands."""
    lines = iter(lines)
    try:
        first = json.loads(next(lines))
    except (StopIteration, json.JSONDecodeError) as exc:
        raise ValueError(f"not an evidence pack: {exc}") from None
    if not isinstance(first, dict) or first.get("format") != FORMAT:
        raise ValueError(f"not an evidence pack of format {FORMAT}")

    def leaves() -> Iterator[tuple[int, bytes]]:
        for number, line in enumerate(lines, start=2):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                yield int(entry["index"]), base64.b64decode(entry["leaf_input"], validate=True)
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"line {number} of the pack is not a leaf: {exc}") from None

    return first, leaves()
