"""The security checks, each over everything it applies to so that a new page, form, parameter
or download cannot slip past: the session cookie's flags, sign-in links used twice or late,
CSRF on every POST route, open redirects through every page-to-return-to parameter, stored
markup on every page that shows organiser- or roll-written text, line breaks in mail headers,
formulas in every CSV, and the production start refusing unsafe settings (README, "Security").
"""

import csv
import io
import re
import time
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlmodel import Session

from app import create_app
from petitions.config import SettingsError, load_settings, settings_of
from petitions.db import flask_db
from petitions.db.models import Member, Petition, SignInRequest
from petitions.roll.importer import import_roll
from petitions.signatures import invalidation, signing, tokens
from petitions.spreadsheet import FORMULA_START
from tests import walk
from tests.accounts.test_users import _add, _mail_link
from tests.helpers import add_members, configure, open_petition, sent_mail, sign_in
from tests.outbox.conftest import smtp_server  # noqa: F401 - the fixture, used below
from tests.web.test_roles import _url

ROOT = Path(__file__).resolve().parents[2]

# --- the session cookie -----------------------------------------------------------------------


def _cookie_set_by_signing_in(app, runner) -> str:
    _add(runner)
    client = app.test_client()
    token = _mail_link(app, client)
    response = client.post("/sign-in/link", data={"token": token})
    assert response.status_code == 303
    [cookie] = [
        value
        for value in response.headers.getlist("Set-Cookie")
        if value.startswith("petitions_session=")
    ]
    return cookie


def test_the_session_cookie_is_httponly_and_same_site(app, runner):
    flags = [part.strip().lower() for part in _cookie_set_by_signing_in(app, runner).split(";")]
    assert "httponly" in flags
    assert "samesite=lax" in flags
    # Served over http (the development default), a Secure cookie would never come back.
    assert "secure" not in flags


PRODUCTION = {
    "PETITIONS_ENV": "production",
    "SECRET_KEY": "s" * 64,
    "BALLOT_WEBHOOK_SECRET": "whsec_dGVzdC13ZWJob29rLXNlY3JldA==",
    "LOG_SIGNING_KEY": "dGVzdC1sb2ctc2lnbmluZy1rZXktMzItYnl0ZXMuLi4=",
    "SMTP_URL": "smtp://127.0.0.1:2525",
    "BALLOT_WEBHOOK_URL": "https://ballot.example.org/hooks",
    "BASE_URL": "https://petitions.example.org",
    "REDIS_URL": "redis://127.0.0.1:6379/15",
}


def test_in_production_the_session_cookie_is_secure_too(app, runner, tmp_path):
    production = load_settings(PRODUCTION, tmp_path).flask_config()
    assert production["SESSION_COOKIE_SECURE"] is True
    assert production["SESSION_COOKIE_HTTPONLY"] is True
    assert production["SESSION_COOKIE_SAMESITE"] == "Lax"
    app.config["SESSION_COOKIE_SECURE"] = production["SESSION_COOKIE_SECURE"]
    flags = [part.strip().lower() for part in _cookie_set_by_signing_in(app, runner).split(";")]
    assert {"secure", "httponly", "samesite=lax"} <= set(flags)


# --- sign-in links ----------------------------------------------------------------------------


def test_a_sign_in_link_used_again_signs_no_one_in(app, runner):
    _add(runner)
    first = app.test_client()
    token = _mail_link(app, first)
    assert first.post("/sign-in/link", data={"token": token}).status_code == 303
    replay = app.test_client()
    again = replay.post("/sign-in/link", data={"token": token})
    assert again.status_code == 400
    assert b"already been used" in again.data
    assert replay.get("/organiser/").status_code == 302


def test_a_sign_in_link_past_its_lifetime_signs_no_one_in(app, runner, monkeypatch):
    _add(runner)
    client = app.test_client()
    token = _mail_link(app, client)
    configure(app, sign_in_link_max_age=60)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 61)
    for response in (
        client.get(f"/sign-in/link?token={token}"),
        client.post("/sign-in/link", data={"token": token}),
    ):
        assert response.status_code == 400
        assert b"expired" in response.data
    monkeypatch.setattr(time, "time", real)
    assert client.get("/organiser/").status_code == 302


# --- CSRF -------------------------------------------------------------------------------------

# Blueprints without CSRF tokens, and why that is safe.
CSRF_EXEMPT = {
    # The JSON API: it reads JSON bodies only, which a cross-site form cannot send, and uses
    # no cookie.
    "api",
}


