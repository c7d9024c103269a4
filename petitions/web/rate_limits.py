"""Rate limits on asking to sign, on confirming and on signing in, so that one network cannot
flood the service and sign-in links cannot be guessed at or sprayed, without refusing members
who share a network or whose address someone else typed.

- Asking to sign or to withdraw, and for a fresh link (the form and the API share the counts):
  per network only, at a safety valve (SIGN_LIMIT_PER_NETWORK) far above what a branch meeting
  or a carrier-grade NAT full of members asks in an hour. Below it, a busy network is shown to
  the organisers as an anomaly signal (SIGN_NOTICE_PER_NETWORK), never refused. Nothing is
  refused per address: anyone may type anyone's address, so such a limit would let a stranger
  lock a member out. The mail that requests cause to one mailbox is limited instead, by the
  worker that answers them (petitions.signatures.mail_limits), and the answer is the same.
- Asking what is held about an address: per network here; per address, the mail it causes
  (petitions.privacy.links), for the same reason.
- Confirming (the form, the fresh-link button and the API share the counts): per network.
- Signing in (asking for a link, and using one): per network; asking, also per address.

A network is the client's /24 (IPv4) or /64 (IPv6): one host usually holds a whole IPv6 /64,
and a small network its IPv4 /24. Behind a proxy the client address is only right with
PROXY_FIX_HOPS set (petitions.web.security.trust_proxy).

Counts are kept in Redis (REDIS_URL) so that every web process of every machine shares them;
without Redis, in the process's memory. If Redis does not answer, requests go through unlimited
(and the error is logged) rather than failing: signing must not stop because Redis did.
"""

import functools
import hashlib
import hmac
import ipaddress
import math
import time

from flask import Flask, current_app, jsonify, render_template, request
from flask_limiter import Limiter, RateLimitExceeded
from limits.errors import ConfigurationError

from petitions.config import SettingsError, settings_of
from petitions.roll.addresses import InvalidAddress, matching_key
from petitions.web.errors import wants_json

# Asking for a fresh link in place of an expired one mails a member like a request to sign, so
# it is counted as one too, besides as a confirmation.
RENEW_ENDPOINT = "signing.renew"
# Asking for the link to withdraw a signature is answered like a request to sign, so it is
# limited as one; withdrawing is limited as a confirmation.
# Asking "Was my name used?" mails a member like a request to sign, so it is limited as one too;
# reporting a signature from that mail is limited as a confirmation.
SIGN_ENDPOINTS = (
    "signing.sign",
    "api.request_signature",
    RENEW_ENDPOINT,
    "withdrawal.ask",
    "name_check.ask",
)
CONFIRM_ENDPOINTS = (
    "signing.confirm",
    RENEW_ENDPOINT,
    "api.confirm_signature",
    "withdrawal.withdraw",
    "name_check.report",
)
# Asking for a sign-in link and spending one share the per-network count; asking is also counted
# per address. Only POSTs count: showing the form costs nothing.
SIGN_IN_ENDPOINTS = ("auth.sign_in", "auth.use_link")
# Asking what is held about an address, or for it to be erased, mails that address, so it is
# limited as asking to sign is: per network here (one count for both forms), and the mail per
# address where it is answered.
PRIVACY_ENDPOINTS = ("privacy.request_export", "erasure.request_erasure")
KEY_PREFIX = "petitions-limits"
# A Redis that does not answer must not hold a request for long (the limits then count in memory).
REDIS_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 2}
_EXTENSION = "petitions.web.rate_limits"
_SHARED = f"{_EXTENSION}.shared"

MESSAGES = {
    "sign-network": "Too many requests to sign have come from your network.",
    "confirm-network": "Too many confirmations have come from your network.",
    "sign-in-network": "Too many sign-in attempts have come from your network.",
    "sign-in-address": "Too many sign-in links have been asked for this e-mail address.",
    "privacy-network": "Too many requests for members' data have come from your network.",
}


# Kept per address: each request asks for its network several times (every limit's key, and the
# request's own record), and parsing an address each time was a tenth of the limits' cost.
@functools.lru_cache(maxsize=4096)
def network_of(address: str | None) -> str:
    """The network a client address belongs to: its IPv4 /24 or IPv6 /64, as a CIDR string."""
    try:
        ip = ipaddress.ip_address((address or "").split("%", 1)[0])
    except ValueError:
        return "unknown"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 64
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def client_network() -> str:
    """The current request's network (see network_of)."""
    return network_of(request.remote_addr)


