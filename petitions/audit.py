"""The audit trail: what signed-in people (and commands on their behalf) did, for scrutineers."""

from sqlmodel import Session, select

from petitions.models import AuditEvent, Petition


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


def events(
    session: Session, petition: Petition | None = None, limit: int = 500
) -> list[AuditEvent]:
    """The newest events first, of one petition or of all."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if petition is not None:
        query = query.where(AuditEvent.petition_id == petition.id)
    return list(session.exec(query))
