"""Data minimisation, checked: no full client address stored anywhere (only the /24 or /64 the
rate limits need), nothing personal in the application's log at INFO level, and no e-mail
address in any URL the service makes (mailed links and redirects), not even encoded in a token.
"""

import base64
import binascii
import contextlib
import logging
import re
import zlib
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
import requests
from sqlalchemy import select
from sqlmodel import Session, SQLModel

from app import create_app
from petitions.config import settings_of
from petitions.db import flask_db, schema
from petitions.db.models import Mail
from petitions.invitations import opt_out
from tests.browser_support import served
from tests.helpers import link_in, open_petition, sent_mail, sign_in, sign_in_link_in, token_of
from tests.invitations.test_runs import drain, start
from tests.privacy import history

LINK = re.compile(r"https?://[^\s\"'<>]+")


def stored_text(app) -> str:
    """Every value of every column of every table, as text, one per line."""
    values = []
    with flask_db.engine_of(app).connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            for row in connection.execute(select(table)):
                for value in row:
                    if isinstance(value, bytes):
                        value = value.decode("latin-1")
                    values.append(f"{table.name}: {value}")
    return "\n".join(values)


def test_no_full_client_address_is_stored_anywhere(app, client, worker, runner, tmp_path):
    history.make(app, client, worker, runner, tmp_path)
    # The API and a fresh link asked for from an expired one record the network too.
    api_address = "198.51.100.23"
    asked = client.post(
        "/api/v1/petitions/later/signatures",
        json={"email": "m8@example.org"},
        **history.from_ip(api_address),
    )
    assert asked.status_code == 202
    worker.run_pending()
    renewed = client.post(
        "/p/later/confirm/renew",
        data={"token": token_of(link_in(sent_mail(app, "m8@example.org")[-1].text_body))},
        **history.from_ip(api_address),
    )
    assert renewed.status_code == 303
    stored = stored_text(app)
    # The networks are there, so the scan does read the columns that hold them ...
    for network in ("203.0.113.0/24", "2001:db8:1:2::/64", "198.51.100.0/24"):
        assert network in stored
    # ... and no client's full address is, in any spelling.
    for address in (
        history.CLIENT_IPV4,
        api_address,
        history.CLIENT_IPV6,
        "2001:0db8:0001:0002:0003:0004:0005:0006",
        "2001:db8:1:2:3:4:5:6".upper(),
    ):
        assert address not in stored


def personal_values(app) -> list[str]:
    """Every address, name, member number and token the history holds or mailed."""
    values = []
    for number, email, name in history.ROLL:
        values += [number, email, name]
    values += [history.ORGANISER, "not an address", "Rejected Person"]
    for mail in sent_mail(app):
        for link in LINK.findall(mail.text_body):
            values += [value for _, value in parse_qsl(urlsplit(link).query)]
    return values


