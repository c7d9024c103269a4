"""Security headers on every response, and trusting a reverse proxy's forwarded headers.

The pages carry no inline script or style (a test parses every template), so the
Content-Security-Policy can forbid both: a script injected into a page would not run.
"""

import re

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response

from petitions.config import settings_of

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
HSTS = "max-age=31536000"

# Referrer policy. Most pages use strict-origin-when-cross-origin: other sites see at most our
# origin, never a path. The pages whose address holds something private, a confirmation token
# (/p/<slug>/confirm, where the expired-link page is shown too), a signer's receipt
# (/p/<slug>/receipt?leaf_hash=...) or an invitation's opt-out token (/invitations/opt-out),
# use same-origin: no Referer at all leaves for another site.
# Not no-referrer: over HTTPS, Flask-WTF refuses a form POST without a same-origin Referer
# (WTF_CSRF_SSL_STRICT), so no-referrer would break the confirm, fresh-link and opt-out
# buttons. A same-origin Referer only tells this server an address it served itself.
DEFAULT_REFERRER_POLICY = "strict-origin-when-cross-origin"
PRIVATE_URL_REFERRER_POLICY = "same-origin"
_PRIVATE_URL = re.compile(r"^(/p/[^/]+/(confirm|receipt)|/invitations/opt-out)(/|$)")


def referrer_policy(path: str) -> str:
    """The Referrer-Policy for a response to ``path``."""
    return PRIVATE_URL_REFERRER_POLICY if _PRIVATE_URL.match(path) else DEFAULT_REFERRER_POLICY


def _set_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", referrer_policy(request.path))
    # Browsers ignore HSTS over plain HTTP; sent only where it means something (behind a TLS
    # proxy that is ProxyFix's X-Forwarded-Proto, see trust_proxy).
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def trust_proxy(app: Flask) -> None:
    """Behind ``PROXY_FIX_HOPS`` proxies, take the client address (X-Forwarded-For, which the
    rate limits key on), the scheme (X-Forwarded-Proto, for HSTS and the CSRF referrer check)
    and the host (X-Forwarded-Host) from them. Unset, forwarded headers are ignored: anyone
    could send them."""
    hops = settings_of(app).proxy_fix_hops
    if hops is not None:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


def init_app(app: Flask) -> None:
    """Add the security headers to every response; trust a proxy if PROXY_FIX_HOPS says so."""
    trust_proxy(app)
    app.after_request(_set_headers)
