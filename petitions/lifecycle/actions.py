"""What people do to a petition: create it, edit its draft, open it and close it, each in a
transaction of its own that writes the audit record with the change, so that the command line
and the browser leave the same trail.

``actor`` is who acts, as the audit trail names them: the signed-in person's address, or
``command line``. A refusal raises PetitionError (see petitions.lifecycle.rules) and writes
nothing, neither the change nor its audit record.
"""

from datetime import datetime

from sqlalchemy.engine import Engine

from petitions import audit
from petitions.db.engine import session_scope
from petitions.db.models import Petition
from petitions.lifecycle import rules
from petitions.lifecycle.rules import DraftEdit, RollCommitter


def create_petition(
    engine: Engine,
    actor: str,
    *,
    open_now: bool = False,
    now: datetime | None = None,
    commit_roll: RollCommitter | None = None,
    **fields,
) -> Petition:
    """Create the draft petition ``fields`` describe (the keyword arguments of
    rules.create_petition), and open it in the same transaction when ``open_now`` (committing
    its roll with ``commit_roll``, as open_petition does): if it cannot open, it is not created
    either."""
    with session_scope(engine) as session:
        petition = rules.create_petition(session, now=now, **fields)
        audit.record(session, actor, "petition.create", petition, _describe_new(petition))
        if open_now:
            rules.open_petition(session, petition.slug, now=now, commit_roll=commit_roll)
            audit.record(session, actor, "petition.open", petition, opening_note(petition))
    return petition


def update_draft(
    engine: Engine, actor: str, slug: str, *, now: datetime | None = None, **fields
) -> DraftEdit:
    """Change fields of the draft ``slug`` (see rules.update_draft); an edit that changes
    something is recorded with each change, one that changes nothing is not recorded."""
    with session_scope(engine) as session:
        edit = rules.update_draft(session, slug, now=now, **fields)
        if edit.changes:
            audit.record(
                session, actor, "petition.edit", edit.petition, _describe_changes(edit.changes)
            )
    return edit


def open_petition(
    engine: Engine,
    actor: str,
    slug: str,
    *,
    now: datetime | None = None,
    commit_roll: RollCommitter | None = None,
) -> Petition:
    """Open the draft ``slug``, freezing its threshold (see rules.open_petition) and, with
    ``commit_roll`` (the command line and the browser pass
    petitions.transparency.roll_commitment's), committing its roll as the log's first entry in
    the same transaction. Opening stays exactly-once: the draft is locked and checked first."""
    with session_scope(engine) as session:
        petition = rules.open_petition(session, slug, now=now, commit_roll=commit_roll)
        audit.record(session, actor, "petition.open", petition, opening_note(petition))
    return petition


def close_petition(
    engine: Engine, actor: str, slug: str, *, now: datetime | None = None
) -> Petition:
    """Close the open or triggered petition ``slug`` so that signing stops."""
    with session_scope(engine) as session:
        petition = rules.close_petition(session, slug, now=now)
        detail = (
            f"closed at {rules.iso_utc(petition.closed_at)} with "
            f"{petition.signature_count:,} signatures (threshold {petition.threshold:,})"
        )
        audit.record(session, actor, "petition.close", petition, detail)
    return petition


def _rule(absolute: int | None, percent: float | None) -> str:
    if absolute is not None:
        return f"{absolute:,} signatures"
    return f"{percent:g}% of active members"


def describe_rule(petition: Petition) -> str:
    """The threshold rule in words: ``4,000 signatures`` or ``10% of active members``."""
    return _rule(petition.threshold_absolute, petition.threshold_percent)


def opening_note(petition: Petition) -> str:
    """What opening ``petition`` froze, as the audit trail records it."""
    note = (
        f"threshold frozen at {petition.threshold:,} of {petition.eligible_members:,} "
        f"active members ({describe_rule(petition)})"
    )
    if petition.roll_generation is not None:
        note += "; the roll committed as the public log's first entry"
    return note


def _describe_new(petition: Petition) -> str:
    """The audit trail's note of a petition just created."""
    parts = [f"slug {petition.slug}", f"threshold {describe_rule(petition)}"]
    parts.append(f"closes {rules.iso_utc(petition.closes_at) or 'never'}")
    parts.append(f"webhook {petition.webhook_url or 'the default'}")
    if petition.witnesses_required:
        parts.append(f"webhook waits for {petition.witnesses_required} witness cosignatures")
    return "; ".join(parts)


def _describe_changes(changes: dict[str, tuple]) -> str:
    """The audit trail's note of a draft's edit: each field that changed, old -> new (the text
    only as changed, since it may be long)."""
    notes = []
    if "title" in changes:
        notes.append("title {!r} -> {!r}".format(*changes["title"]))
    if "body" in changes:
        notes.append("text changed")
    absolute = changes.get("threshold_absolute", (None, None))
    percent = changes.get("threshold_percent", (None, None))
    if absolute != (None, None) or percent != (None, None):
        # Exactly one kind is set before and after, so the changed entries give both rules.
        notes.append(
            f"threshold {_rule(absolute[0], percent[0])} -> {_rule(absolute[1], percent[1])}"
        )
    if "closes_at" in changes:
        old, new = (rules.iso_utc(moment) or "never" for moment in changes["closes_at"])
        notes.append(f"closes {old} -> {new}")
    if "webhook_url" in changes:
        old, new = (url or "the default" for url in changes["webhook_url"])
        notes.append(f"webhook {old} -> {new}")
    return "; ".join(notes)
