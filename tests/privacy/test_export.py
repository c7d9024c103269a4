"""Members seeing what is held about them: the request by address, the mailed link, the export
as a page and as JSON, and an organiser's export for a request by post."""

import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import itsdangerous
import pytest
from sqlmodel import Session, select

from app import create_app
from petitions.db import flask_db
from petitions.db.models import AuditEvent, DataExport, DataExportRequest
from petitions.invitations import opt_out
from tests.helpers import (
    add_members,
    configure,
    link_in,
    open_petition,
    sent_mail,
    sign_in,
    token_of,
)

EXPORT_LINK = re.compile(r"^(http://\S+/privacy/export/(\S+))$", re.MULTILINE)
DOWNLOAD_TOKEN = re.compile(r'name="token" value="([^"]+)"')


def export_token(text: str) -> str:
    """The export link's token in a data-export mail."""
    match = EXPORT_LINK.search(text)
    assert match, f"no export link on a line of its own in:\n{text}"
    return match.group(2)


@pytest.fixture
def held(app, client, worker):
    """Jo (on the roll as Jo.Bloggs@gmail.com) asked to sign, confirmed, and opted out of
    invitations; Sam, another member, signed too."""
    add_members(app, ("JO-0001", "Jo.Bloggs@gmail.com"), ("SAM-0002", "sam@example.org"))
    open_petition(app, threshold=10)
    for email, number in (("jobloggs@gmail.com", "JO-0001"), ("sam@example.org", "SAM-0002")):
        before = len(sent_mail(app))
        response = client.post("/p/vote/sign", data={"email": email, "member_id": number})
        assert response.status_code == 303
        worker.run_pending()
        link = link_in(sent_mail(app)[before].text_body)
        confirmed = client.post("/p/vote/confirm", data={"token": token_of(link)})
        assert confirmed.status_code in (200, 303)
        worker.run_pending()
    with Session(flask_db.engine_of(app)) as session:
        opt_out.record(session, "jobloggs@gmail.com")
        session.commit()


def ask(app, client, worker, email: str):
    """Ask for the export of ``email`` on the privacy page; let the worker answer; the page and
    the mails it caused."""
    before = len(sent_mail(app))
    response = client.post("/privacy/export", data={"email": email})
    worker.run_pending()
    return response, sent_mail(app)[before:]


def test_a_member_gets_everything_held_about_them_and_nothing_else(app, client, worker, held):
    response, mails = ask(app, client, worker, "JoBloggs+records@GoogleMail.com")
    assert response.status_code == 200
    assert "If this address is on our records" in response.get_data(as_text=True)
    assert [mail.purpose for mail in mails] == ["data_export"]
    # Mailed to the member's address on the roll, whichever variant asked.
    assert mails[0].to_address == "Jo.Bloggs@gmail.com"
    token = export_token(mails[0].text_body)

    landing = client.get(f"/privacy/export/{token}")
    assert landing.status_code == 200
    assert "Show my data" in landing.get_data(as_text=True)

    opened = client.post(f"/privacy/export/{token}")
    page = opened.get_data(as_text=True)
    assert opened.status_code == 200
    assert "Jo.Bloggs@gmail.com" in page
    assert "Confirm your signature: Petition vote" in page
    assert "counted" in page
    assert "sam@example.org" not in page
    assert "SAM-0002" not in page

    download = client.post(
        "/privacy/export/download", data={"token": DOWNLOAD_TOKEN.search(page).group(1)}
    )
    assert download.status_code == 200
    assert "attachment" in download.headers["Content-Disposition"]
    data = json.loads(download.get_data(as_text=True))
    assert data["email_key"] == "jobloggs@gmail.com"
    assert [entry["member_number"] for entry in data["roll_entries"]] == ["JO-0001"]
    [request] = data["sign_requests"]
    assert request["email"] == "jobloggs@gmail.com"
    assert request["petition"] == "vote"
    assert request["outcome"] == "confirm_link"
    assert request["network"] is not None
    [signature] = data["signatures"]
    assert signature["state"] == "counted"
    assert signature["signature_number"] is not None
    purposes = sorted(mail["purpose"] for mail in data["mails"])
    assert purposes == ["confirm_link", "data_export"]
    assert all("body" not in mail and "text_body" not in mail for mail in data["mails"])
    assert len(data["opt_outs"]) == 1
    assert "sam@example.org" not in json.dumps(data)
    assert "SAM-0002" not in json.dumps(data)


def test_a_used_link_is_refused_clearly(app, client, worker, held):
    _response, mails = ask(app, client, worker, "jobloggs@gmail.com")
    token = export_token(mails[0].text_body)
    assert client.post(f"/privacy/export/{token}").status_code == 200
    again = client.post(f"/privacy/export/{token}")
    assert again.status_code == 410
    assert "already been used" in again.get_data(as_text=True)
    shown = client.get(f"/privacy/export/{token}")
    assert shown.status_code == 410
    assert "already been used" in shown.get_data(as_text=True)


