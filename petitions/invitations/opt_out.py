"""Members asking not to be sent invitations again: the signed link in every invitation, and
the record of the address it names.

The link names the mailbox's matching key (one opt-out covers every variant of an address, and
every member of a household sharing it), encrypted and authenticated (Fernet) under a key of
its own derived from SECRET_KEY, so that the address cannot be read from the link (a URL ends up
in proxies' and browsers' histories) and no other token of the service is accepted here. Links
mailed before the key was encrypted (signed with itsdangerous) are still read. Like every other
link it expires, after OPT_OUT_LINK_MAX_AGE (long: an invitation may be read weeks later).
Recording an opt-out twice changes nothing.
"""

import base64
import hashlib
import json
import time

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
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


def _fernet_key(secret: str) -> bytes:
    return base64.urlsafe_b64encode(hashlib.sha256(f"{SALT}:{secret}".encode()).digest())


def _cipher(settings: Settings) -> MultiFernet:
    # MultiFernet encrypts with the first key and decrypts with any: the current key first.
    keys = [settings.secret_key, *settings.secret_key_fallbacks]
    return MultiFernet([Fernet(_fernet_key(key)) for key in keys])


def make_token(settings: Settings, email_key: str) -> str:
    """The token of the opt-out link for the mailbox whose matching key is ``email_key``: the
    key encrypted, so that the link does not show the address."""
    return _cipher(settings).encrypt(json.dumps({"k": email_key}).encode()).decode()


def _decrypted(settings: Settings, token: str) -> object:
    cipher = _cipher(settings)
    try:
        payload = cipher.decrypt(token.encode())
    except (InvalidToken, ValueError):
        return _legacy(settings, token)
    if time.time() - cipher.extract_timestamp(token.encode()) > settings.opt_out_link_max_age:
        raise OptOutTokenInvalid("expired")
    try:
        return json.loads(payload)
    except ValueError:
        raise OptOutTokenInvalid("malformed payload") from None


def _legacy(settings: Settings, token: str) -> object:
    """A link mailed before the key was encrypted: signed only."""
    try:
        return _serializer(settings).loads(token, max_age=settings.opt_out_link_max_age)
    except SignatureExpired:
        raise OptOutTokenInvalid("expired") from None
    except BadSignature:
        raise OptOutTokenInvalid("bad signature") from None


def read_token(settings: Settings, token: str) -> str:
    """The matching key a token names; raise OptOutTokenInvalid for anything not genuine."""
    payload = _decrypted(settings, token)
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