def _given_address() -> str | None:
    if request.is_json:
        body = request.get_json(silent=True)
        email = body.get("email") if isinstance(body, dict) else None
    else:
        email = request.form.get("email")
    return email if isinstance(email, str) else None


def address_key() -> str | None:
    """The matching key of the address the request gives, or None when there is none."""
    email = _given_address()
    if email is None:
        return None
    try:
        return matching_key(email)
    except InvalidAddress:
        return None


def _address_limit_key() -> str:
    # A keyed digest, not the address: the limiter keeps its keys in Redis and writes the key of
    # a limit that is exceeded to its log, and neither should hold a member's address.
    key = address_key()
    if not key:
        return ""
    secret = settings_of(current_app).secret_key.encode()
    return hmac.new(secret, f"rate-limit:{key}".encode(), hashlib.sha256).hexdigest()


def _no_usable_address() -> bool:
    return address_key() is None


def storage_uri(redis_url: str | None, chosen: str | None = None) -> str:
    """Where counts are kept: ``chosen`` (RATELIMIT_STORAGE_URI), else REDIS_URL, else this
    process's memory."""
    uri = chosen or redis_url or "memory://"
    # redis-py (and so rq) reads a socket as unix://; the limits library calls it redis+unix://.
    return "redis+" + uri if uri.startswith("unix://") else uri


def limiter_of(app: Flask) -> Limiter:
    """The app's Limiter."""
    return app.extensions[_EXTENSION]


def init_app(app: Flask) -> None:
    """Put the limits on the signing and confirming views of ``app``; answer 429 clearly.

    RATELIMIT_ENABLED (app.config, default True) turns them all off. Raises SettingsError for
    an unusable storage. When Redis stops answering, each process counts in its own memory
    until it answers again (Flask-Limiter logs the switch once, as "flask-limiter"): limits
    are looser across processes for that while, never off.
    """
    settings = settings_of(app)
    uri = storage_uri(settings.redis_url, app.config.get("RATELIMIT_STORAGE_URI"))
    # One Limiter per app, with its own storage; the views' functions are wrapped on this app
    # only, so apps made side by side in one process (as the tests make them) stay apart.
    limiter = Limiter(
        client_network,
        storage_uri=uri,
        storage_options=REDIS_OPTIONS if uri.startswith("redis") else {},
        strategy=app.config.get("RATELIMIT_STRATEGY", "moving-window"),
        key_prefix=KEY_PREFIX,
        swallow_errors=True,
        in_memory_fallback_enabled=True,
        enabled=app.config.get("RATELIMIT_ENABLED", True),
    )
    try:
        limiter.init_app(app)
    except ConfigurationError as exc:
        scheme = uri.split(":", 1)[0]
        raise SettingsError(f"rate limit storage {scheme}:// is not usable: {exc}") from None
    app.extensions[_EXTENSION] = limiter
    app.register_error_handler(RateLimitExceeded, _too_many_requests)
    if not limiter.enabled:
        return

    by_network = limiter.shared_limit(
        settings.sign_limit_per_network,
        "sign-network",
        error_message=MESSAGES["sign-network"],
    )
    confirming = limiter.shared_limit(
        settings.confirm_limit_per_network,
        "confirm-network",
        error_message=MESSAGES["confirm-network"],
    )
    signing_in = limiter.shared_limit(
        settings.sign_in_limit_per_network,
        "sign-in-network",
        methods=["POST"],
        error_message=MESSAGES["sign-in-network"],
    )
    sign_in_address = limiter.shared_limit(
        settings.sign_in_limit_per_address,
        "sign-in-address",
        key_func=_address_limit_key,
        exempt_when=_no_usable_address,
        methods=["POST"],
        error_message=MESSAGES["sign-in-address"],
    )
    privacy_network = limiter.shared_limit(
        settings.privacy_limit_per_network,
        "privacy-network",
        error_message=MESSAGES["privacy-network"],
    )
    app.extensions[_SHARED] = {
        "sign": by_network,
        "confirm": confirming,
        "privacy": privacy_network,
    }
    for endpoint in PRIVACY_ENDPOINTS:
        app.view_functions[endpoint] = privacy_network(app.view_functions[endpoint])
    for endpoint in SIGN_IN_ENDPOINTS:
        app.view_functions[endpoint] = signing_in(app.view_functions[endpoint])
    app.view_functions["auth.sign_in"] = sign_in_address(app.view_functions["auth.sign_in"])
    for endpoint in SIGN_ENDPOINTS:
        app.view_functions[endpoint] = by_network(app.view_functions[endpoint])
    for endpoint in CONFIRM_ENDPOINTS:
        app.view_functions[endpoint] = confirming(app.view_functions[endpoint])


