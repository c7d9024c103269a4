"""Accounts, signing in by a mailed link, sessions and signing out."""

import threading
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from petitions.accounts import links
from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.models import AuditEvent, SignInLink, SignInRequest, UserAccount, UserSession
from petitions.jobs import dispatch
from tests.helpers import configure, sent_mail, sign_in, sign_in_link_in


def _add(runner, email="ada@example.org", role="organiser"):
    return runner.invoke(args=["user", "add", email, "--role", role])


def _mail_link(app, client, email="ada@example.org") -> str:
    response = client.post("/sign-in", data={"email": email})
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/sign-in/sent")
    dispatch.dispatcher_of(app).run_pending()
    mails = [m for m in sent_mail(app, email) if m.purpose == "sign_in"]
    assert mails, "no sign-in mail"
    return sign_in_link_in(mails[-1].text_body)


def test_user_add_creates_updates_and_refuses(app, runner, db):
    result = _add(runner)
    assert result.exit_code == 0, result.output
    assert "added ada@example.org as organiser" in result.output
    result = _add(runner, "ADA@Example.org", "scrutineer")
    assert result.exit_code == 0
    assert "updated" in result.output
    assert [(u.email, u.role) for u in db.exec(select(UserAccount))] == [
        ("ada@example.org", "scrutineer")
    ]
    db.rollback()  # on SQLite an open transaction would hold the write lock
    refused = _add(runner, "not an address")
    assert refused.exit_code != 0
    assert "not a usable e-mail address" in refused.output
    bad_role = _add(runner, "bob@example.org", "admin")
    assert bad_role.exit_code != 0
    assert "admin" in bad_role.output
    actions = [e.action for e in db.exec(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions == ["user.add", "user.role"]


def test_user_list_and_disable(app, runner):
    _add(runner)
    _add(runner, "sam@example.org", "scrutineer")
    listed = runner.invoke(args=["user", "list"]).output
    assert "ada@example.org\torganiser" in listed
    assert "sam@example.org\tscrutineer" in listed
    assert runner.invoke(args=["user", "disable", "nobody@example.org"]).exit_code != 0
    assert runner.invoke(args=["user", "disable", "sam@example.org"]).exit_code == 0
    assert "sam@example.org\tscrutineer (disabled)" in runner.invoke(args=["user", "list"]).output


def test_sign_in_by_mailed_link(app, client, runner):
    _add(runner)
    assert client.get("/organiser/").status_code == 302
    token = _mail_link(app, client)
    page = client.get(f"/sign-in/link?token={token}")
    assert page.status_code == 200
    assert b"Sign in</button>" in page.data
    # The GET (what a mail scanner does) signs nobody in.
    assert client.get("/organiser/").status_code == 302
    response = client.post("/sign-in/link", data={"token": token})
    assert response.status_code == 303
    assert response.headers["Location"] == "/organiser/"
    assert client.get("/organiser/").status_code == 200
    cookie = client.get_cookie("petitions_session")
    assert cookie.http_only
    assert cookie.same_site == "Lax"
    assert not cookie.secure  # BASE_URL is http here


def test_the_answer_is_the_same_for_unknown_and_disabled_addresses(app, client, runner):
    _add(runner)
    _add(runner, "off@example.org")
    runner.invoke(args=["user", "disable", "off@example.org"])
    answers = [
        client.post("/sign-in", data={"email": email})
        for email in ("ada@example.org", "nobody@example.org", "off@example.org")
    ]
    assert {(a.status_code, a.headers["Location"]) for a in answers} == {(303, "/sign-in/sent")}
    dispatch.dispatcher_of(app).run_pending()
    assert [m.to_address for m in sent_mail(app) if m.purpose == "sign_in"] == ["ada@example.org"]
    # Every request was recorded and answered the same way; only the mail differs.
    with Session(flask_db.engine_of(app)) as session:
        requests = list(session.exec(select(SignInRequest).order_by(SignInRequest.id)))
    assert [r.email for r in requests] == [
        "ada@example.org",
        "nobody@example.org",
        "off@example.org",
    ]
    assert all(r.done_at is not None for r in requests)


def test_malformed_address_is_a_clear_error(app, client):
    response = client.post("/sign-in", data={"email": "not-an-address"})
    assert response.status_code == 400
    assert b'aria-invalid="true"' in response.data


def test_a_link_works_once(app, client, runner):
    _add(runner)
    token = _mail_link(app, client)
    assert client.post("/sign-in/link", data={"token": token}).status_code == 303
    other = app.test_client()
    again = other.post("/sign-in/link", data={"token": token})
    assert again.status_code == 400
    assert b"already been used" in again.data
    assert other.get("/organiser/").status_code == 302


@pytest.mark.parametrize("token", ["", "nonsense", "a.b.c"])
def test_forged_links_are_refused(app, client, token):
    assert client.get(f"/sign-in/link?token={token}").status_code == 400
    assert client.post("/sign-in/link", data={"token": token}).status_code == 400


def test_expired_link_is_refused(app, client, runner, monkeypatch):
    _add(runner)
    token = _mail_link(app, client)
    configure(app, sign_in_link_max_age=1)
    import time

    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 5)
    response = client.post("/sign-in/link", data={"token": token})
    assert response.status_code == 400
    assert b"expired" in response.data


def test_a_disabled_account_cannot_use_its_link(app, client, runner):
    _add(runner)
    token = _mail_link(app, client)
    runner.invoke(args=["user", "disable", "ada@example.org"])
    assert client.post("/sign-in/link", data={"token": token}).status_code == 400


def test_sign_out_ends_every_copy_of_the_session(app, client):
    sign_in(app, client)
    copied = client.get_cookie("petitions_session").value
    assert client.get("/organiser/").status_code == 200
    assert client.post("/sign-out").status_code == 303
    assert client.get("/organiser/").status_code == 302
    replay = app.test_client()
    replay.set_cookie("petitions_session", copied)
    assert replay.get("/organiser/").status_code == 302


def test_disabling_signs_out(app, client, runner):
    sign_in(app, client, "ada@example.org")
    runner.invoke(args=["user", "disable", "ada@example.org"])
    assert client.get("/organiser/").status_code == 302


def test_idle_and_old_sessions_end(app, client, db):
    sign_in(app, client)
    row = db.exec(select(UserSession)).one()
    row.last_seen_at = row.last_seen_at - timedelta(
        seconds=settings_of(app).session_idle_seconds + 5
    )
    db.commit()
    assert client.get("/organiser/").status_code == 302
    db.expire_all()
    assert db.exec(select(UserSession)).one().ended_at is not None
    db.rollback()  # on SQLite an open transaction would hold the write lock

    sign_in(app, client, "other@example.org")
    row = db.exec(select(UserSession).where(UserSession.ended_at.is_(None))).one()
    row.created_at = row.created_at - timedelta(seconds=settings_of(app).session_max_seconds + 5)
    db.commit()
    assert client.get("/organiser/").status_code == 302


def test_the_mailed_link_leads_back_to_the_page_asked_for(app, client, runner):
    _add(runner)
    first = client.get("/organiser/roll")
    assert first.headers["Location"] == "/sign-in?next=/organiser/roll"
    client.post("/sign-in", data={"email": "ada@example.org", "next": "/organiser/roll"})
    dispatch.dispatcher_of(app).run_pending()
    mail = [m for m in sent_mail(app, "ada@example.org") if m.purpose == "sign_in"][-1]
    assert "&next=%2Forganiser%2Froll" in mail.text_body
    token = sign_in_link_in(mail.text_body).split("&", 1)[0]
    page = client.get(f"/sign-in/link?token={token}&next=%2Forganiser%2Froll")
    assert b'name="next" value="/organiser/roll"' in page.data
    response = client.post("/sign-in/link", data={"token": token, "next": "/organiser/roll"})
    assert response.headers["Location"] == "/organiser/roll"


def test_a_link_never_leads_off_site(app, client, runner):
    _add(runner)
    token = _mail_link(app, client)
    response = client.post("/sign-in/link", data={"token": token, "next": "https://evil.example/"})
    assert response.headers["Location"] == "/organiser/"


def test_next_goes_back_but_never_off_site(app, client, runner):
    _add(runner)
    first = client.get("/organiser/roll")
    assert first.status_code == 302
    assert "next=/organiser/roll" in first.headers["Location"]
    assert client.get("/sign-in?next=/organiser/roll").status_code == 200
    for target in ("https://evil.example/", "//evil.example/", "javascript:alert(1)"):
        sign_in(app, client)
        response = client.get(f"/sign-in?next={target}")
        assert response.status_code == 302
        assert response.headers["Location"] == "/organiser/"
        client.post("/sign-out")


def test_secure_cookie_over_https(app, monkeypatch, tmp_path):
    from app import create_app

    monkeypatch.setenv("BASE_URL", "https://petitions.example.org")
    secure = create_app({"TESTING": True, "INPROCESS_WORKER_THREAD": False})
    assert secure.config["SESSION_COOKIE_SECURE"] is True
    flask_db.engine_of(secure).dispose()


def test_concurrent_use_of_one_link_signs_in_once(app, runner):
    """Two browsers racing with the same link: exactly one session starts."""
    _add(runner)
    client = app.test_client()
    token = _mail_link(app, client)
    results = []

    def use():
        with Session(flask_db.engine_of(app)) as session:
            try:
                links.use_link(session, settings_of(app), token)
                session.commit()
                results.append("ok")
            except links.SignInLinkInvalid:
                session.rollback()
                results.append("refused")

    threads = [threading.Thread(target=use) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["ok"] + ["refused"] * 5
    with Session(flask_db.engine_of(app)) as session:
        assert len(list(session.exec(select(UserSession)))) == 1
        assert session.exec(select(SignInLink)).one().used_at is not None


def test_signed_in_people_see_the_public_pages(app, client):
    """The public pages hold a transaction while they render; who is signed in is known before
    (on SQLite a lookup during rendering would wait for the write lock, then fail)."""
    from tests.helpers import open_petition

    open_petition(app, "vote")
    sign_in(app, client)
    for path in ("/", "/p/vote", "/p/vote/results", "/p/nothing-here"):
        response = client.get(path)
        assert response.status_code in (200, 404), path
        assert b"Signed in as organiser@example.org, organiser" in response.data, path
