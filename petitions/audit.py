"""The audit trail: what signed-in people (and commands on their behalf) did, for scrutineers."""

from sqlmodel import Session

from petitions.db.models import AuditEvent, Petition


def record(
    session: Session, actor: str, action: str, petition: Petition | None = None, detail: str = ""
) -> AuditEvent:
    """Note that ``actor`` did ``action`` (to ``petition``), in the caller's transaction, so the
    record stands or falls with the change it describes."""
    event = AuditEvent(
        actor=actor, action=action, petition_id=petition.id if petition else None, detail=detail
    )
    session.add(event)
    return event
