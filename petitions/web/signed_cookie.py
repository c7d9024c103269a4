"""The cookie by which a petition's page knows that this browser signed it.

Confirming a link (or opening an already confirmed one) leaves a cookie on the petition's own
path, /p/<slug>, holding nothing but the petition's id and the signature's receipt number,
signed with SECRET_KEY (itsdangerous, its own salt; SECRET_KEY_FALLBACKS still verify while a
key is rotated). No address, name or member number is in it: the number is already public in
the petition's log. The petition page then shows "You signed" with the receipt.

The page depends on the cookie, so it says so (Vary: Cookie), and a page that shows a receipt
is ``Cache-Control: private``: a shared cache may keep the page everyone else gets, never one
browser's own.
"""

from dataclasses import dataclass

from flask import Response, current_app, request, url_for
from itsdangerous import BadSignature, URLSafeSerializer

from petitions.config import settings_of

COOKIE = "signed"
SALT = "petitions.signed-petition"
# A year: the receipt is worth finding again long after the petition closes.
MAX_AGE = 365 * 24 * 3600


@dataclass(frozen=True)
class SignedHere:
    """What the cookie says: this browser confirmed signature ``number`` of the petition."""

    petition_id: int
    number: int


def _serializer() -> URLSafeSerializer:
    settings = settings_of(current_app)
    # itsdangerous signs with the last key and verifies with any, so the current key goes last.
    keys = [*reversed(settings.secret_key_fallbacks), settings.secret_key]
    return URLSafeSerializer(keys, salt=SALT)


def remember(response: Response, slug: str, petition_id: int, number: int) -> None:
    """Set the cookie that tells the petition ``slug``'s page this browser signed it."""
    response.set_cookie(
        COOKIE,
        _serializer().dumps([petition_id, number]),
        max_age=MAX_AGE,
        path=url_for("public.petition", slug=slug),
        secure=request.is_secure,
        httponly=True,
        samesite="Lax",
    )


def read(petition_id: int) -> SignedHere | None:
    """What this request's cookie says about the petition ``petition_id``, or None when it
    has none, or one that was not made here or is about another petition."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        value = _serializer().loads(raw)
    except BadSignature:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(type(part) is int for part in value)
        or value[0] != petition_id
    ):
        return None
    return SignedHere(value[0], value[1])


def mark_page(response: Response, personal: bool) -> Response:
    """Tell caches that the page depends on the cookie, and keep a page showing one browser's
    receipt out of shared caches."""
    response.vary.add("Cookie")
    if personal:
        response.cache_control.private = True
    return response
