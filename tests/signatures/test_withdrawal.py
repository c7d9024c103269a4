"""Withdrawing a signature, end to end: asking for the link by address (answered like a request
to sign), the mailed link, the confirm page, the POST that withdraws; the count goes down, the
signature is kept as withdrawn, the log gets a cancelling leaf and still verifies."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.engine import utcnow
from petitions.db.models import LogLeaf, Petition, Signature, SignRequest
from petitions.jobs.dispatch import housekeeping
from petitions.signatures import receipts, withdrawal
from petitions.transparency import leaves as log_leaves
from tests.helpers import add_members, link_in, open_petition, petition, sent_mail, token_of

WITHDRAW_LINK = re.compile(r"^(http://\S+/p/[a-z0-9-]+/withdraw\?token=(\S+))$", re.MULTILINE)
MEMBERS = [("W1", "ann@example.org"), ("W2", "bob@example.org"), ("W3", "cy@example.org")]


def withdraw_token_in(text: str) -> str:
    """The token of the link to withdraw, which stands on a line of its own."""
    match = WITHDRAW_LINK.search(text)
    assert match, f"no link to withdraw on a line of its own in:\n{text}"
    return match.group(2)


def sign(client, worker, app, email: str) -> dict:
    """Ask to sign as ``email``, confirm the mailed link; the confirmed page's text."""
    assert client.post("/p/vote/sign", data={"email": email}).status_code == 303
    worker.run_pending()
    token = token_of(link_in(sent_mail(app, email)[-1].text_body))
    page = client.post("/p/vote/confirm", data={"token": token})
    assert page.status_code == 200, page.get_data(as_text=True)
    return page.get_data(as_text=True)


def ask_link(client, worker, email: str, **extra):
    response = client.post("/p/vote/manage", data={"email": email, **extra})
    worker.run_pending()
    return response


@pytest.fixture
def signed(app, client, worker):
    """Three members, a petition with threshold 5, two of them signed."""
    add_members(app, *MEMBERS, ("W4", "lapsed@example.org", "lapsed"))
    open_petition(app, threshold=5)
    sign(client, worker, app, "ann@example.org")
    sign(client, worker, app, "bob@example.org")
    return app


