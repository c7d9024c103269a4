"""The session of a signed-in browser: it holds a random token and only its hash is stored, so a
session ends for every copy of the cookie when it is ended here, and after a spell of idleness or
a maximum age whatever happens.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import Session, select

from petitions.config import Settings
from petitions.db.engine import utcnow
from petitions.db.models import UserAccount, UserSession

# A session's last_seen_at is written at most this often, not on every request.
TOUCH_EVERY = timedelta(minutes=1)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, account: UserAccount) -> str:
    """A new session for ``account``; returns the token the browser keeps."""
    token = secrets.token_urlsafe(32)
    session.add(UserSession(user_id=account.id, token_hash=_hash(token)))
    return token


@dataclass(frozen=True)
class Upkeep:
    """A write a session needs after it was read: ``end`` it (idle or too old) or ``touch``
    its last-seen time."""

    action: str
    session_id: int


def session_user(
    session: Session, settings: Settings, token: str
) -> tuple[UserAccount | None, Upkeep | None]:
    """The enabled account whose live session ``token`` is (or None), and the upkeep the
    session needs: ending when it is idle or too old, or its last-seen time refreshed at most
    once a minute. Only reads: the caller applies the upkeep (apply_upkeep) when it can."""
    row = session.exec(select(UserSession).where(UserSession.token_hash == _hash(token))).first()
    if row is None or row.ended_at is not None:
        return None, None
    now = utcnow()
    idle = timedelta(seconds=settings.session_idle_seconds)
    longest = timedelta(seconds=settings.session_max_seconds)
    if now - row.last_seen_at > idle or now - row.created_at > longest:
        return None, Upkeep("end", row.id)
    account = session.get(UserAccount, row.user_id)
    if account is None or account.disabled_at is not None:
        return None, None
    return account, Upkeep("touch", row.id) if now - row.last_seen_at > TOUCH_EVERY else None


def apply_upkeep(session: Session, upkeep: Upkeep) -> None:
    """Write what session_user found the session needs, in the caller's transaction."""
    field = "ended_at" if upkeep.action == "end" else "last_seen_at"
    session.execute(
        update(UserSession).where(UserSession.id == upkeep.session_id).values({field: utcnow()})
    )


def end_session(session: Session, token: str) -> None:
    """End the session ``token`` (signing out): no copy of its cookie works afterwards."""
    session.execute(
        update(UserSession)
        .where(UserSession.token_hash == _hash(token), UserSession.ended_at.is_(None))
        .values(ended_at=utcnow())
    )
