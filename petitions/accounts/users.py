"""Accounts of organisers and scrutineers, and signing in by a mailed link.

Signing in is by e-mail only (no passwords to leak or reuse): a short-lived link, signed with its
own salt (SECRET_KEY with SECRET_KEY_FALLBACKS for rotation) and single-use through its row in
``sign_in_link``. A signed-in browser holds a random session token; only its hash is stored, so
the session ends for every copy of the cookie when it is ended here, and after a spell of idleness
or a maximum age whatever happens.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from petitions.config import Settings
from petitions.db.engine import utcnow
from petitions.db.models import Role, SignInLink, SignInRequest, UserAccount, UserSession
from petitions.outbox import mail
from petitions.roll.addresses import InvalidAddress, parse_address

SALT = "petitions.sign-in"
# A session's last_seen_at is written at most this often, not on every request.
TOUCH_EVERY = timedelta(minutes=1)


class AccountError(Exception):
    """A request about accounts that cannot be done; the message says why, for people."""


class SignInLinkInvalid(Exception):
    """The sign-in link is forged, malformed, expired, already used, or its account is gone."""


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


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    # itsdangerous signs with the last key and verifies with any, so the current key goes last.
    keys = [*reversed(settings.secret_key_fallbacks), settings.secret_key]
    return URLSafeTimedSerializer(keys, salt=SALT)


def request_sign_in(session: Session, email: str, next_page: str | None = None) -> SignInRequest:
    """Record a request for a sign-in link to ``email``, leading on to ``next_page`` (a path on
    this site, checked by the caller). A worker answers it (answer_sign_in): the request is the
    same whether or not the address has an account, so the form cannot tell who has one, not
    even by how long it takes. Raises InvalidAddress for a malformed address."""
    request = SignInRequest(email=parse_address(email).given, next_page=next_page)
    session.add(request)
    return request


def answer_sign_in(engine: Engine, settings: Settings, request_id: int) -> None:
    """Mail a sign-in link if the request's address has an enabled account (nothing otherwise),
    and mark the request done, in one transaction (outbox work of kind ``sign_in_request``)."""
    with Session(engine) as session, session.begin():
        request = session.get(SignInRequest, request_id)
        if request is None or request.done_at is not None:
            return
        request.done_at = utcnow()
        request.leased_until = None
        account = find_by_address_key(session, parse_address(request.email).key)
        if account is None or account.disabled_at is not None:
            return
        nonce = secrets.token_urlsafe(16)
        session.add(SignInLink(user_id=account.id, nonce=nonce))
        token = _serializer(settings).dumps({"u": account.id, "n": nonce})
        link = f"{settings.base_url}/sign-in/link?token={token}"
        if request.next_page:
            link += "&" + urlencode({"next": request.next_page})
        context = {
            "email": account.email,
            "link": link,
            "button": "Sign in",
            "max_age_minutes": max(1, settings.sign_in_link_max_age // 60),
        }
        session.add(mail.compose(mail.MailPurpose.SIGN_IN, account.email, context, None))


def _read(settings: Settings, token: str) -> tuple[int, str]:
    try:
        payload = _serializer(settings).loads(token, max_age=settings.sign_in_link_max_age)
    except SignatureExpired:
        raise SignInLinkInvalid("this sign-in link has expired") from None
    except BadSignature:
        raise SignInLinkInvalid("this sign-in link is not one we sent") from None
    try:
        return int(payload["u"]), str(payload["n"])
    except (KeyError, TypeError, ValueError):
        raise SignInLinkInvalid("this sign-in link is not one we sent") from None


def check_link(settings: Settings, token: str) -> None:
    """Raise SignInLinkInvalid unless ``token`` is a genuine, unexpired sign-in link."""
    _read(settings, token)


def use_link(session: Session, settings: Settings, token: str) -> tuple[UserAccount, str]:
    """Spend the sign-in link ``token`` and start a session: the account and the session token
    for the cookie. Raises SignInLinkInvalid; a link works once, even under concurrent use."""
    user_id, nonce = _read(settings, token)
    spent = session.execute(
        update(SignInLink)
        .where(
            SignInLink.nonce == nonce,
            SignInLink.user_id == user_id,
            SignInLink.used_at.is_(None),
        )
        .values(used_at=utcnow())
    )
    if spent.rowcount != 1:
        raise SignInLinkInvalid("this sign-in link has already been used")
    account = session.get(UserAccount, user_id)
    if account is None or account.disabled_at is not None:
        raise SignInLinkInvalid("this account can no longer sign in")
    return account, start_session(session, account)


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
