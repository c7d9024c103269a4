"""Members asking not to be sent invitations again: the signed link in every invitation, and
the record of the address it names.

The link names the mailbox's matching key (one opt-out covers every variant of an address, and
every member of a household sharing it), signed with itsdangerous under a salt of its own so
that no other token of the service is accepted here. Like every other link it expires, after
OPT_OUT_LINK_MAX_AGE (long: an invitation may be read weeks later). Recording an opt-out twice
changes nothing.
"""

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from petitions.config import Settings
from petitions.db.models import MailOptOut

SALT = "petitions.invitation-opt-out"
PATH = "/invitations/opt-out"


class OptOutTokenInvalid(Exception):
    """The opt-out token was not made by this service, or has been tampered with."""


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    # itsdangerous signs with the last key and verifies with any, so the current key goes last.
    keys = [*reversed(settings.secret_key_fallbacks), settings.secret_key]
    return URLSafeTimedSerializer(keys, salt=SALT)


def make_token(settings: Settings, email_key: str) -> str:
    """The token of the opt-out link for the mailbox whose matching key is ``email_key``."""
    return _serializer(settings).dumps({"k": email_key})


def read_token(settings: Settings, token: str) -> str:
    """The matching key a token names; raise OptOutTokenInvalid for anything not genuine."""
    try:
        payload = _serializer(settings).loads(token, max_age=settings.opt_out_link_max_age)
    except SignatureExpired:
        raise OptOutTokenInvalid("expired") from None
    except BadSignature:
        raise OptOutTokenInvalid("bad signature") from None
    key = payload.get("k") if isinstance(payload, dict) else None
    if not isinstance(key, str) or not key:
        raise OptOutTokenInvalid("malformed payload")
    return key


def opt_out_url(settings: Settings, email_key: str) -> str:
    """The opt-out link for a mailbox, as an invitation carries it."""
    return f"{settings.base_url}{PATH}?token={make_token(settings, email_key)}"


def link_spec(email_key: str) -> dict:
    """What the opt-out link for a mailbox is made from, when its mail is sent."""
    return {"kind": "opt_out", "email_key": email_key}


def make_link(settings: Settings, spec: dict) -> str:
    """The opt-out link made from ``spec`` (see link_spec)."""
    return opt_out_url(settings, spec["email_key"])


def is_opted_out(session: Session, email_key: str) -> bool:
    """Whether the mailbox with ``email_key`` asked not to be invited again."""
    query = select(MailOptOut.id).where(MailOptOut.email_key == email_key)
    return session.execute(query).first() is not None


def record(session: Session, email_key: str) -> bool:
    """Record that the mailbox with ``email_key`` wants no more invitations, in the caller's
    transaction; False if it had already said so."""
    if is_opted_out(session, email_key):
        return False
    try:
        # A savepoint: the same address opting out at the same moment elsewhere loses the race
        # on the unique key without spoiling the caller's transaction.
        with session.begin_nested():
            session.add(MailOptOut(email_key=email_key))
    except IntegrityError:
        return False
    return True
