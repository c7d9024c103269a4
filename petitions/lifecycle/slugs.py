"""A petition's slug made from its title, when the organiser gives none: "Fair pay for all!"
becomes ``fair-pay-for-all``, and, if another petition has that already, ``fair-pay-for-all-2``.

The slug follows the rules of every slug (rules.SLUG_PATTERN): lowercase ASCII letters, digits
and hyphens, at most 64 characters. Letters with accents and other scripts are transliterated
by python-slugify; a title with nothing to transliterate gives ``petition``.
"""

from slugify import slugify
from sqlalchemy import select
from sqlmodel import Session

from petitions.db.models import Petition

MAX_LENGTH = 64
FALLBACK = "petition"


def from_title(title: str, max_length: int = MAX_LENGTH) -> str:
    """The slug ``title`` reads as, cut at a word to ``max_length`` characters."""
    return slugify(title or "", max_length=max_length, word_boundary=True) or FALLBACK


def _taken(session: Session, slug: str) -> bool:
    return session.scalars(select(Petition.id).where(Petition.slug == slug)).first() is not None


def free(session: Session, base: str) -> str:
    """``base``, or the first of ``base-2``, ``base-3``... that no petition has, each cut so
    that the number fits within MAX_LENGTH."""
    base = base[:MAX_LENGTH].strip("-") or FALLBACK
    candidate, number = base, 1
    while _taken(session, candidate):
        number += 1
        suffix = f"-{number}"
        candidate = base[: MAX_LENGTH - len(suffix)].rstrip("-") + suffix
    return candidate


def derived(session: Session, title: str) -> str:
    """A slug for a new petition called ``title`` that no petition has yet."""
    return free(session, from_title(title))