def verify(runner):
    housekeeping(runner.app)
    result = runner.invoke(args=["log", "verify", "--slug", "vote"])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_member_withdraws_from_a_mailed_link(app, client, worker, runner, signed):
    before = len(sent_mail(app))
    asked = ask_link(client, worker, "ANN@example.org")
    assert asked.status_code == 303
    assert asked.headers["Location"].endswith("/p/vote/manage/check-email")
    [mail] = sent_mail(app)[before:]
    assert mail.to_address == "ann@example.org"
    assert mail.purpose == "manage_link"
    assert mail.subject == "Your signature: Petition vote"
    token = withdraw_token_in(mail.text_body)
    assert "Withdraw my signature" in mail.html_body

    # Opening the link (as a mail scanner would) changes nothing.
    page = client.get(f"/p/vote/withdraw?token={token}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Withdraw your signature" in text
    assert 'method="post"' in text
    assert "already reached its threshold" not in text
    assert petition(app).signature_count == 2

    done = client.post("/p/vote/withdraw", data={"token": token})
    assert done.status_code == 200
    assert "Your signature is withdrawn" in done.get_data(as_text=True)
    assert "now has 1\n  signature." in done.get_data(as_text=True)
    stored = petition(app)
    assert (stored.signature_count, stored.log_size, stored.last_number) == (1, 3, 2)
    with Session(flask_db.engine_of(app)) as session:
        rows = session.scalars(select(Signature).order_by(Signature.id)).all()
        leaf = session.scalar(select(LogLeaf).where(LogLeaf.index == 2))
    assert len(rows) == 2  # kept, marked
    assert rows[0].withdrawn_at is not None
    assert rows[0].withdrawal_leaf == 2
    assert rows[1].withdrawn_at is None
    fields = log_leaves.decode(leaf.data)
    assert (leaf.kind, fields["type"], fields["cancels"], fields["reason"]) == (
        "withdrawal",
        "withdrawal",
        0,
        "withdrawn",
    )
    assert client.get("/api/v1/petitions/vote").get_json()["count"] == 1
    assert "the log counts 1 signatures, the petition reports 1" in verify(runner)

    # The receipt says the signature was withdrawn, in the published words.
    cancelled = client.get("/api/v1/petitions/vote/log/cancellations?index=0").get_json()
    [cancel] = cancelled["cancelled_by"]
    assert (cancel["type"], cancel["reason_text"]) == ("withdrawal", receipts.WITHDRAWAL_WORDS)
    with Session(flask_db.engine_of(app)) as session:
        status = receipts.receipt_status(session, stored.id, 0, leaf_hash_of(session, 0))
    assert [c.reason_text for c in status.cancellations] == ["the member withdrew it"]


def leaf_hash_of(session, index: int) -> bytes:
    return session.scalar(select(LogLeaf.leaf_hash).where(LogLeaf.index == index))


def test_the_confirmed_page_offers_withdrawing(app, client, worker, runner):
    add_members(app, *MEMBERS)
    open_petition(app, threshold=5)
    page = sign(client, worker, app, "cy@example.org")
    match = re.search(r'href="/p/vote/withdraw\?token=([^"]+)"', page)
    assert match, page
    assert client.post("/p/vote/withdraw", data={"token": match.group(1)}).status_code == 200
    assert petition(app).signature_count == 0
    verify(runner)


@pytest.mark.parametrize(
    ("email", "extra"),
    [
        ("stranger@example.org", {}),  # not on the roll
        ("lapsed@example.org", {}),  # not in good standing
        ("cy@example.org", {}),  # on the roll, has not signed
        ("ann@example.org", {"member_id": "W9"}),  # the wrong number
    ],
)
def test_anyone_else_gets_the_same_answer_and_no_mail(app, client, worker, signed, email, extra):
    before = len(sent_mail(app))
    asked = ask_link(client, worker, email, **extra)
    assert asked.status_code == 303
    assert asked.headers["Location"].endswith("/p/vote/manage/check-email")
    assert sent_mail(app)[before:] == []
    answer = client.get("/p/vote/manage/check-email").get_data(as_text=True)
    assert "this page says the same whoever asks" in answer
    with Session(flask_db.engine_of(app)) as session:
        request = session.scalars(select(SignRequest).order_by(SignRequest.id.desc())).first()
    assert (request.kind, request.outcome) == ("manage", "not_signed")


def test_a_malformed_address_is_a_form_error(client, signed):
    refused = client.post("/p/vote/manage", data={"email": "not an address"})
    assert refused.status_code == 400
    assert "Error:" in refused.get_data(as_text=True)


def test_the_dashboard_does_not_count_requests_to_withdraw(app, client, worker, signed):
    from petitions.reports import dashboard

    ask_link(client, worker, "ann@example.org")
    with Session(flask_db.engine_of(app)) as session:
        figures = dashboard._request_figures(session, petition(app), utcnow())
    assert figures["requests"] == 2


def token_for(app, member_number: str) -> str:
    """A fresh link to withdraw for the member numbered ``member_number``."""
    from petitions.db.models import Member

    with Session(flask_db.engine_of(app)) as session:
        member_id = session.scalar(select(Member.id).where(Member.number == member_number))
        petition_id = session.scalar(select(Petition.id))
    return withdrawal.manage_token(settings_of(app), petition_id, member_id)


def test_withdrawing_twice_is_harmless(app, client, runner, signed):
    token = token_for(app, "W1")
    assert client.post("/p/vote/withdraw", data={"token": token}).status_code == 200
    again = client.post("/p/vote/withdraw", data={"token": token})
    assert again.status_code == 200
    assert "already withdrawn" in again.get_data(as_text=True)
    page = client.get(f"/p/vote/withdraw?token={token}")
    assert "already withdrawn" in page.get_data(as_text=True)
    stored = petition(app)
    assert (stored.signature_count, stored.log_size) == (1, 3)
    verify(runner)


def test_withdrawing_after_the_close_is_refused(app, client, runner, signed):
    token = token_for(app, "W1")
    assert runner.invoke(args=["petition", "close", "vote"]).exit_code == 0
    for response in (
        client.get(f"/p/vote/withdraw?token={token}"),
        client.post("/p/vote/withdraw", data={"token": token}),
    ):
        assert response.status_code == 409
        text = response.get_data(as_text=True)
        assert "This petition is closed" in text
        assert "can no longer be withdrawn" in text
        assert "Withdraw my signature</button>" not in text
    assert petition(app).signature_count == 2
    asked = client.post("/p/vote/manage", data={"email": "ann@example.org"})
    assert asked.status_code == 409


def test_withdrawing_after_the_closing_time_is_refused(app, client, signed):
    token = token_for(app, "W1")
    with Session(flask_db.engine_of(app)) as session:
        stored = session.scalar(select(Petition))
        stored.closes_at = utcnow() - timedelta(seconds=1)
        session.add(stored)
        session.commit()
    assert client.post("/p/vote/withdraw", data={"token": token}).status_code == 409
    assert petition(app).signature_count == 2


def test_bad_and_other_links_change_nothing(app, client, signed):
    token = token_for(app, "W1")
    for bad in ("", "nonsense", token[:-3] + "xyz"):
        response = client.post("/p/vote/withdraw", data={"token": bad})
        assert response.status_code == 400
        assert "not valid" in response.get_data(as_text=True)
    # A confirmation link is not a link to withdraw.
    confirm_token = token_of(link_in(sent_mail(app, "ann@example.org")[-1].text_body))
    assert client.post("/p/vote/withdraw", data={"token": confirm_token}).status_code == 400
    # A member who has not signed has nothing to withdraw.
    assert client.post("/p/vote/withdraw", data={"token": token_for(app, "W3")}).status_code == 409
    assert petition(app).signature_count == 2


def test_an_expired_link_offers_a_fresh_one(app, client, signed):
    from tests.helpers import configure

    token = token_for(app, "W1")
    configure(app, confirm_link_max_age=-1)
    response = client.post("/p/vote/withdraw", data={"token": token})
    assert response.status_code == 400
    assert "Ask for a fresh link" in response.get_data(as_text=True)
    assert petition(app).signature_count == 2


def test_a_triggered_petition_stays_triggered_and_says_so(app, client, worker, runner):
    add_members(app, *MEMBERS)
    open_petition(app, threshold=2)
    sign(client, worker, app, "ann@example.org")
    sign(client, worker, app, "bob@example.org")
    assert petition(app).state == "triggered"
    token = token_for(app, "W1")
    page = client.get(f"/p/vote/withdraw?token={token}").get_data(as_text=True)
    assert "already reached its threshold" in page
    assert "stays called" in page
    done = client.post("/p/vote/withdraw", data={"token": token}).get_data(as_text=True)
    assert "stays called" in done
    stored = petition(app)
    assert (stored.state, stored.signature_count) == ("triggered", 1)
    verify(runner)


def test_signing_again_after_withdrawing_is_a_new_signature(app, client, worker, runner, signed):
    assert client.post("/p/vote/withdraw", data={"token": token_for(app, "W1")}).status_code == 200
    page = sign(client, worker, app, "ann@example.org")
    assert "Thank you: your signature is counted" in page
    stored = petition(app)
    assert (stored.signature_count, stored.last_number, stored.log_size) == (2, 3, 4)
    with Session(flask_db.engine_of(app)) as session:
        rows = session.execute(
            select(Signature.number, Signature.withdrawn_at.is_(None)).order_by(Signature.id)
        ).all()
        kinds = session.scalars(select(LogLeaf.kind).order_by(LogLeaf.index)).all()
    assert [tuple(r) for r in rows] == [(1, False), (2, True), (3, True)]
    assert kinds == ["signature", "signature", "withdrawal", "signature"]
    assert "the log counts 2 signatures, the petition reports 2" in verify(runner)
    # The new signature can be withdrawn in turn, and then the member signs a third time.
    assert client.post("/p/vote/withdraw", data={"token": token_for(app, "W1")}).status_code == 200
    assert petition(app).signature_count == 1
    sign(client, worker, app, "ann@example.org")
    assert petition(app).signature_count == 2
    verify(runner)


def test_recount_agrees_after_a_withdrawal(app, client, worker, runner, tmp_path):
    roll = tmp_path / "roll.csv"
    roll.write_text(
        "member_id,email,status\n" + "".join(f"{n},{e},active\n" for n, e in MEMBERS),
        encoding="utf-8",
    )
    assert runner.invoke(args=["roll", "import", str(roll)]).exit_code == 0
    open_petition(app, threshold=5)
    for _, email in MEMBERS:
        sign(client, worker, app, email)
    assert client.post("/p/vote/withdraw", data={"token": token_for(app, "W2")}).status_code == 200
    housekeeping(app)
    result = runner.invoke(args=["log", "recount", "--slug", "vote", "--roll", str(roll)])
    assert result.exit_code == 0, result.output
    assert "the recount agrees" in result.output
    with Session(flask_db.engine_of(app)) as session:
        assert session.scalar(select(func.count()).select_from(Signature)) == 3


def test_the_petition_page_forgets_a_withdrawn_signature(app, client, worker, signed):
    assert "You signed this petition" in client.get("/p/vote").get_data(as_text=True)
    # The client's cookie is bob's (the last to confirm here).
    done = client.post("/p/vote/withdraw", data={"token": token_for(app, "W2")})
    assert done.status_code == 200
    page = client.get("/p/vote").get_data(as_text=True)
    assert "You signed this petition" not in page
    assert "Manage or withdraw your signature" in page


def test_the_organisers_see_a_withdrawn_signature_as_withdrawn(app, client, signed):
    from tests.helpers import sign_in

    assert client.post("/p/vote/withdraw", data={"token": token_for(app, "W1")}).status_code == 200
    sign_in(app, client)
    page = client.get("/organiser/p/vote/signatures?status=invalidated")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Withdrawn</span>" in text
    assert "by the member" in text
    # An organiser cannot cancel it a second time.
    refused = app.test_cli_runner().invoke(
        args=[
            "signature",
            "invalidate",
            "vote",
            "1",
            "--reason",
            "other",
            "--by",
            "x",
            "--note",
            "n",
        ]
    )
    assert refused.exit_code != 0
    assert "already invalidated" in refused.output
    assert petition(app).signature_count == 1
