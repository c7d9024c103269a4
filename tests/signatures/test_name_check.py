""" "Was my name used?", end to end: the question asked by address (one answer for every address),
the mail the worker sends (the signature's entry and a working receipt link, or "no signature in
your name"), and the report from that mail, which reaches every scrutineer, the audit trail and
the public count, once per signature."""

import re
import time
from datetime import timedelta

import itsdangerous.timed
import pytest
from sqlalchemy import select
from sqlmodel import Session

from petitions.accounts import users
from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.engine import utcnow
from petitions.db.models import AuditEvent, Mail, Member, NameReport, SignRequest
from petitions.lifecycle import rules
from petitions.privacy import purge
from petitions.signatures import name_check, withdrawal
from tests.helpers import (
    add_members,
    link_in,
    open_petition,
    petition,
    sent_mail,
    sign_in,
    token_of,
)

REPORT_LINK = re.compile(r"^(http://\S+/p/[a-z0-9-]+/name-report\?token=(\S+))$", re.MULTILINE)
RECEIPT_LINK = re.compile(
    r"^http://[^/\s]+(/p/vote/receipt\?index=\d+&leaf_hash=[0-9a-f]{64})$", re.MULTILINE
)
MEMBERS = [("N1", "ann@example.org"), ("N2", "bob@example.org"), ("N3", "cy@example.org")]


def report_token_in(text: str) -> str:
    """The token of the link to report, which stands on a line of its own."""
    match = REPORT_LINK.search(text)
    assert match, f"no link to report on a line of its own in:\n{text}"
    return match.group(2)


def sign(client, worker, app, email: str) -> None:
    assert client.post("/p/vote/sign", data={"email": email}).status_code == 303
    worker.run_pending()
    token = token_of(link_in(sent_mail(app, email)[-1].text_body))
    assert client.post("/p/vote/confirm", data={"token": token}).status_code == 200


def ask(client, worker, email: str, **extra):
    response = client.post("/p/vote/name-check", data={"email": email, **extra})
    worker.run_pending()
    return response


def last_mail(app, to: str) -> Mail:
    return sent_mail(app, to)[-1]


@pytest.fixture
def signed(app, client, worker):
    """Three members (and a lapsed one); ann and bob signed, cy did not."""
    add_members(app, *MEMBERS, ("N4", "lapsed@example.org", "lapsed"))
    open_petition(app, threshold=5)
    sign(client, worker, app, "ann@example.org")
    sign(client, worker, app, "bob@example.org")
    return app


def scrutineers(app, *emails: str, disabled: tuple = (), organisers: tuple = ()) -> None:
    with Session(flask_db.engine_of(app)) as session:
        for email in emails + disabled:
            users.add_user(session, email, "scrutineer")
        for email in organisers:
            users.add_user(session, email, "organiser")
        session.commit()
        for email in disabled:
            users.disable_user(session, email)
        session.commit()


def test_a_signer_is_mailed_their_entry_and_a_receipt_link_that_checks_it(
    app, client, worker, signed
):
    asked = ask(client, worker, "BOB@example.org")
    assert asked.status_code == 303
    assert asked.headers["Location"].endswith("/p/vote/name-check/check-email")
    mail = last_mail(app, "bob@example.org")
    assert mail.purpose == "name_used"
    assert mail.subject == "A signature in your name: Petition vote"
    text = mail.text_body
    # Bob's signature is number 2, the log's second leaf.
    assert "Signature number 2, entry 2 of the public log (leaf index 1)" in text
    assert ": counted." in text
    [receipt] = RECEIPT_LINK.findall(text)
    page = client.get(receipt)
    assert page.status_code == 200
    shown = page.get_data(as_text=True)
    assert '<dd id="receipt-number">2</dd>' in shown
    assert "This signature no longer counts" not in shown
    leaf = client.get("/api/v1/petitions/vote/log/proof?index=1&size=2").get_json()
    assert leaf["leaf_hash"] in receipt
    assert report_token_in(text)
    assert "I did not sign this" in mail.html_body