def test_every_post_route_refuses_a_request_without_its_csrf_token(app):
    app.config["WTF_CSRF_ENABLED"] = True
    open_petition(app, "vote")
    signed_in = app.test_client()
    sign_in(app, signed_in)
    checked = []
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods:
            continue
        blueprint = rule.endpoint.split(".", 1)[0]
        for client in (app.test_client(), signed_in):
            response = client.post(_url(rule), data={"email": "ann@example.org"})
            assert response.status_code < 500, rule.rule
            if blueprint in CSRF_EXEMPT:
                assert response.status_code != 200, rule.rule
                continue
            assert response.status_code == 400, (rule.rule, response.status_code)
            assert b"CSRF" in response.data, rule.rule
        checked.append(rule.rule)
    # The walk did find the forms: signing, confirming, signing in, the organisers' pages.
    assert {"/p/<slug>/sign", "/sign-in", "/sign-in/link", "/organiser/petitions/new"} <= set(
        checked
    )


# --- open redirects ---------------------------------------------------------------------------

# The request parameters that name a page to go to afterwards, wherever a view reads them.
NEXT_LIKE = re.compile(r"next|return|redirect|back|continue|goto|dest|target|url|came_from", re.I)
READS_PARAMETER = re.compile(
    r"request\.(?:args|form|values)(?:\.get\(|\[)\s*[\"']([^\"']+)[\"']|(\w+)\s*=\s*\w*Field\("
)
# Names that match but are no page to go to, and what they are.
NOT_A_PAGE = {
    # Where the threshold webhook is sent, checked by petitions.webhook_targets; no browser
    # is ever sent there.
    "webhook_url",
}
HOSTILE_TARGETS = (
    "https://evil.example/",
    "//evil.example/",
    "/\\evil.example/",
    "\\\\evil.example/",
    "/\t/evil.example/",
    "/\n/evil.example/",
    "javascript:alert(1)",
    "http:/evil.example/",
    " //evil.example/",
)


def test_next_is_the_only_page_to_return_to_that_a_view_reads():
    """Every parameter a view or form reads whose name says it is a place to go: the tests
    below cover each one; a new one must be added to them."""
    found = set()
    for source in sorted((ROOT / "petitions" / "web").rglob("*.py")):
        for match in READS_PARAMETER.finditer(source.read_text(encoding="utf-8")):
            name = match.group(1) or match.group(2)
            if NEXT_LIKE.search(name):
                found.add(name)
    assert found - NOT_A_PAGE == {"next"}


