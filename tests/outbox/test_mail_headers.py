"""A title cannot break mail: one-line fields refuse line breaks (U+2028, U+2029 and U+0085
included) and control characters; a header that still holds one gets a space; and a mail that
cannot be composed is marked failed with its reason, shown on the dashboard, and not retried."""

import pytest
from sqlalchemy import update
from sqlmodel import Session

from petitions.db import flask_db
from petitions.db.models import Mail, Petition
from petitions.outbox.mail import FAILED
from petitions.text import breaks_lines, one_line
from tests.helpers import add_members, open_petition, petition, sent_mail, sign_in

BREAKERS = ["\u2028", "\u2029", "\u0085", "\n", "\r", "\t", "\x1b"]


@pytest.mark.parametrize("breaker", BREAKERS)
def test_one_line_text_is_told_apart(breaker):
    assert breaks_lines(f"Fair{breaker}pay")
    assert one_line(f"Fair{breaker}pay") == "Fair pay"
    assert not breaks_lines("Fair pay: £15 an hour — now")


@pytest.mark.parametrize("breaker", ["\u2028", "\u2029", "\u0085"])
def test_a_title_with_a_line_break_is_refused_with_a_clear_message(app, runner, client, breaker):
    result = runner.invoke(
        args=["petition", "create", "fair", "--title", f"Fair{breaker}pay", "--threshold", "5"]
    )
    assert result.exit_code != 0
    assert "title must be a single line, without line breaks" in result.output
    sign_in(app, client)
    page = client.post(
        "/organiser/petitions/new",
        data={
            "slug": "fair",
            "title": f"Fair{breaker}pay",
            "body": "",
            "threshold_kind": "absolute",
            "threshold": "5",
        },
    )
    assert page.status_code == 400
    assert "Keep the title to one line" in page.get_data(as_text=True)


def test_a_stored_title_with_a_line_break_still_gets_its_mail_sent(app, client, worker):
    add_members(app, ("M1", "m1@example.org"))
    open_petition(app, "vote")
    with Session(flask_db.engine_of(app)) as session:
        session.execute(update(Petition).values(title="Fair\u2028pay\u0085now"))
        session.commit()
    assert client.post("/api/v1/petitions/vote/signatures", json={"email": "m1@example.org"})
    worker.run_pending()
    (mail,) = sent_mail(app)
    assert mail.transport == "dev"
    assert mail.subject == "Confirm your signature: Fair pay now"


def test_a_mail_that_cannot_be_composed_fails_once_and_shows_on_the_dashboard(app, client, worker):
    open_petition(app, "vote")
    with Session(flask_db.engine_of(app)) as session:
        # Stored before addresses were checked: no header can hold this address.
        session.add(
            Mail(
                to_address="ann@example.org\r\nBcc: everyone@example.org",
                subject="Confirm your signature",
                text_body="text",
                html_body="<p>html</p>",
                purpose="confirm_link",
                petition_id=petition(app).id,
            )
        )
        session.commit()
    worker.run_pending()
    (mail,) = sent_mail(app)
    assert mail.done_at is not None
    assert mail.transport == FAILED
    assert mail.last_error.startswith("cannot be composed: ")
    assert mail.attempts == 1
    assert worker.run_pending() == 0
    assert sent_mail(app)[0].attempts == 1
    sign_in(app, client)
    page = client.get("/organiser/p/vote").get_data(as_text=True)
    assert "E-mails that can never be sent" in page
    assert "Confirmation links: 1 (cannot be composed" in page