def test_a_member_who_did_not_sign_is_told_there_is_no_signature(app, client, worker, signed):
    ask(client, worker, "cy@example.org")
    mail = last_mail(app, "cy@example.org")
    assert mail.purpose == "name_not_used"
    assert "There is no signature in your name" in mail.text_body
    assert "name-report" not in mail.text_body
    assert mail.links is None


def test_a_withdrawn_signature_is_named_as_withdrawn(app, client, worker, signed):
    settings = settings_of(app)
    vote = petition(app)
    member_id = _member_id(app, "ann@example.org")
    token = withdrawal.manage_token(settings, vote.id, member_id)
    done = withdrawal.withdraw(flask_db.engine_of(app), settings, token, "vote")
    assert done.outcome == "withdrawn"
    ask(client, worker, "ann@example.org")
    text = last_mail(app, "ann@example.org").text_body
    assert "Signature number 1, entry 1 of the public log (leaf index 0)" in text
    assert "withdrawn on " in text
    assert "it no longer counts" in text
    # The withdrawn signature can still be reported: someone may have signed and withdrawn.
    assert report_token_in(text)


def _member_id(app, email: str) -> int:
    with Session(flask_db.engine_of(app)) as session:
        return session.scalar(select(Member.id).where(Member.email == email))


@pytest.mark.parametrize(
    ("email", "extra"),
    [
        ("stranger@example.org", {}),  # not on the roll
        ("lapsed@example.org", {}),  # not in good standing
        ("ann@example.org", {"member_id": "N9"}),  # the wrong number
    ],
)
def test_anyone_else_gets_the_same_answer_and_nobody_is_mailed(
    app, client, worker, signed, email, extra
):
    before = len(sent_mail(app))
    member = client.post("/p/vote/name-check", data={"email": "cy@example.org"})
    other = client.post("/p/vote/name-check", data={"email": email, **extra})
    assert (other.status_code, other.headers["Location"]) == (
        member.status_code,
        member.headers["Location"],
    )
    assert other.get_data() == member.get_data()
    worker.run_pending()
    # Only the member on the roll who asked is mailed.
    assert [m.to_address for m in sent_mail(app)[before:]] == ["cy@example.org"]
    with Session(flask_db.engine_of(app)) as session:
        kinds = session.scalars(
            select(SignRequest.kind).where(SignRequest.kind == "name_check")
        ).all()
    assert len(kinds) == 2  # both questions were recorded and answered the same way


def test_a_household_needs_the_membership_number(app, client, worker):
    add_members(app, ("H1", "home@example.org"), ("H2", "home@example.org"))
    open_petition(app)
    ask(client, worker, "home@example.org")
    assert sent_mail(app) == []
    ask(client, worker, "home@example.org", member_id="h2")
    [mail] = sent_mail(app)
    assert mail.purpose == "name_not_used"


def test_a_malformed_address_is_refused_on_the_form(app, client, signed):
    page = client.post("/p/vote/name-check", data={"email": "not an address"})
    assert page.status_code == 400
    assert "Error: Was my name used?" in page.get_data(as_text=True)


def test_the_question_is_answered_after_the_close(app, client, worker, signed):
    with Session(flask_db.engine_of(app)) as session:
        rules.close_petition(session, "vote")
        session.commit()
    assert client.get("/p/vote").status_code == 200
    assert "Was my name used?" in client.get("/p/vote").get_data(as_text=True)
    assert ask(client, worker, "ann@example.org").status_code == 303
    text = last_mail(app, "ann@example.org").text_body
    assert "Signature number 1" in text
    token = report_token_in(text)
    assert client.post("/p/vote/name-report", data={"token": token}).status_code == 200
    assert client.get("/api/v1/petitions/vote").get_json()["name_reports"] == 1


