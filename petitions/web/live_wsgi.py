"""The fast path of the live count: GET /api/v1/petitions/<slug>/count answered in front of
Flask, straight from the per-process cache (petitions.web.live_count).

Thousands of open pages ask for the count every second, and it needs nothing of what Flask does
for every other request: no session cookie (a signed-in organiser's cookie would otherwise cost
a database lookup on every poll), no rate limits, no CSRF, no templates. Answering it here costs
about as much as a bare "hello" endpoint. Only a published petition's 200 is answered here;
everything else (an unknown slug, a draft, HEAD, a database with no previous value to serve)
falls through to the Flask view of the same route, which answers it the usual way.
"""

import re

from sqlalchemy.exc import SQLAlchemyError

from petitions.jobs import dispatch
from petitions.web import live_count, security

COUNT_PATH = re.compile(r"/api/v1/petitions/([a-z0-9-]{1,64})/count")
CACHE_CONTROL = "public, max-age=1"


def headers_for(body: bytes, path: str, secure: bool) -> list[tuple[str, str]]:
    """The answer's headers: those of every response of the service (petitions.web.security) and
    the count's own."""
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("Cache-Control", CACHE_CONTROL),
        ("Content-Security-Policy", security.CONTENT_SECURITY_POLICY),
        ("X-Frame-Options", "DENY"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", security.referrer_policy(path)),
    ]
    if secure:
        headers.append(("Strict-Transport-Security", security.HSTS))
    return headers


class LiveCountFastPath:
    """WSGI middleware in front of ``app``'s own WSGI callable (see the module's docstring)."""

    def __init__(self, wsgi_app, app):
        self.wsgi_app = wsgi_app
        self.app = app
        self.worker_started = False

    def _start_worker(self) -> None:
        # Without Redis the web process's own worker starts with its first request (see
        # petitions.jobs.dispatch); a process that is only ever polled must start it too.
        start = getattr(dispatch.dispatcher_of(self.app), "start", None)
        if start is not None:
            start()
        self.worker_started = True

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "GET":
            path = environ.get("PATH_INFO", "")
            match = COUNT_PATH.fullmatch(path)
            if match:
                try:
                    found = live_count.read(self.app, match.group(1))
                except SQLAlchemyError:
                    found = None  # Flask's view answers (and logs) it
                if found is not None:
                    if not self.worker_started:
                        self._start_worker()
                    secure = environ.get("wsgi.url_scheme") == "https"
                    start_response("200 OK", headers_for(found.body, path, secure))
                    return [found.body]
        return self.wsgi_app(environ, start_response)


def install(app) -> None:
    """Put the fast path in front of ``app`` (once)."""
    if not isinstance(app.wsgi_app, LiveCountFastPath):
        app.wsgi_app = LiveCountFastPath(app.wsgi_app, app)