@pytest.mark.parametrize("target", HOSTILE_TARGETS)
def test_no_next_parameter_leads_off_the_site(app, runner, target):
    _add(runner)
    # Signed in already: the sign-in page sends the browser straight on.
    client = app.test_client()
    sign_in(app, client, "ada@example.org")
    response = client.get("/sign-in", query_string={"next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/organiser/"

    # Asking for a link: the page to return to travels with the request, and in the mail.
    asking = app.test_client()
    asked = asking.post("/sign-in", data={"email": "ada@example.org", "next": target})
    assert asked.status_code == 303
    assert "evil" not in asked.headers["Location"]
    with Session(flask_db.engine_of(app)) as session:
        stored = session.scalars(select(SignInRequest).order_by(SignInRequest.id.desc())).first()
    assert stored.next_page is None
    token = _mail_link(app, asking)

    # The page the mailed link opens, and its button.
    page = asking.get("/sign-in/link", query_string={"token": token, "next": target})
    assert page.status_code == 200
    assert "evil" not in page.get_data(as_text=True)
    used = asking.post("/sign-in/link", data={"token": token, "next": target})
    assert used.status_code == 303
    assert used.headers["Location"] == "/organiser/"


def test_a_page_on_the_site_is_still_returned_to(app, runner):
    _add(runner)
    client = app.test_client()
    sign_in(app, client, "ada@example.org")
    response = client.get("/sign-in?next=/organiser/roll")
    assert response.headers["Location"] == "/organiser/roll"


# --- stored markup ----------------------------------------------------------------------------

SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(2)>'
HOSTILE = f"{SCRIPT}{ATTRIBUTE}"
# What must never reach a page unescaped.
RAW = ("<script>alert", "<img src=x", "onerror=alert(2)>")


def _csv(rows: list[tuple[str, ...]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


HOSTILE_ROLL = _csv(
    [
        ("member_id", "email", "name", "region", "status"),
        ("H1", "h1@example.org", f"=1+2 {HOSTILE}", f"=cmd {HOSTILE}", "active"),
        ("H2", "h2@example.org", f"@SUM(1) {HOSTILE}", f"+{HOSTILE}", "active"),
        ('=HYPERLINK("https://evil.example")', f"-2+3 {HOSTILE}", "x", "y", "active"),
    ]
)


@pytest.fixture
def hostile(app):
    """The walk's service with markup and formulas in every text organisers and the roll
    write: petition titles and texts, members' names and regions, an invalidation's note, a
    rejected roll row."""
    walk.arrange(app)
    engine = flask_db.engine_of(app)
    import_roll(engine, io.BytesIO(HOSTILE_ROLL.encode()), f"{SCRIPT}.csv")
    with Session(engine) as session:
        members = list(session.scalars(select(Member.id).where(Member.number.in_(["H1", "H2"]))))
        reached = session.scalars(select(Petition.id).where(Petition.slug == walk.REACHED)).one()
    for member_id in members:
        token = tokens.make_token(app.config["SECRET_KEY"], [], reached, member_id)
        assert signing.confirm(engine, settings_of(app), token).status == "confirmed"
    invalidation.invalidate(
        engine, settings_of(app), walk.REACHED, [3], "other", "organiser@example.org", HOSTILE
    )
    with Session(engine) as session:
        session.execute(
            update(Petition).values(
                title="=HYPERLINK(1) " + HOSTILE,
                body=f'{HOSTILE}\n\nhttps://evil.example/"onmouseover=alert(3) {SCRIPT}',
            )
        )
        session.commit()
    return app


def _html_pages(client, starts=walk.STARTS):
    """(path, status, body) of every page a walk from ``starts`` reaches that is HTML."""
    types = {}
    get = walk.getter(client)

    def typed(path: str):
        status, content_type, body = get(path)
        types[path] = content_type
        return status, content_type, body

    for path, status, body, _forms in walk.walk(typed, starts):
        assert status < 500, path
        if types[path].startswith("text/html"):
            yield path, status, body


def _assert_escaped(path: str, body: str) -> None:
    for raw in RAW:
        assert raw not in body, (path, raw)


@pytest.mark.parametrize("role", [None, "organiser", "scrutineer"])
def test_no_page_shows_stored_markup_as_markup(hostile, role):
    client = hostile.test_client()
    if role:
        sign_in(hostile, client, f"{role}@example.org", role)
    shown = 0
    for path, status, body in _html_pages(client):
        if status == 200 and "&lt;script&gt;alert(1)" in body:
            shown += 1
        _assert_escaped(path, body)
    # The text was shown (escaped) on many pages, not merely absent from them.
    assert shown >= (3 if role is None else 6)


def test_the_public_petition_page_shows_the_text_escaped(hostile):
    body = hostile.test_client().get(f"/p/{walk.OPEN}").get_data(as_text=True)
    assert (
        "&lt;script&gt;alert(1)&lt;/script&gt;&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in body
    )
    # A quote after a web address in the text cannot end an attribute and start another.
    assert '"onmouseover=alert(3)' not in body


def test_mail_bodies_show_stored_markup_escaped(hostile, worker):
    client = hostile.test_client()
    assert client.post(
        f"/api/v1/petitions/{walk.OPEN}/signatures", json={"email": "h1@example.org"}
    )
    worker.run_pending()
    [mail] = [m for m in sent_mail(hostile, "h1@example.org") if m.purpose == "confirm_link"]
    _assert_escaped("mail", mail.html_body)
    assert "&lt;script&gt;alert(1)" in mail.html_body


# --- mail headers -----------------------------------------------------------------------------

BCC = "\r\nBcc: evil@example.org"


def test_no_stored_value_adds_a_mail_header(app, client, worker, smtp_server):  # noqa: F811
    inbox = smtp_server()
    configure(app, smtp_url=f"smtp://127.0.0.1:{inbox.port}", org_name="Union")
    add_members(app, ("M1", "m1@example.org"))
    open_petition(app, "vote")
    with Session(flask_db.engine_of(app)) as session:
        # A title stored before titles were checked, with a header after a line break.
        session.execute(update(Petition).values(title=f"Fair pay{BCC}\nX-Evil: 1"))
        session.commit()
    assert client.post("/api/v1/petitions/vote/signatures", json={"email": "m1@example.org"})
    worker.run_pending()
    [received] = inbox.messages
    assert received["rcpt_tos"] == ["m1@example.org"]
    message = received["message"]
    assert message["Bcc"] is None
    assert message["X-Evil"] is None
    assert message["Subject"] == "Confirm your signature: Fair pay  Bcc: evil@example.org X-Evil: 1"


def test_the_roll_refuses_an_address_with_a_line_break(app):
    roll = f'member_id,email\nM1,"m1@example.org{BCC}"\nM2,m2@example.org\n'
    report = import_roll(flask_db.engine_of(app), io.BytesIO(roll.encode()), "roll.csv")
    assert report.counts["added"] == 1
    assert report.counts["rejected"] == 1
    with Session(flask_db.engine_of(app)) as session:
        numbers = list(session.scalars(select(Member.number)))
    assert numbers == ["M2"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ORG_NAME", f"Union{BCC}"),
        ("MAIL_FROM", f"petitions@example.org{BCC}"),
        ("MAIL_FROM", "Union\n <petitions@example.org>"),
    ],
)
def test_settings_that_reach_a_mail_header_refuse_line_breaks(tmp_path, name, value):
    with pytest.raises(SettingsError, match=f"{name} must be one line"):
        load_settings({name: value}, tmp_path)


# --- formulas in spreadsheets -----------------------------------------------------------------

# Every CSV the service offers, reached from the pages that link to it.
CSV_ROUTES = {"/scrutiny/audit.csv", "/organiser/roll/imports/<int:import_id>/report.csv"}
# Modules that write CSV without the formula-quoting writer, and why that is safe.
PLAIN_CSV_WRITERS = {
    # A sample roll of made-up names for the demo, from fixed lists: no one's text in it.
    "petitions/roll/sample.py",
}


def test_every_csv_route_is_checked_below(app):
    routes = {rule.rule for rule in app.url_map.iter_rules() if rule.rule.endswith(".csv")}
    assert routes == CSV_ROUTES


def test_every_csv_writer_quotes_formulas():
    plain = {
        str(source.relative_to(ROOT))
        for source in (ROOT / "petitions").rglob("*.py")
        if re.search(r"csv\.(writer|DictWriter)\(", source.read_text(encoding="utf-8"))
        and source.name != "spreadsheet.py"
    }
    assert plain == PLAIN_CSV_WRITERS


def _assert_no_formula(name: str, text: str) -> int:
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    for cell in cells:
        assert not cell.startswith(FORMULA_START), (name, cell)
    return len(cells)


def test_no_csv_download_holds_a_formula(hostile):
    client = hostile.test_client()
    sign_in(hostile, client, "organiser@example.org", "organiser")
    downloads = {}
    for path, status, body, _forms in walk.walk(walk.getter(client), walk.STARTS):
        if status == 200 and ".csv" in path:
            downloads[path] = body
    found = {re.sub(r"/\d+/", "/<int:import_id>/", path.split("?")[0]) for path in downloads}
    assert found == CSV_ROUTES
    text = "\n".join(downloads.values())
    assert "'=HYPERLINK" in text  # the formula is there, as text
    assert "'-2+3" in text
    for path, body in downloads.items():
        assert _assert_no_formula(path, body) > 0


# --- starting in production -------------------------------------------------------------------

UNSAFE = [
    ({"SECRET_KEY": None}, "SECRET_KEY must be set"),
    ({"SECRET_KEY": "short"}, "SECRET_KEY must be at least 32 bytes"),
    ({"BALLOT_WEBHOOK_SECRET": None}, "BALLOT_WEBHOOK_SECRET must be set"),
    ({"LOG_SIGNING_KEY": None}, "LOG_SIGNING_KEY must be set"),
    ({"SMTP_URL": None}, "SMTP_URL must be set"),
    ({"BALLOT_WEBHOOK_URL": None}, "BALLOT_WEBHOOK_URL must be set"),
    ({"BASE_URL": "http://petitions.example.org"}, "BASE_URL must be an https:// URL"),
    ({"REDIS_URL": None}, "REDIS_URL must be set"),
    ({"MAIL_FROM": f"a@example.org{BCC}"}, "MAIL_FROM must be one line"),
    ({"WEBHOOK_ALLOWED_NETWORKS": "0.0.0.0/0"}, "it would turn the check off"),
    ({"PETITIONS_ENV": "prod"}, "PETITIONS_ENV must be development or production"),
]


def _production_env(monkeypatch, tmp_path, redis_url, changes) -> None:
    env = {**PRODUCTION, "REDIS_URL": redis_url, "DATABASE_URL": f"sqlite:///{tmp_path}/p.db"}
    env.update(changes)
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)


@pytest.mark.parametrize(("changes", "reason"), UNSAFE)
def test_production_refuses_to_start_with_each_unsafe_setting(
    monkeypatch, tmp_path, capsys, redis_url, changes, reason
):
    _production_env(monkeypatch, tmp_path, redis_url, changes)
    with pytest.raises(SystemExit) as stopped:
        create_app({"TESTING": True})
    assert stopped.value.code == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("petitions: refusing to start: ")
    assert reason in line


def test_production_starts_with_safe_settings_and_no_development_pages(
    monkeypatch, tmp_path, redis_url
):
    _production_env(monkeypatch, tmp_path, redis_url, {})
    production = create_app({"TESTING": True, "INPROCESS_WORKER_THREAD": False})
    try:
        assert settings_of(production).production
        endpoints = {rule.endpoint.split(".")[0] for rule in production.url_map.iter_rules()}
        assert "dev" not in endpoints
    finally:
        flask_db.engine_of(production).dispose()
