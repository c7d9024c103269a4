"""Counts derived from a petition's signatures, for the public page and the API."""

from sqlmodel import Session

from petitions.models import Petition


def by_region(session: Session, petition: Petition) -> dict[str, int]:
    """Confirmed signatures of ``petition`` per region of the signing member, region -> count.

    There is no signature table yet, so no signature is confirmed and the split is empty. When
    signatures exist this becomes a GROUP BY over the confirmed ones joined to the member roll.
    """
    return {}
