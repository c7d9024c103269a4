"""The scrutineers' pages: the audit trail, roll imports, each petition's invalidations,
threshold event and webhook tries, the evidence to download, and the commitment key, revealed
only on a confirmed POST that is itself recorded."""

import csv
import io

import pytest
from sqlmodel import Session, select

from petitions import audit
from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.models import AuditEvent
from petitions.jobs.dispatch import housekeeping
from petitions.reports import scrutiny
from petitions.signatures import invalidation
from tests.helpers import configure, open_petition, petition, sign_in
from tests.outbox.test_webhooks import SECRET, time_passes
from tests.receiver import OK, Answer, Receiver
from tests.transparency.test_store import confirm

ROLL = "member_id,email,status\n" + "".join(
    f"M{n:03d},m{n}@example.org,active\n" for n in range(1, 7)
)


@pytest.fixture
def arranged(app, runner, worker, tmp_path):
    """A roll import, a petition (threshold 3) triggered by four signatures, its webhook
    refused once then delivered, one invalidation, and an audit event."""
    roll = tmp_path / "members.csv"
    roll.write_text(ROLL, encoding="utf-8")
    assert runner.invoke(args=["roll", "import", str(roll)]).exit_code == 0
    assert (
        runner.invoke(args=["user", "add", "ann@example.org", "--role", "organiser"]).exit_code == 0
    )
    with Receiver(
        SECRET, answers=[Answer(503, "down for maintenance")], default=Answer(200, OK)
    ) as ballot:
        configure(app, ballot_webhook_url=ballot.url)
        open_petition(app, threshold=3)
        for member_id in ("M001", "M002", "M003", "M004"):
            confirm(app, member_id)
        worker.run_pending()
        time_passes(app)
        worker.run_pending()
    invalidation.invalidate(
        flask_db.engine_of(app),
        settings_of(app),
        "vote",
        [2],
        "duplicate_person",
        "ann@example.org",
        note="same person as signature 4",
    )
    housekeeping(app)
    return app


def scrutineer(app):
    client = app.test_client()
    sign_in(app, client, "sue@example.org", "scrutineer")
    return client


def key_events(app) -> list[AuditEvent]:
    with Session(flask_db.engine_of(app)) as session:
        return list(
            session.exec(select(AuditEvent).where(AuditEvent.action == scrutiny.KEY_ACTION))
        )


