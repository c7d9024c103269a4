"""Security headers on pages, API answers and error pages; no template carries inline script or
style that the Content-Security-Policy would block; forwarded headers trusted only when asked."""

from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import request

from app import create_app
from petitions import config
from petitions.db import flask_db
from tests.helpers import add_members, open_petition

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HTTPS = "https://petitions.example"


@pytest.fixture
def database_url(tmp_path):
    """SQLite only: headers do not depend on the database."""
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def vote(app):
    """An open petition, "vote", with one member."""
    add_members(app, ("M1", "ann@example.org"))
    open_petition(app)


def assert_secured(response, referrer="strict-origin-when-cross-origin"):
    headers = response.headers
    assert headers["Content-Security-Policy"] == CSP
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == referrer
    assert "Strict-Transport-Security" not in headers


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/", 200),
        ("/p/vote", 200),
        ("/p/vote/check-email", 200),
        ("/p/vote/results", 200),
        ("/static/style.css", 200),
        ("/static/receipt.js", 200),
    ],
)
def test_pages_carry_the_security_headers(client, vote, path, status):
    with client.get(path) as response:  # static files are streamed: close them
        assert response.status_code == status
        assert_secured(response)


@pytest.mark.parametrize(
    "path",
    [
        "/p/vote/confirm?token=abc",
        "/p/vote/confirm",
        "/p/vote/receipt?index=0&leaf_hash=" + "ab" * 32,
    ],
)
def test_pages_with_a_token_or_receipt_in_their_address_send_no_cross_site_referrer(
    client, vote, path
):
    response = client.get(path)
    assert response.status_code in (200, 400)
    # same-origin, not no-referrer: over HTTPS the confirm form's POST needs a same-origin
    # Referer for Flask-WTF's CSRF check (see petitions.web.security).
    assert_secured(response, referrer="same-origin")


def test_posting_a_confirmation_carries_the_headers_too(client, vote):
    response = client.post("/p/vote/confirm", data={"token": "forged"})
    assert response.status_code == 400
    assert_secured(response, referrer="same-origin")


def test_api_answers_carry_the_security_headers(client, vote):
    answers = [
        client.get("/api/v1/petitions/vote"),
        client.get("/api/v1/openapi.json"),
        client.post("/api/v1/petitions/vote/signatures", json={"email": "ann@example.org"}),
        client.post("/api/v1/signatures/confirm", json={"token": "forged"}),
        client.get("/healthz"),
    ]
    assert [answer.status_code for answer in answers][:4] == [200, 200, 202, 400]
    for answer in answers:
        assert answer.mimetype == "application/json"
        assert_secured(answer)


@pytest.mark.parametrize(
    ("method", "path", "status", "mimetype"),
    [
        ("GET", "/p/nowhere", 404, "text/html"),
        ("GET", "/no/such/page", 404, "text/html"),
        ("GET", "/api/v1/petitions/nowhere", 404, "application/json"),
        ("GET", "/api/v1/no-such-thing", 404, "application/json"),
        ("DELETE", "/p/vote", 405, "text/html"),
        ("POST", "/api/v1/petitions/vote/signatures", 400, "application/json"),
    ],
)
def test_error_pages_carry_the_security_headers(client, vote, method, path, status, mimetype):
    response = client.open(path, method=method)
    assert response.status_code == status
    assert response.mimetype == mimetype
    assert_secured(response)


