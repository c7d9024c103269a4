"""Accounts of organisers and scrutineers: adding, disabling and finding them.

Signing in is in ``links`` (the mailed, single-use sign-in links) and ``sessions`` (the signed-in
browser's session).
"""

from sqlalchemy import update
from sqlmodel import Session, select

from petitions.db.engine import utcnow
from petitions.db.models import Role, UserAccount, UserSession
from petitions.roll.addresses import InvalidAddress, parse_address


class AccountError(Exception):
    """A request about accounts that cannot be done; the message says why, for people."""


def add_user(session: Session, email: str, role: str) -> tuple[UserAccount, bool]:
    """Give ``email`` the ``role``: a new account, or an existing one re-enabled with that role.
    Returns the account and whether it is new. Raises AccountError for a bad address or role."""
    if role not in tuple(Role):
        raise AccountError(f"role must be one of {', '.join(Role)}, got {role!r}")
    try:
        address = parse_address(email)
    except InvalidAddress as exc:
        raise AccountError(f"not a usable e-mail address: {exc}") from None
    account = find_by_address_key(session, address.key)
    if account is None:
        account = UserAccount(email=address.given, email_key=address.key, role=role)
        session.add(account)
        session.flush()
        return account, True
    account.role = role
    account.disabled_at = None
    return account, False


def disable_user(session: Session, email: str) -> UserAccount:
    """Stop ``email`` signing in, and end its sessions. Raises AccountError if unknown."""
    account = _find(session, email)
    if account is None:
        raise AccountError(f"there is no account for {email!r}")
    account.disabled_at = account.disabled_at or utcnow()
    session.execute(
        update(UserSession)
        .where(UserSession.user_id == account.id, UserSession.ended_at.is_(None))
        .values(ended_at=utcnow())
    )
    return account


def users(session: Session) -> list[UserAccount]:
    """Every account, by address."""
    return list(session.exec(select(UserAccount).order_by(UserAccount.email_key)))


def find_by_address_key(session: Session, key: str) -> UserAccount | None:
    """The account with matching key ``key``, enabled or not."""
    return session.exec(select(UserAccount).where(UserAccount.email_key == key)).first()


def _find(session: Session, email: str) -> UserAccount | None:
    try:
        key = parse_address(email).key
    except InvalidAddress:
        return None
    return find_by_address_key(session, key)