def test_nothing_personal_is_logged_at_info(app, worker, runner, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    # Through the development server, whose request log is at INFO.
    with served(app) as base:
        history.make(app, app.test_client(), worker, runner, tmp_path)
        web = requests.Session()
        email = history.ROLL[7][1]
        assert web.post(f"{base}/p/later/sign", data={"email": email}).ok
        worker.run_pending()
        link = link_in(sent_mail(app, email)[-1].text_body)
        assert web.get(link).ok
        confirmed = web.post(f"{base}/p/later/confirm", data={"token": token_of(link)})
        assert confirmed.ok
        assert web.post(f"{base}/sign-in", data={"email": history.ORGANISER}).ok
        worker.run_pending()
        token = sign_in_link_in(sent_mail(app, history.ORGANISER)[-1].text_body)
        assert web.get(f"{base}/sign-in/link", params={"token": token}).ok
        assert web.post(f"{base}/sign-in/link", data={"token": token}).ok
    logged = [record.getMessage() for record in caplog.records]
    assert any("GET /p/later/confirm" in line for line in logged), "requests were logged"
    assert any("mail batch" in line for line in logged), "the mail batches were logged"
    text = "\n".join(logged)
    for value in personal_values(app):
        assert value not in text, f"{value!r} is in the log"
        assert value.lower() not in text.lower()
    assert "127.0.0.1 " not in text
    assert "127.0.0.0/24" in text


@pytest.fixture
def limited(database_url, tmp_path, monkeypatch):
    """The app with its rate limits on, one sign-in link per address an hour (the only limit
    that refuses requests per address: for signing, the mail is limited instead)."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SECRET_KEY", "test-secret-key")
    monkeypatch.setenv("SIGN_IN_LIMIT_PER_ADDRESS", "1 per hour")
    for name in ("REDIS_URL", "SMTP_URL", "PETITIONS_ENV"):
        monkeypatch.delenv(name, raising=False)
    built = create_app(
        {"TESTING": True, "WTF_CSRF_ENABLED": False, "INPROCESS_WORKER_THREAD": False}
    )
    built.instance_path = str(tmp_path / "instance")
    schema.upgrade(flask_db.engine_of(built))
    yield built
    flask_db.engine_of(built).dispose()


def test_an_exceeded_limit_per_address_logs_no_address(limited, caplog):
    caplog.set_level(logging.INFO)
    client = limited.test_client()
    for _ in range(2):
        answer = client.post("/sign-in", data={"email": "Someone.Else+x@Example.org"})
    assert answer.status_code == 429
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "exceeded" in logged, "the limiter logged the exceeded limit"
    assert "example.org" not in logged.lower()
    assert "someone" not in logged.lower()


def decoded_parts(value: str) -> list[str]:
    """``value`` and whatever its dot-separated parts say when read as (zlib'd) base64."""
    texts = [value]
    for part in value.lstrip(".").split("."):
        try:
            raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        except (binascii.Error, ValueError):
            continue
        with contextlib.suppress(zlib.error):
            raw = zlib.decompress(raw)
        texts.append(raw.decode("latin-1"))
    return texts


def assert_no_address_in(url: str) -> None:
    """No address in ``url``, plainly, percent-encoded, or in what its query's values decode to
    (every address here is at example.org)."""
    assert "@" not in unquote(url), f"an address in {url}"
    decoded = [text for _, value in parse_qsl(urlsplit(url).query) for text in decoded_parts(value)]
    for text in [url.lower(), unquote(url).lower(), *decoded]:
        assert "example.org" not in text.lower(), f"an address in {url}"


def test_no_url_the_service_makes_holds_an_address(app, client, worker, runner, tmp_path):
    history.make(app, client, worker, runner, tmp_path)
    # An invitation, which carries an opt-out link too.
    organiser = app.test_client()
    sign_in(app, organiser, "inviter@example.org", "organiser")
    assert start(organiser, slug="later").status_code == 303
    drain(app, worker)
    links = [link for mail in sent_mail(app) for link in LINK.findall(mail.text_body)]
    purposes = {mail.purpose for mail in sent_mail(app)}
    assert {"confirm_link", "sign_in", "invitation"} <= purposes
    assert any("/invitations/opt-out?token=" in link for link in links)
    for link in links:
        assert_no_address_in(link)
    # The redirects answering a request to sign, a sign-in and an opt-out.
    opt_out_link = next(link for link in links if "/invitations/opt-out" in link)
    redirects = [
        client.post("/p/later/sign", data={"email": "m8@example.org"}),
        client.post("/sign-in", data={"email": history.ORGANISER, "next": "/organiser/"}),
        client.post("/invitations/opt-out", data={"token": token_of(opt_out_link)}),
        client.post("/p/later/sign", data={"email": "stranger@example.org"}),
    ]
    for answer in redirects:
        assert answer.status_code == 303
        assert_no_address_in(answer.headers["Location"])


def test_an_opt_out_link_mailed_before_the_address_was_encrypted_still_works(app, client):
    open_petition(app, "vote")
    legacy = opt_out._serializer(settings_of(app)).dumps({"k": "old@example.org"})
    assert opt_out.read_token(settings_of(app), legacy) == "old@example.org"
    assert client.post("/invitations/opt-out", data={"token": legacy}).status_code == 303
    fresh = opt_out.make_token(settings_of(app), "new@example.org")
    assert "example.org" not in "".join(decoded_parts(fresh))
    assert opt_out.read_token(settings_of(app), fresh) == "new@example.org"
    with Session(flask_db.engine_of(app)) as session:
        assert session.execute(select(Mail)).first() is None