def test_an_unexpected_error_page_carries_the_security_headers(app, client, vote, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("boom")

    monkeypatch.setitem(app.view_functions, "public.index", broken)
    app.logger.disabled = True
    response = client.get("/")
    assert response.status_code == 500
    assert "boom" not in response.get_data(as_text=True)
    assert_secured(response)


def test_hsts_only_over_https(client, vote):
    assert "Strict-Transport-Security" not in client.get("/").headers
    secure = client.get("/", base_url=HTTPS)
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"
    api = client.get("/api/v1/petitions/vote", base_url=HTTPS)
    assert api.headers["Strict-Transport-Security"] == "max-age=31536000"
    # Without PROXY_FIX_HOPS a forwarded scheme is anyone's say-so, and ignored.
    forwarded = client.get("/", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in forwarded.headers


def _app_with(monkeypatch, **environ):
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    return create_app(
        {
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "INPROCESS_WORKER_THREAD": False,
            "RATELIMIT_ENABLED": False,
        }
    )


def test_behind_a_proxy_the_forwarded_scheme_and_client_are_trusted(app, monkeypatch, vote):
    proxied = _app_with(monkeypatch, PROXY_FIX_HOPS="1")
    try:
        seen = {}

        @proxied.before_request
        def remember():
            seen["remote_addr"] = request.remote_addr

        response = proxied.test_client().get(
            "/",
            headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"},
            environ_base={"REMOTE_ADDR": "10.0.0.2"},
        )
        assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
        assert seen["remote_addr"] == "198.51.100.7"
    finally:
        flask_db.engine_of(proxied).dispose()


@pytest.mark.parametrize("value", ["two", "0", "-1", "1.5"])
def test_a_malformed_proxy_fix_hops_stops_start_up(app, monkeypatch, capsys, value):
    with pytest.raises(SystemExit) as stopped:
        _app_with(monkeypatch, PROXY_FIX_HOPS=value)
    assert stopped.value.code == 2
    assert "PROXY_FIX_HOPS" in capsys.readouterr().err


def test_proxy_hops_reads_the_setting():
    assert config.proxy_hops({}) is None
    assert config.proxy_hops({"PROXY_FIX_HOPS": " "}) is None
    assert config.proxy_hops({"PROXY_FIX_HOPS": "2"}) == 2


# --- templates ----------------------------------------------------------------------------------


class InlineFinder(HTMLParser):
    """Collects what a Content-Security-Policy without 'unsafe-inline' would block."""

    def __init__(self) -> None:
        super().__init__()
        self.blocked: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        line = self.getpos()[0]
        names = {name.lower(): value for name, value in attrs}
        if tag == "style":
            self.blocked.append(f"line {line}: <style> block")
        if tag == "script":
            if not names.get("src"):
                self.blocked.append(f"line {line}: <script> without src")
            self._in_script = True
        for name, value in names.items():
            if name == "style":
                self.blocked.append(f"line {line}: style attribute on <{tag}>")
            if name.startswith("on"):
                self.blocked.append(f"line {line}: {name} handler on <{tag}>")
            if value and value.strip().lower().startswith("javascript:"):
                self.blocked.append(f"line {line}: javascript: URL on <{tag}>")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.blocked.append(f"line {self.getpos()[0]}: inline script text")


def page_templates() -> list[Path]:
    """Every template a browser renders (not the e-mails under templates/mail/)."""
    return sorted(
        path for path in TEMPLATES.rglob("*.html") if path.relative_to(TEMPLATES).parts[0] != "mail"
    )


def test_the_page_templates_are_all_checked():
    names = {str(path.relative_to(TEMPLATES)) for path in page_templates()}
    assert {"base.html", "petition.html", "sign/confirm.html", "log/receipt.html"} <= names
    assert not any(name.startswith("mail/") for name in names)


@pytest.mark.parametrize(
    "template", page_templates(), ids=lambda path: str(path.relative_to(TEMPLATES))
)
def test_no_template_has_inline_script_or_style(template):
    finder = InlineFinder()
    finder.feed(template.read_text(encoding="utf-8"))
    finder.close()
    assert not finder.blocked, f"{template.relative_to(TEMPLATES)}: {finder.blocked}"


@pytest.mark.parametrize(
    "html",
    [
        "<p style='color: red'>x</p>",
        "<style>p { color: red }</style>",
        "<script>alert(1)</script>",
        "<button onclick='go()'>x</button>",
        "<a href='javascript:go()'>x</a>",
    ],
)
def test_the_inline_finder_finds_what_the_policy_blocks(html):
    finder = InlineFinder()
    finder.feed(html)
    assert finder.blocked
