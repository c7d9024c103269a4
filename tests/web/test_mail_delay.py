"""Back-pressure when mail backs up: while a link asked for now would take longer than
MAIL_SLOW_AFTER_SECONDS to leave, the petition page, the check-your-inbox page and the API say
so, with the delay; otherwise they say nothing. The organisers' dashboard shows the backlog,
for the petition and for all mail. Nothing waiting is dropped: the worker sends it all."""

import re
import time

import pytest
from sqlalchemy import select
from sqlmodel import Session

from petitions.db import flask_db
from petitions.db.engine import utcnow
from petitions.db.models import Mail
from petitions.web import mail_delay
from tests.helpers import add_members, configure, open_petition, petition, sign_in
from tests.outbox.test_backlog import add_mail

SLOW_NOTICE = re.compile(
    r"Links are taking (about \d+ minutes) to arrive</strong> because many members are signing"
)


def text_of(html: str) -> str:
    """The page's text with tags removed and spaces collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def backlog(app, count: int = 20, *, minutes: float = 10) -> None:
    """``count`` mails written ``minutes`` ago and not sent yet, while mail goes out slowly (as
    many again were sent in the last minute): a link asked for now waits ``minutes``."""
    now = utcnow()
    add_mail(app, count, written=minutes * 60 + 60, sent=30, now=now)
    add_mail(app, count, written=minutes * 60, now=now)


@pytest.fixture
def vote(app):
    """An open petition, and the backlog measured afresh on every request."""
    configure(app, mail_backlog_ttl=0)
    add_members(app, ("M1", "ann@example.org"), ("M2", "lapsed@example.org", "lapsed"))
    open_petition(app, "vote", threshold=100)
    return app


# --- normal: nothing said ---------------------------------------------------------------------


def test_without_a_backlog_nothing_is_said(vote, client):
    for path in ("/p/vote", "/p/vote/check-email"):
        page = client.get(path).get_data(as_text=True)
        assert "Links are taking" not in page
        assert 'id="mail-delay"' not in page
    assert "If nothing arrives within a few minutes" in client.get("/p/vote/check-email").text
    assert client.get("/api/v1/petitions/vote").get_json()["mail_delay_seconds"] is None
    answer = client.post("/api/v1/petitions/vote/signatures", json={"email": "ann@example.org"})
    assert answer.status_code == 202
    assert answer.get_json() == {"status": "check_email"}


def test_a_backlog_that_leaves_within_the_setting_says_nothing(vote, client):
    # A minute's wait is normal; the notice starts at MAIL_SLOW_AFTER_SECONDS (120 s).
    backlog(vote, minutes=1)
    assert "Links are taking" not in client.get("/p/vote").text
    assert client.get("/api/v1/petitions/vote").get_json()["mail_delay_seconds"] is None
    answer = client.post("/api/v1/petitions/vote/signatures", json={"email": "ann@example.org"})
    assert answer.get_json() == {"status": "check_email"}


# --- slow: said everywhere, with the delay ----------------------------------------------------


def test_the_petition_page_says_links_are_slow_beside_the_form(vote, client):
    backlog(vote, minutes=10)
    page = client.get("/p/vote").get_data(as_text=True)
    assert SLOW_NOTICE.search(page).group(1) == "about 10 minutes"
    text = text_of(page)
    assert "Yours will be queued and will come: there is no need to ask twice." in text
    # Inside the sign form's section, before the form.
    assert page.index('id="sign-heading"') < page.index('id="mail-delay"') < page.index("<form")


def test_the_check_your_inbox_page_says_yours_is_queued(vote, client):
    backlog(vote, minutes=25)
    answer = client.post("/p/vote/sign", data={"email": "ann@example.org"})
    assert answer.status_code == 303
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    text = text_of(page)
    assert (
        "Links are taking about 25 minutes to arrive because many members are signing. "
        "Your request is queued and will be answered in turn: there is no need to ask again."
        in text
    )
    assert "If nothing arrives within about 25 minutes" in text


def test_the_api_gives_the_delay_in_seconds(vote, client):
    backlog(vote, minutes=10)
    delay = client.get("/api/v1/petitions/vote").get_json()["mail_delay_seconds"]
    assert 600 <= delay <= 630
    answer = client.post("/api/v1/petitions/vote/signatures", json={"email": "ann@example.org"})
    assert answer.status_code == 202
    body = answer.get_json()
    assert body["status"] == "check_email"
    assert 600 <= body["mail_delay_seconds"] <= 630
    assert set(body) == {"status", "mail_delay_seconds"}


def test_while_slow_every_address_still_gets_the_same_answer(vote, client):
    # Measured once for all of them, as a web process does within BACKLOG_TTL.
    configure(vote, mail_backlog_ttl=60)
    backlog(vote, minutes=10)
    addresses = ["ann@example.org", "lapsed@example.org", "nobody@example.org"]
    answers = {
        email: client.post("/api/v1/petitions/vote/signatures", json={"email": email})
        for email in addresses
    }
    bodies = {email: (a.status_code, a.get_data()) for email, a in answers.items()}
    assert len(set(bodies.values())) == 1, bodies
    assert b"mail_delay_seconds" in bodies["ann@example.org"][1]
    forms = {
        email: client.post("/p/vote/sign", data={"email": email}).headers["Location"]
        for email in addresses
    }
    assert set(forms.values()) == {"/p/vote/check-email"}


def test_the_setting_decides_what_counts_as_slow(vote, client):
    backlog(vote, minutes=10)
    configure(vote, mail_slow_after_seconds=3600)
    assert "Links are taking" not in client.get("/p/vote").text
    assert client.get("/api/v1/petitions/vote").get_json()["mail_delay_seconds"] is None
    configure(vote, mail_slow_after_seconds=300)
    assert "Links are taking about 10 minutes" in client.get("/p/vote").text


def test_when_no_mail_can_be_sent_the_notice_does_not_blame_the_crowd(vote, client):
    # The mail server has refused every mail since the last one went out, 20 minutes ago.
    now = utcnow()
    add_mail(vote, written=1300, sent=1200, now=now)
    add_mail(vote, 3, written=1100, attempts=5, retry_in=120, now=now)
    add_mail(vote, written=5, attempts=1, retry_in=10, now=now)
    text = text_of(client.get("/p/vote").get_data(as_text=True))
    assert "Links are taking about 18 minutes to arrive because sending e-mail is held up" in text
    assert "many members" not in text


def test_a_closed_petition_says_nothing_about_links(vote, client, runner):
    backlog(vote, minutes=10)
    assert runner.invoke(args=["petition", "close", "vote"]).exit_code == 0
    assert "Links are taking" not in client.get("/p/vote").text
    assert client.get("/api/v1/petitions/vote").get_json()["mail_delay_seconds"] is None


def test_a_backlog_that_cannot_be_measured_says_nothing(vote, client, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from petitions.outbox import backlog as outbox_backlog

    def broken(*_args, **_kwargs):
        raise OperationalError("SELECT", {}, Exception("the database went away"))

    monkeypatch.setattr(outbox_backlog, "measure", broken)
    answer = client.post("/api/v1/petitions/vote/signatures", json={"email": "ann@example.org"})
    assert answer.status_code == 202
    assert answer.get_json() == {"status": "check_email"}


# --- nothing is dropped -----------------------------------------------------------------------


def waiting_mail(app) -> list[int]:
    with Session(flask_db.engine_of(app)) as session:
        return list(session.scalars(select(Mail.id).where(Mail.done_at.is_(None))))


def test_waiting_mail_is_all_sent_and_then_nothing_is_said(vote, client, worker):
    backlog(vote, 30, minutes=10)
    client.post("/p/vote/sign", data={"email": "ann@example.org"})
    assert "Links are taking" in client.get("/p/vote/check-email").text
    waiting = waiting_mail(vote)
    assert len(waiting) == 30
    worker.run_pending()
    assert waiting_mail(vote) == []
    with Session(flask_db.engine_of(vote)) as session:
        sent = session.scalars(select(Mail).where(Mail.id.in_(waiting))).all()
        ann = session.scalars(select(Mail).where(Mail.to_address == "ann@example.org")).one()
    assert len(sent) == 30
    assert all(mail.transport == "dev" for mail in sent)  # sent, none dropped or failed
    assert ann.transport == "dev"
    assert "Links are taking" not in client.get("/p/vote/check-email").text
    assert client.get("/api/v1/petitions/vote").get_json()["mail_delay_seconds"] is None


# --- the organisers' dashboard ----------------------------------------------------------------


def mail_section(client) -> str:
    page = client.get("/organiser/p/vote").get_data(as_text=True)
    start = page.index('data-section="mail"')
    return text_of(page[start : page.index("</section>", start)])


def test_the_dashboard_shows_the_backlog_for_the_petition_and_all_mail(vote, client):
    configure(vote, dashboard_ttl=0)
    sign_in(vote, client)
    own = petition(vote).id
    now = utcnow()
    add_mail(vote, 12, written=400, petition_id=own, now=now)
    add_mail(vote, 2, written=300, attempts=3, retry_in=60, petition_id=own, now=now)
    add_mail(vote, 5, written=900, now=now)  # sign-in links: no petition's
    add_mail(vote, 7, written=100, sent=20, petition_id=own, now=now)
    text = mail_section(client)
    assert "Links are arriving slowly: a link asked for now takes about 15 minutes" in text
    assert "Waiting to be sent 14 19" in text
    assert "Of those, retrying after a failure 2 2" in text
    assert re.search(r"The oldest has waited 6 min \d+ s 15 min( \d+ s)? Sent", text), text
    assert "Sent in the last minute 7 7" in text


def test_the_dashboard_says_when_links_go_out_as_usual(vote, client):
    configure(vote, dashboard_ttl=0)
    sign_in(vote, client)
    text = mail_section(client)
    assert "Links are going out as usual, without waiting." in text
    assert "Waiting to be sent 0 0" in text
    assert "The oldest has waited \u2013 \u2013" in text


def test_the_dashboard_script_gets_the_mail_section_when_it_changes(vote, client):
    configure(vote, dashboard_ttl=0)
    sign_in(vote, client)
    before = client.get("/organiser/p/vote/live.json").get_json()["sections"]["mail"]["digest"]
    backlog(vote, minutes=10)
    # The figures are kept for at least ten times what they took to compute.
    deadline = time.monotonic() + 10
    while True:
        after = client.get("/organiser/p/vote/live.json").get_json()
        if after["sections"]["mail"]["digest"] != before or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert after["sections"]["mail"]["digest"] != before
    assert "Links are arriving slowly" in after["sections"]["mail"]["html"]
    assert after["figures"]["mail"]["overall"]["queue"]["waiting"] == 20


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (30, "less than a minute"),
        (80, "about a minute"),
        (150, "about 2 minutes"),
        (600, "about 10 minutes"),
        (5399, "about 90 minutes"),
        (5400, "about 2 hours"),
        (30 * 3600, "about 30 hours"),
        (3 * 86400, "about 3 days"),
    ],
)
def test_delays_are_put_in_words(seconds, words):
    assert mail_delay.about(seconds) == words


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (None, ""),
        (0, "0 s"),
        (59, "59 s"),
        (61, "1 min 1 s"),
        (120, "2 min"),
        (3605, "1 h"),
        (3720, "1 h 2 min"),
        (90000, "1 d 1 h"),
    ],
)
def test_ages_are_put_in_words_for_organisers(seconds, words):
    assert mail_delay.duration(seconds).replace("\u00a0", " ") == words
