"""The signed, expiring link a member confirms a signature with.

The token proves we sent it (itsdangerous, its own salt, SECRET_KEY with SECRET_KEY_FALLBACKS for
rotation) and when; it does not by itself make a link single-use: the database's refusal of a
second signature by the same member does that.
"""

import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

SALT = "petitions.confirm-signature"
# The link to withdraw a signature names the same things, under a salt of its own: a link of one
# kind is no link of the other.
MANAGE_SALT = "petitions.manage-signature"
# The link to report a signature one did not make names the petition and leaves instead.
NAME_REPORT_SALT = "petitions.name-report"


class TokenInvalid(Exception):
    """The token was not made by this service, or has been tampered with."""


class TokenExpired(Exception):
    """The token is genuine but older than the allowed age; ``link`` says what it named."""

    def __init__(self, link: "SignLink"):
        super().__init__("link expired")
        self.link = link


@dataclass(frozen=True)
class SignLink:
    """What a confirmation link names: a petition, a member and a nonce unique to the link."""

    petition_id: int
    member_id: int
    nonce: str


def serializer(secret_key: str, fallbacks: list[str], salt: str) -> URLSafeTimedSerializer:
    """The signer of links of the kind ``salt`` names, under SECRET_KEY and its fallbacks."""
    # itsdangerous signs with the last key and verifies with any, so the current key goes last.
    return URLSafeTimedSerializer([*reversed(fallbacks), secret_key], salt=salt)


def make_token(
    secret_key: str, fallbacks: list[str], petition_id: int, member_id: int, salt: str = SALT
) -> str:
    """A fresh token for ``member_id`` signing ``petition_id`` (with MANAGE_SALT: withdrawing
    their signature of it)."""
    payload = {"p": petition_id, "m": member_id, "n": secrets.token_urlsafe(9)}
    return serializer(secret_key, fallbacks, salt).dumps(payload)


def _link(payload) -> SignLink:
    try:
        return SignLink(int(payload["p"]), int(payload["m"]), str(payload["n"]))
    except (KeyError, TypeError, ValueError):
        raise TokenInvalid("malformed payload") from None


def read_token(
    secret_key: str, fallbacks: list[str], token: str, max_age: int | None, salt: str = SALT
) -> SignLink:
    """The link a token names; raise TokenExpired or TokenInvalid. ``max_age=None`` accepts
    a genuine token of any age (to offer a fresh link in place of an expired one)."""
    signer = serializer(secret_key, fallbacks, salt)
    try:
        return _link(signer.loads(token, max_age=max_age))
    except SignatureExpired as exc:
        raise TokenExpired(_link(signer.load_payload(exc.payload))) from None
    except BadSignature:
        raise TokenInvalid("bad signature") from None
