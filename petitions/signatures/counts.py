"""Counts derived from a petition's signatures, for the public page and the API."""

from sqlalchemy import func, select
from sqlmodel import Session

from petitions.db.models import Member, Petition, Signature


def by_region(session: Session, petition: Petition) -> dict[str, int]:
    """Confirmed signatures of ``petition`` per region of the signing member, region -> count.

    Members without a region are counted under "unknown".
    """
    rows = session.execute(
        select(Member.region, func.count())
        .select_from(Signature)
        .join(Member, Member.id == Signature.member_id)
        .where(
            Signature.petition_id == petition.id,
            Signature.number.is_not(None),
            Signature.invalidated_at.is_(None),
        )
        .group_by(Member.region)
    )
    return {region or "unknown": count for region, count in sorted(rows, key=lambda r: r[0] or "")}