def count_as(app: Flask, endpoint: str, kind: str = "sign") -> None:
    """Count the view ``endpoint`` of ``app`` against the per-network limit of ``kind``
    ("sign", "confirm" or "privacy"), shared with the views already counted there. For a new
    form that mails the address it is given, "sign": the same safety valve, and its mail
    limited per address where the request is answered, never the request. Call after
    init_app, once the view is registered; nothing happens when the limits are off."""
    shared = app.extensions.get(_SHARED)
    if shared is not None:
        app.view_functions[endpoint] = shared[kind](app.view_functions[endpoint])


def retry_after() -> int:
    """Seconds until the limit this request broke lets another through (at least 1)."""
    limit = limiter_of(current_app).current_limit
    try:
        reset_time = limit.window.reset_time  # when the oldest counted request stops counting
    except Exception:  # the storage failed since it refused the request: a guess will do
        current_app.logger.warning("rate limit storage unreadable; Retry-After guessed")
        return 60
    return max(1, math.ceil(reset_time - time.time()))


# What each limit means for the person who met it: where the link they asked for earlier is, and
# what to do meanwhile. Keyed by the limit's scope, as MESSAGES is.
ADVICE = {
    "sign-network": (
        "If you asked for a signing link earlier, that link still works: look for our e-mail in "
        "your inbox, and in your spam or junk folder."
    ),
    "confirm-network": (
        "Nothing was counted this time, and your signing link still works until it expires: "
        "open it again later. If you cannot find it, look in your spam or junk folder."
    ),
    "sign-in-network": (
        "A sign-in link sent to you earlier still works until it expires: look for our e-mail "
        "in your inbox, and in your spam or junk folder."
    ),
    "sign-in-address": (
        "The sign-in link already sent to this address still works until it expires: look for "
        "our e-mail in your inbox, and in your spam or junk folder."
    ),
    "privacy-network": (
        "If you asked earlier, the link we sent still works until it expires: look for our "
        "e-mail in your inbox, and in your spam or junk folder."
    ),
}
# What the page calls each kind of limit, in its heading and title.
HEADINGS = {
    "sign": "Too many requests to sign",
    "confirm": "Too many confirmations",
    "sign-in": "Too many sign-in attempts",
    "privacy": "Too many requests for members' data",
}


def wait_in_words(seconds: int) -> str:
    """A wait of ``seconds`` for people, rounded up to whole minutes: "about 12 minutes"
    (whole hours from two hours on)."""
    minutes = max(1, math.ceil(seconds / 60))
    if minutes >= 120:
        hours = math.ceil(minutes / 60)
        return f"about {hours} hours"
    return "about 1 minute" if minutes == 1 else f"about {minutes} minutes"


def _scope_of(exc: RateLimitExceeded) -> str:
    scope = getattr(exc.limit, "scope", None)
    if isinstance(scope, str) and scope in MESSAGES:
        return scope
    # A limit named by its message only (none is, today): find its scope by the words.
    found = [name for name, words in MESSAGES.items() if words == exc.description]
    return found[0] if found else "sign-network"


def _too_many_requests(exc: RateLimitExceeded):
    seconds = retry_after()
    scope = _scope_of(exc)
    reason = MESSAGES[scope]
    advice = ADVICE[scope]
    kind = scope.rsplit("-", 1)[0]
    wait = wait_in_words(seconds)
    if wants_json():
        message = f"{reason} {advice} Try again in {wait} ({seconds} seconds)."
        response = jsonify(
            error="rate_limited",
            message=message,
            limit=kind,
            advice=advice,
            retry_after_seconds=seconds,
            retry_after_minutes=max(1, math.ceil(seconds / 60)),
        )
        response.status_code = 429
    else:
        page = render_template(
            "rate_limited.html",
            heading=HEADINGS[kind],
            reason=reason,
            advice=advice,
            wait=wait,
            seconds=seconds,
        )
        response = current_app.make_response((page, 429))
    response.headers["Retry-After"] = str(seconds)
    return response