def test_a_report_reaches_every_scrutineer_the_audit_trail_and_the_public_count(
    app, client, worker, signed
):
    scrutineers(
        app,
        "sue@example.org",
        "sam@example.org",
        disabled=("gone@example.org",),
        organisers=("olga@example.org",),
    )
    assert client.get("/api/v1/petitions/vote").get_json()["name_reports"] == 0
    ask(client, worker, "bob@example.org")
    token = report_token_in(last_mail(app, "bob@example.org").text_body)

    # Opening the link (as a mail scanner would) reports nothing.
    page = client.get(f"/p/vote/name-report?token={token}")
    assert page.status_code == 200
    assert "I did not sign this" in page.get_data(as_text=True)
    assert "entry 2" in page.get_data(as_text=True)
    assert client.get("/api/v1/petitions/vote").get_json()["name_reports"] == 0

    done = client.post("/p/vote/name-report", data={"token": token})
    assert done.status_code == 200
    text = done.get_data(as_text=True)
    assert "your report is made" in text
    assert "2 scrutineers have" in text
    worker.run_pending()
    mails = [m for m in sent_mail(app) if m.purpose == "name_reported"]
    assert sorted(m.to_address for m in mails) == ["sam@example.org", "sue@example.org"]
    assert all(m.done_at is not None for m in mails)
    assert "entry 2 (leaf index 1)" in mails[0].text_body
    assert "/scrutiny/p/vote" in mails[0].text_body
    assert "bob@example.org" not in mails[0].text_body
    with Session(flask_db.engine_of(app)) as session:
        [event] = session.scalars(
            select(AuditEvent).where(AuditEvent.action == name_check.AUDIT_ACTION)
        ).all()
        [row] = session.scalars(select(NameReport)).all()
    assert event.petition_id == petition(app).id
    assert "entry 2 (leaf index 1)" in event.detail
    assert "mailed to 2 scrutineers" in event.detail
    assert "bob" not in event.detail
    assert (row.leaf_index, row.notified) == (1, 2)

    assert client.get("/api/v1/petitions/vote").get_json()["name_reports"] == 1
    results = client.get("/p/vote/results").get_data(as_text=True)
    assert re.search(r'<dd id="name-reports">1\b', results)


def test_the_scrutiny_page_lists_the_disputed_leaves(app, client, worker, signed):
    ask(client, worker, "bob@example.org")
    token = report_token_in(last_mail(app, "bob@example.org").text_body)
    client.post("/p/vote/name-report", data={"token": token})
    reader = app.test_client()
    sign_in(app, reader, "sue@example.org", role="scrutineer")
    page = reader.get("/scrutiny/p/vote").get_data(as_text=True)
    section = page.split('id="name-reports-heading"', 1)[1].split("</section>", 1)[0]
    assert '<th scope="row" class="number">2</th>' in section
    assert '<td class="number">1</td>' in section


def test_without_scrutineers_the_report_is_public_and_the_trail_says_nobody_was_told(
    app, client, worker, signed
):
    ask(client, worker, "ann@example.org")
    token = report_token_in(last_mail(app, "ann@example.org").text_body)
    done = client.post("/p/vote/name-report", data={"token": token})
    assert "no scrutineer account" in done.get_data(as_text=True)
    with Session(flask_db.engine_of(app)) as session:
        detail = session.scalar(
            select(AuditEvent.detail).where(AuditEvent.action == name_check.AUDIT_ACTION)
        )
    assert "nobody was notified" in detail
    assert client.get("/api/v1/petitions/vote").get_json()["name_reports"] == 1