def test_the_audit_trail_lists_events_petitions_and_roll_imports(arranged):
    page = scrutineer(arranged).get("/scrutiny/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<h1>Audit trail</h1>" in html
    # The event the command line recorded: who, what, the detail.
    assert "command line" in html
    assert "Account added" in html
    assert "ann@example.org as organiser" in html
    # The petition, with its invalidation and its delivered webhook.
    assert 'href="/scrutiny/p/vote"' in html
    assert ">delivered<" in html
    # The roll import: the file, its digest, its counts.
    with Session(flask_db.engine_of(arranged)) as session:
        [entry] = scrutiny.roll_imports(session)
    assert "members.csv" in html
    assert entry.record.sha256 in html
    assert "command line" in html
    assert f"#{entry.record.id}" in html


def test_the_petition_page_lists_invalidations_the_threshold_and_every_webhook_try(arranged):
    html = scrutineer(arranged).get("/scrutiny/p/vote").get_data(as_text=True)
    assert "<h1>Scrutiny: Petition vote</h1>" in html
    # The invalidation: signature 2, its cancelling leaf, reason, note, who.
    invalidations = html.split('id="invalidations-heading"')[1].split("</section>")[0]
    assert '<th scope="row" class="number">2</th>' in invalidations
    assert '<td class="number">4</td>' in invalidations  # the fifth leaf cancels it
    assert "One person signed twice" in invalidations
    assert "duplicate_person" not in invalidations
    assert "same person as signature 4" in invalidations
    assert "ann@example.org" in invalidations
    # The threshold event and both tries: refused with a 503, then delivered.
    webhook = html.split('id="threshold-heading"')[1].split("</section>")[0]
    assert "3 of a threshold of 3" in webhook
    assert "HTTP 503" in webhook
    assert "HTTP 200" in webhook
    assert "Delivered" in webhook
    assert "<dt>Tries</dt><dd>2</dd>" in webhook


def test_the_petition_page_says_how_to_check_the_count_but_not_the_key(arranged):
    html = scrutineer(arranged).get("/scrutiny/p/vote").get_data(as_text=True)
    assert 'href="/api/v1/petitions/vote/evidence"' in html
    assert 'href="/api/v1/log/public-key"' in html
    assert "flask --app app log verify vote-evidence.jsonl" in html
    assert "PETITIONS_COMMITMENT_KEY=KEY flask --app app log recount vote-evidence.jsonl" in html
    assert 'action="/scrutiny/p/vote/commitment-key"' in html
    assert petition(arranged).log_secret not in html
    assert "Nobody has revealed it on these pages yet." in html


def test_the_evidence_link_downloads_a_pack_that_verifies(arranged, runner, tmp_path):
    client = scrutineer(arranged)
    pack = tmp_path / "vote-evidence.jsonl"
    pack.write_bytes(client.get("/api/v1/petitions/vote/evidence").get_data())
    result = runner.invoke(args=["log", "verify", str(pack)])
    assert result.exit_code == 0, result.output


def test_a_get_never_reveals_the_commitment_key(arranged):
    client = scrutineer(arranged)
    form = client.get("/scrutiny/p/vote/commitment-key")
    assert form.status_code == 200
    assert petition(arranged).log_secret not in form.get_data(as_text=True)
    assert 'name="confirm"' in form.get_data(as_text=True)
    assert key_events(arranged) == []


def test_revealing_the_key_needs_confirmation(arranged):
    refused = scrutineer(arranged).post("/scrutiny/p/vote/commitment-key", data={})
    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    assert "Tick the box to confirm" in html
    assert 'aria-invalid="true"' in html
    assert petition(arranged).log_secret not in html
    assert key_events(arranged) == []


def test_revealing_the_key_shows_it_and_records_who_did(arranged, runner, tmp_path):
    client = scrutineer(arranged)
    shown = client.post("/scrutiny/p/vote/commitment-key", data={"confirm": "yes"})
    assert shown.status_code == 200
    assert shown.headers["Cache-Control"] == "no-store"
    key = petition(arranged).log_secret
    html = shown.get_data(as_text=True)
    assert f'<code class="scrutiny-key" id="commitment-key">{key}</code>' in html
    [event] = key_events(arranged)
    assert event.actor == "sue@example.org"
    assert event.petition_id == petition(arranged).id
    assert event.detail == "revealed on the scrutiny page"
    # Everyone reading the trail sees who fetched the key.
    page = client.get("/scrutiny/p/vote").get_data(as_text=True)
    fetched = page.split("<caption>Who has revealed the key</caption>")[1].split("</table>")[0]
    assert "sue@example.org" in fetched
    assert "Commitment key revealed" in client.get("/scrutiny/").get_data(as_text=True)
    # The key shown is the one that recounts the petition against the roll.
    roll = tmp_path / "roll.csv"
    roll.write_text(ROLL, encoding="utf-8")
    pack = tmp_path / "vote-evidence.jsonl"
    pack.write_bytes(client.get("/api/v1/petitions/vote/evidence").get_data())
    result = runner.invoke(args=["log", "recount", str(pack), "--roll", str(roll), "--key", key])
    assert result.exit_code == 0, result.output
    assert "1 invalidation(s)" in result.output


def test_a_script_can_ask_for_the_key_as_json(arranged):
    client = scrutineer(arranged)
    headers = {"Accept": "application/json"}
    refused = client.post("/scrutiny/p/vote/commitment-key", json={}, headers=headers)
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "confirmation_required"
    answer = client.post("/scrutiny/p/vote/commitment-key", json={"confirm": True}, headers=headers)
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["commitment_key"] == petition(arranged).log_secret
    assert body["petition"] == "vote"
    assert body["recorded"] is True
    assert [event.detail for event in key_events(arranged)] == ["revealed as JSON"]


def test_organisers_read_the_pages_and_their_reveals_are_recorded_too(arranged):
    client = arranged.test_client()
    sign_in(arranged, client, "olga@example.org", "organiser")
    assert client.get("/scrutiny/p/vote").status_code == 200
    assert client.post("/scrutiny/p/vote/commitment-key", data={"confirm": "on"}).status_code == 200
    assert [event.actor for event in key_events(arranged)] == ["olga@example.org"]


def test_the_audit_trail_is_paged_and_downloadable(app):
    open_petition(app, threshold=3)
    with Session(flask_db.engine_of(app)) as session:
        target = session.exec(select(type(petition(app)))).one()
        for n in range(scrutiny.AUDIT_PAGE + 5):
            audit.record(session, f"user{n}@example.org", "test.action", target, f"event {n}")
        session.commit()
    client = scrutineer(app)
    first = client.get("/scrutiny/").get_data(as_text=True)
    assert "event 104" in first
    assert "event 5<" in first
    assert "event 4<" not in first
    older = first.split('aria-label="Audit trail pages"')[1].split('href="')[1].split('"')[0]
    second = client.get(older.replace("&amp;", "&")).get_data(as_text=True)
    assert "event 4<" in second
    assert "event 0<" in second
    assert "event 5<" not in second
    assert "Older events" not in second
    download = client.get("/scrutiny/audit.csv")
    assert download.status_code == 200
    assert download.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(download.get_data(as_text=True))))
    assert len(rows) == scrutiny.AUDIT_PAGE + 5
    assert rows[0]["actor"] == "user0@example.org"
    assert rows[0]["petition"] == "vote"
    assert rows[0]["action"] == "test.action"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/scrutiny/p/nope", 404),
        ("/scrutiny/p/nope/commitment-key", 404),
        ("/scrutiny/?before=abc", 400),
    ],
)
def test_bad_addresses_get_a_clear_page(app, path, status):
    response = scrutineer(app).get(path)
    assert response.status_code == status
    assert "text/html" in response.content_type


def test_a_draft_has_no_evidence_yet(app):
    from petitions.lifecycle import rules

    with Session(flask_db.engine_of(app)) as session:
        rules.create_petition(session, slug="later", title="Later", threshold=10)
        session.commit()
    client = scrutineer(app)
    html = client.get("/scrutiny/p/later").get_data(as_text=True)
    assert "This petition is a draft" in html
    assert "/evidence" not in html
    assert "The threshold has not been reached" in html
    assert "No signature of this petition has been invalidated." in html
    index = client.get("/scrutiny/").get_data(as_text=True)
    assert "Nothing has been recorded yet." in index
    assert "The roll has not been imported yet." in index
    assert "not triggered" in index


def test_the_audit_download_cannot_run_formulas_in_a_spreadsheet(app):
    with Session(flask_db.engine_of(app)) as session:
        audit.record(session, "=cmd@example.org", "roll.upload", None, "=HYPERLINK(1)")
        session.commit()
    download = scrutineer(app).get("/scrutiny/audit.csv")
    [row] = list(csv.DictReader(io.StringIO(download.get_data(as_text=True))))
    assert (row["actor"], row["detail"]) == ("'=cmd@example.org", "'=HYPERLINK(1)")