def test_an_expired_link_is_refused_clearly(app, client, worker, held, monkeypatch):
    _response, mails = ask(app, client, worker, "jobloggs@gmail.com")
    token = export_token(mails[0].text_body)
    made_at = time.time()
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: made_at + 24 * 3600 + 60)
    refused = client.post(f"/privacy/export/{token}")
    assert refused.status_code == 410
    assert "has expired" in refused.get_data(as_text=True)
    with Session(flask_db.engine_of(app)) as session:
        assert session.exec(select(DataExport.used_at)).one() is None


def test_a_forged_link_is_refused(app, client):
    refused = client.get("/privacy/export/not-a-token")
    assert refused.status_code == 400
    assert "not a link we sent" in refused.get_data(as_text=True)
    assert client.post("/privacy/export/download", data={"token": "x"}).status_code == 400


def test_strangers_get_the_same_page_and_no_mail(app, client, worker, held):
    known, known_mails = ask(app, client, worker, "jobloggs@gmail.com")
    stranger, stranger_mails = ask(app, client, worker, "nobody@example.net")
    assert known.status_code == stranger.status_code == 200
    assert known.get_data() == stranger.get_data()
    assert len(known_mails) == 1
    assert stranger_mails == []
    with Session(flask_db.engine_of(app)) as session:
        requests = session.exec(select(DataExportRequest)).all()
        assert [request.done_at is not None for request in requests] == [True, True]
        assert len(session.exec(select(DataExport)).all()) == 1


def test_a_malformed_address_is_a_form_error(app, client, worker):
    response = client.post("/privacy/export", data={"email": "not an address"})
    assert response.status_code == 400
    assert "name@example.org" in response.get_data(as_text=True)


def test_requests_are_never_refused_for_their_address_and_their_mail_is_limited(
    app, worker, database_url
):
    add_members(app, ("JO-1", "jo@example.org"))
    configure(app, privacy_limit_per_address="2 per hour")
    limited = create_app(
        {
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "INPROCESS_WORKER_THREAD": False,
            "RATELIMIT_ENABLED": True,
        }
    )
    try:
        client = limited.test_client()
        answers = [
            client.post("/privacy/export", data={"email": email})
            for email in ("jo@example.org", "JO@example.org", "jo@example.org")
        ]
        assert [a.status_code for a in answers] == [200, 200, 200]
        assert len({a.get_data(as_text=True) for a in answers}) == 1
        worker.run_pending()
        # Two links reach the mailbox (each works once); the third request is answered by them.
        assert [m.purpose for m in sent_mail(app)] == ["data_export"] * 2
        other = client.post("/privacy/export", data={"email": "kim@example.org"})
        assert other.status_code == 200
    finally:
        flask_db.engine_of(limited).dispose()


def test_an_organiser_export_for_a_request_by_post_is_audited(app, client, worker, held):
    sign_in(app, client)
    form = client.get("/organiser/privacy/export")
    assert form.status_code == 200
    shown = client.post(
        "/organiser/privacy/export",
        data={"email": "JOBLOGGS@gmail.com", "reference": "letter 42", "format": "html"},
    )
    page = shown.get_data(as_text=True)
    assert shown.status_code == 200
    assert "Jo.Bloggs@gmail.com" in page
    assert "sam@example.org" not in page
    as_json = client.post(
        "/organiser/privacy/export",
        data={"email": "jobloggs@gmail.com", "format": "json"},
    )
    [entry] = json.loads(as_json.get_data(as_text=True))["roll_entries"]
    assert entry["member_number"] == "JO-0001"
    assert sent_mail(app, "Jo.Bloggs@gmail.com")[-1].purpose == "confirm_link"
    with Session(flask_db.engine_of(app)) as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "privacy.export")).all()
    assert [event.actor for event in events] == ["organiser@example.org"] * 2
    assert "reference letter 42" in events[0].detail
    assert all("jobloggs" not in event.detail.lower() for event in events)


def test_only_organisers_make_postal_exports(app, client):
    assert client.get("/organiser/privacy/export").status_code in (302, 303)
    sign_in(app, client, "scrutineer@example.org", role="scrutineer")
    assert client.get("/organiser/privacy/export").status_code == 403


def test_a_link_opened_twice_at_once_shows_the_export_once(app, client, worker, held):
    _response, mails = ask(app, client, worker, "jobloggs@gmail.com")
    token = export_token(mails[0].text_body)
    barrier = threading.Barrier(4)

    def open_it() -> int:
        barrier.wait()
        return app.test_client().post(f"/privacy/export/{token}").status_code

    with ThreadPoolExecutor(4) as pool:
        answers = sorted(pool.map(lambda _n: open_it(), range(4)))
    assert answers == [200, 410, 410, 410]