def test_a_report_counts_once_however_often_or_by_whichever_link(app, client, worker, signed):
    scrutineers(app, "sue@example.org")
    ask(client, worker, "ann@example.org")
    first = report_token_in(last_mail(app, "ann@example.org").text_body)
    ask(client, worker, "ann@example.org")
    second = report_token_in(last_mail(app, "ann@example.org").text_body)
    assert first != second
    assert client.post("/p/vote/name-report", data={"token": first}).status_code == 200
    for token in (first, second):
        again = client.post("/p/vote/name-report", data={"token": token})
        assert again.status_code == 200
        assert "already reported" in again.get_data(as_text=True)
        page = client.get(f"/p/vote/name-report?token={token}").get_data(as_text=True)
        assert "already reported" in page
    worker.run_pending()
    assert len([m for m in sent_mail(app) if m.purpose == "name_reported"]) == 1
    assert client.get("/api/v1/petitions/vote").get_json()["name_reports"] == 1
    with Session(flask_db.engine_of(app)) as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action == name_check.AUDIT_ACTION)
        ).all()
    assert len(events) == 1


def test_expired_forged_and_misplaced_links_report_nothing(
    app, client, worker, signed, monkeypatch
):
    settings = settings_of(app)
    vote = petition(app)
    spec = name_check.report_link_spec(vote, [0])
    made_at = time.time() - settings.confirm_link_max_age - 60
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: made_at)
    old = token_of(name_check.make_report_link(settings, spec))
    monkeypatch.undo()
    expired = client.post("/p/vote/name-report", data={"token": old})
    assert expired.status_code == 400
    assert "This link has expired" in expired.get_data(as_text=True)
    fresh = token_of(name_check.make_report_link(settings, spec))
    forged = client.post("/p/vote/name-report", data={"token": fresh[:-2] + "xx"})
    assert forged.status_code == 400
    assert "not valid" in forged.get_data(as_text=True)
    # A link to withdraw is no link to report.
    manage = withdrawal.manage_token(settings, vote.id, 1)
    assert client.post("/p/vote/name-report", data={"token": manage}).status_code == 400
    # A leaf that is no signature's (there is no leaf 7) is not reported.
    bogus = token_of(name_check.make_report_link(settings, name_check.report_link_spec(vote, [7])))
    assert client.post("/p/vote/name-report", data={"token": bogus}).status_code == 400
    # Another petition's page does not take the link.
    open_petition(app, slug="other")
    assert client.post("/p/other/name-report", data={"token": fresh}).status_code == 400
    assert client.get("/api/v1/petitions/vote").get_json()["name_reports"] == 0
    assert client.post("/p/vote/name-report", data={"token": fresh}).status_code == 200


def test_unknown_and_draft_petitions_are_not_found(app, client):
    with Session(flask_db.engine_of(app)) as session:
        rules.create_petition(session, slug="draft", title="Draft", threshold=3)
        session.commit()
    assert client.get("/p/draft/name-check").status_code == 404
    assert client.post("/p/nowhere/name-check", data={"email": "a@example.org"}).status_code == 404


def test_the_purge_blanks_the_question_and_keeps_the_report(app, client, worker, signed):
    with Session(flask_db.engine_of(app)) as session:
        rules.close_petition(session, "vote")
        session.commit()
    ask(client, worker, "bob@example.org")
    token = report_token_in(last_mail(app, "bob@example.org").text_body)
    client.post("/p/vote/name-report", data={"token": token})
    later = utcnow() + timedelta(days=settings_of(app).sign_request_retention_days + 1)
    purge.purge(flask_db.engine_of(app), settings_of(app), later)
    with Session(flask_db.engine_of(app)) as session:
        question = session.scalars(
            select(SignRequest).where(SignRequest.kind == "name_check")
        ).one()
        reports = session.scalars(select(NameReport)).all()
        audited = session.scalars(
            select(AuditEvent).where(AuditEvent.action == name_check.AUDIT_ACTION)
        ).all()
    assert (question.email, question.email_key, question.network) == ("", "", None)
    assert question.outcome == "name_used"
    assert [r.leaf_index for r in reports] == [1]
    assert len(audited) == 1
    assert client.get("/api/v1/petitions/vote").get_json()["name_reports"] == 1
