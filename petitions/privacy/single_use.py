"""What the mailed links to members' data (the export, the erasure) share: a token signed with
SECRET_KEY under the link's own salt that carries only a random nonce, valid for
PRIVACY_EXPORT_LINK_MAX_AGE from when the mail leaves, and a row (keyed by the nonce) that
records its one use.
"""

from datetime import datetime

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select, update
from sqlmodel import Session

from petitions.config import Settings
from petitions.db.engine import utcnow


class LinkInvalid(Exception):
    """The link is not one we sent, has expired or has been used; ``reason`` says which
    (``forged``, ``expired`` or ``used``) and ``used_at`` when it was used."""

    def __init__(self, reason: str, used_at: datetime | None = None):
        super().__init__(reason)
        self.reason = reason
        self.used_at = used_at


def _serializer(settings: Settings, salt: str) -> URLSafeTimedSerializer:
    # itsdangerous signs with the last key and verifies with any, so the current key goes last.
    keys = [*reversed(settings.secret_key_fallbacks), settings.secret_key]
    return URLSafeTimedSerializer(keys, salt=salt)


def make_token(settings: Settings, salt: str, nonce: str) -> str:
    """The token for the link to the row ``nonce``: its age counts from now."""
    return _serializer(settings, salt).dumps({"n": nonce})


def nonce_of(settings: Settings, salt: str, token: str, invalid: type[LinkInvalid]) -> str:
    """The nonce a genuine, unexpired token carries; raises ``invalid`` otherwise."""
    try:
        payload = _serializer(settings, salt).loads(
            token, max_age=settings.privacy_export_link_max_age
        )
    except SignatureExpired:
        raise invalid("expired") from None
    except BadSignature:
        raise invalid("forged") from None
    nonce = payload.get("n") if isinstance(payload, dict) else None
    if not isinstance(nonce, str):
        raise invalid("forged")
    return nonce


def unused_row(session: Session, table, nonce: str, invalid: type[LinkInvalid]):
    """The row of ``table`` for ``nonce`` while its link is unused; raises ``invalid``
    otherwise (reads only)."""
    row = session.scalar(select(table).where(table.nonce == nonce))
    if row is None:
        raise invalid("forged")
    if row.used_at is not None:
        raise invalid("used", row.used_at)
    return row


def spend(session: Session, table, nonce: str, invalid: type[LinkInvalid], now=None):
    """Mark the link of ``table``'s row ``nonce`` used, in the caller's transaction, and return
    the row; raises ``invalid`` when there is no such row or it was used. The conditional update
    makes a link work once, even under concurrent use."""
    spent = session.execute(
        update(table)
        .where(table.nonce == nonce, table.used_at.is_(None))
        .values(used_at=now or utcnow())
    )
    row = session.scalar(select(table).where(table.nonce == nonce))
    if row is None:
        raise invalid("forged")
    if spent.rowcount != 1:
        raise invalid("used", row.used_at)
    return row
