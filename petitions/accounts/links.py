"""Signing in by a mailed link: no passwords to leak or reuse.

A link is short-lived, signed with its own salt (SECRET_KEY with SECRET_KEY_FALLBACKS for
rotation) and single-use through its row in ``sign_in_link``; spending it starts a session.
"""

import secrets
from urllib.parse import urlencode

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from petitions.accounts.sessions import start_session
from petitions.accounts.users import find_by_address_key
from petitions.config import Settings
from petitions.db.engine import utcnow
from petitions.db.models import SignInLink, SignInRequest, UserAccount
from petitions.outbox import mail
from petitions.roll.addresses import parse_address

SALT = "petitions.sign-in"


class SignInLinkInvalid(Exception):
    """The sign-in link is forged, malformed, expired, already used, or its account is gone."""


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
        context = {
            "email": account.email,
            "button": "Sign in",
            "max_age_minutes": max(1, settings.sign_in_link_max_age // 60),
        }
        # The nonce alone signs nobody in: the link's token is made, with SECRET_KEY, only
        # when the mail is sent.
        spec = {"kind": "sign_in", "user_id": account.id, "nonce": nonce, "next": request.next_page}
        session.add(
            mail.compose(
                mail.MailPurpose.SIGN_IN,
                account.email,
                context,
                None,
                {"link": spec},
                organisation=settings.organisation,
            )
        )


def make_link(settings: Settings, spec: dict) -> str:
    """The sign-in link made from ``spec`` (see answer_sign_in): its token counts its age from
    now, when the mail leaves."""
    token = _serializer(settings).dumps({"u": spec["user_id"], "n": spec["nonce"]})
    link = f"{settings.base_url}/sign-in/link?token={token}"
    if spec.get("next"):
        link += "&" + urlencode({"next": spec["next"]})
    return link


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
