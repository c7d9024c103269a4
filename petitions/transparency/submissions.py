"""Reopening the witness submissions of a petition when a new head is signed: each configured
witness then has the newest checkpoint to cosign (transparency.witnessing does the work)."""

from datetime import datetime

from sqlalchemy import case
from sqlmodel import Session

from petitions.config import Settings
from petitions.db.engine import insert_on_conflict
from petitions.db.models import WitnessSubmission


def reopen(session: Session, petition_id: int, settings: Settings, now: datetime) -> None:
    """Make every configured witness's submission for ``petition_id`` undone, in the caller's
    transaction. A submission already waiting keeps its time: a witness that is down goes on
    backing off instead of being asked again at every new head."""
    if not settings.witnesses:
        return
    table = WitnessSubmission.__table__
    statement = insert_on_conflict(session, table).values(
        [
            {
                "petition_id": petition_id,
                "witness": witness.name,
                "created_at": now,
                "next_attempt_at": now,
                "attempts": 0,
                "witness_size": 0,
                "cosigned_size": 0,
                "rejected_answers": 0,
            }
            for witness in settings.witnesses
        ]
    )
    # An upsert, never a failing insert: heads are signed inside the transaction of a crossing
    # signature, which must not be undone by bookkeeping.
    statement = statement.on_conflict_do_update(
        index_elements=["petition_id", "witness"],
        set_={
            "next_attempt_at": case(
                (table.c.done_at.is_not(None), now), else_=table.c.next_attempt_at
            ),
            "done_at": None,
        },
    )
    session.execute(statement)
