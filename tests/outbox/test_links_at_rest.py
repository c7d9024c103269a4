"""No live link at rest: a mail row holds no link that would sign, sign in or opt out, before
or after it is sent; the link is made when the mail leaves, and it works. Opt-out links expire.

Whoever can read the database (a backup, a replica, a support login) finds only placeholders.
"""

import time

import itsdangerous.timed
import pytest
from sqlmodel import Session, select

from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.models import Mail
from petitions.invitations import opt_out
from petitions.outbox.mail import PLACEHOLDER
from tests.helpers import add_members, configure, link_in, open_petition, sign_in, token_of
from tests.invitations.test_runs import make_due, start
from tests.outbox.test_mail_smtp import parts_of

SIGN_IN_LINK = "/sign-in/link?token="


def rows(app) -> list[Mail]:
    with Session(flask_db.engine_of(app)) as session:
        return list(session.exec(select(Mail).order_by(Mail.id)))


def assert_no_live_link(app) -> None:
    for row in rows(app):
        for body in (row.text_body, row.html_body, row.links or ""):
            assert "token=" not in body, (row.purpose, body)


@pytest.fixture
def inbox(app, smtp_server):
    started = smtp_server()
    configure(app, smtp_url=f"smtp://127.0.0.1:{started.port}")
    return started


def test_a_signing_link_exists_only_in_the_message_that_leaves(app, client, worker, inbox):
    add_members(app, ("M1", "ann@example.org"))
    open_petition(app)
    assert client.post("/p/vote/sign", data={"email": "ann@example.org"}).status_code == 303
    # Answered (the mail decided on and stored) but not yet sent: placeholders only.
    worker.run_pending(rounds=1)
    (queued,) = rows(app)
    assert queued.done_at is None
    assert f"{PLACEHOLDER}link" in queued.text_body
    assert_no_live_link(app)
    worker.run_pending()
    (received,) = inbox.messages
    text, html = parts_of(received["message"])
    link = link_in(text)
    assert link in html
    assert_no_live_link(app)
    confirmed = client.post("/api/v1/signatures/confirm", json={"token": token_of(link)})
    assert confirmed.get_json()["status"] == "confirmed"


def test_a_sign_in_link_exists_only_in_the_message_that_leaves(app, client, worker, inbox):
    sign_in(app, app.test_client(), "ada@example.org")
    assert client.post("/sign-in", data={"email": "ada@example.org"}).status_code == 303
    worker.run_pending()
    assert_no_live_link(app)
    (received,) = inbox.messages
    text, _html = parts_of(received["message"])
    (line,) = [line for line in text.splitlines() if SIGN_IN_LINK in line]
    token = line.split(SIGN_IN_LINK, 1)[1]
    assert client.post("/sign-in/link", data={"token": token}).status_code == 303


def test_invitations_carry_their_links_only_when_sent(app, client, worker, inbox):
    add_members(app, ("M1", "ann@example.org"), ("M2", "bo@example.org"))
    open_petition(app)
    sign_in(app, client)
    assert start(client).status_code == 303
    for _ in range(3):
        make_due(app)
        worker.run_pending()
    assert len(inbox.messages) == 2
    assert_no_live_link(app)
    for received in inbox.messages:
        text, _html = parts_of(received["message"])
        assert "/confirm?token=" in text
        assert "/invitations/opt-out?token=" in text


def test_the_dev_mailbox_shows_the_links_it_is_the_database(app, client, worker):
    add_members(app, ("M1", "ann@example.org"))
    open_petition(app)
    client.post("/p/vote/sign", data={"email": "ann@example.org"})
    worker.run_pending()
    (row,) = rows(app)
    assert row.transport == "dev"
    assert "/confirm?token=" in link_in(row.text_body)


def test_an_opt_out_link_expires(app, client, monkeypatch):
    settings = settings_of(app)
    made_at = time.time() - settings.opt_out_link_max_age - 60
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: made_at)
    old = opt_out.make_token(settings, "ann@example.org")
    monkeypatch.undo()
    fresh = opt_out.make_token(settings, "ann@example.org")
    assert client.post("/invitations/opt-out", data={"token": old}).status_code == 400
    assert client.post("/invitations/opt-out", data={"token": fresh}).status_code == 303


def test_a_link_to_report_a_signature_exists_only_in_the_message_that_leaves(
    app, client, worker, inbox
):
    add_members(app, ("M1", "ann@example.org"))
    open_petition(app)
    client.post("/p/vote/sign", data={"email": "ann@example.org"})
    worker.run_pending()
    (signing,) = inbox.messages
    token = token_of(link_in(parts_of(signing["message"])[0]))
    client.post("/p/vote/confirm", data={"token": token})
    assert client.post("/p/vote/name-check", data={"email": "ann@example.org"}).status_code == 303
    worker.run_pending(rounds=1)
    queued = rows(app)[-1]
    assert (queued.purpose, queued.done_at) == ("name_used", None)
    assert f"{PLACEHOLDER}link" in queued.text_body
    assert "name-report" not in queued.text_body + queued.html_body
    assert_no_live_link(app)
    worker.run_pending()
    assert_no_live_link(app)
    text, html = parts_of(inbox.messages[-1]["message"])
    (line,) = [line for line in text.splitlines() if "/name-report?token=" in line]
    assert line in html
    reported = client.post("/p/vote/name-report", data={"token": token_of(line)})
    assert reported.status_code == 200
    assert "your report is made" in reported.get_data(as_text=True)
