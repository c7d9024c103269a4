"""Erasure (the right to be forgotten): the member's request, the mailed link and its page, the
organiser's erasure for a request by post, what is left afterwards (a scan of every table and
column for the address in any form), the public log still checking out, the refusal for a
member on the current roll, idempotence, and what a re-import of the roll brings back."""

import base64
import hashlib
import hmac
import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import JSON, LargeBinary, String, TypeDecorator, select
from sqlmodel import Session, SQLModel

from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.engine import utcnow
from petitions.db.models import (
    AuditEvent,
    DataExport,
    DataExportRequest,
    Erasure,
    ErasureRequest,
    Mail,
    Member,
    RollUpload,
    Signature,
)
from petitions.invitations import opt_out
from petitions.privacy import erasure, purge
from petitions.signatures import invalidation
from tests.helpers import link_in, open_petition, petition, sent_mail, sign_in, token_of
from tests.invitations.test_runs import drain, start

ERASE_LINK = re.compile(r"^(http://\S+/privacy/erase/(\S+))$", re.MULTILINE)
JO = ("JO-0001", "Jo.Bloggs@gmail.com", "Jo Bloggs", "North")
SAM = ("SAM-0002", "sam@example.org", "Sam Smith", "North")
OTHERS = [(f"M{n:03d}", f"m{n}@example.org", f"Member Number{n}", "South") for n in range(3, 7)]
ORGANISER = "organiser@example.org"
# The variant Jo types: another spelling of the same mailbox (its matching key is Jo's).
TYPED = "JoBloggs+erase@GoogleMail.com"


def roll_file(tmp_path, rows, name="roll.csv"):
    """A roll file of ``rows`` (number, address, name, region), every member active."""
    path = tmp_path / name
    lines = ["member_id,email,name,region,status"]
    lines += [f"{number},{email},{full},{region},active" for number, email, full, region in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def import_roll(runner, path, *args):
    result = runner.invoke(args=["roll", "import", str(path), *args])
    assert result.exit_code == 0, result.output
    return result.output


def sign(app, client, worker, email, number=None, slug="vote"):
    """Ask to sign with ``email`` and confirm the mailed link; the confirmation's page."""
    before = len(sent_mail(app))
    data = {"email": email, **({"member_id": number} if number else {})}
    assert client.post(f"/p/{slug}/sign", data=data).status_code == 303
    worker.run_pending()
    [mail] = sent_mail(app)[before:]
    return client.post(f"/p/{slug}/confirm", data={"token": token_of(link_in(mail.text_body))})


def erase_token(text: str) -> str:
    match = ERASE_LINK.search(text)
    assert match, f"no erasure link on a line of its own in:\n{text}"
    return match.group(2)


def ask(app, client, worker, email):
    """Ask on the privacy page for ``email``'s data to be erased; the page and the mails."""
    before = len(sent_mail(app))
    response = client.post("/privacy/erase", data={"email": email})
    worker.run_pending()
    return response, sent_mail(app)[before:]


@pytest.fixture
def history(app, client, worker, runner, tmp_path):
    """Jo and Sam (and four others) on the roll; Jo invited, signed twice ("vote" under a
    variant of the address, "later" too), opted out and asked for her data; Sam signed "vote";
    a roll file that quotes Jo was uploaded; then the roll was replaced by one without Jo, who
    is lapsed. Returns the first roll file."""
    first = roll_file(tmp_path, [JO, SAM, *OTHERS])
    import_roll(runner, first)
    open_petition(app, threshold=10)
    open_petition(app, slug="later", threshold=10)
    sign_in(app, client, ORGANISER)
    assert start(client).status_code in (200, 303)
    drain(app, worker)
    assert sign(app, client, worker, TYPED, JO[0]).status_code in (200, 303)
    assert sign(app, client, worker, JO[1], slug="later").status_code in (200, 303)
    assert sign(app, client, worker, SAM[1]).status_code in (200, 303)
    client.post("/privacy/export", data={"email": JO[1]})
    worker.run_pending()
    engine = flask_db.engine_of(app)
    with Session(engine) as session:
        opt_out.record(session, "jobloggs@gmail.com")
        session.add(
            RollUpload(
                filename="roll.csv",
                data=first.read_bytes(),
                size=first.stat().st_size,
                uploaded_by=ORGANISER,
                done_at=utcnow(),
                outcome="accepted",
            )
        )
        session.commit()
    # An organiser's note that names her, in an invalidation of another member's signature.
    invalidation.invalidate(
        engine,
        settings_of(app),
        "later",
        [1],
        "other",
        ORGANISER,
        note=f"asked by {JO[2]} ({JO[1]}) to check",
        audit_actor=ORGANISER,
    )
    import_roll(runner, roll_file(tmp_path, [SAM, *OTHERS], "without-jo.csv"), "--replace")
    with client.session_transaction() as browser:
        browser.clear()
    return first


def limiter_digest(app, address: str) -> str:
    """The per-address rate limit's key for ``address`` (kept in Redis, never in the database;
    looked for all the same)."""
    from petitions.roll.addresses import matching_key

    secret = settings_of(app).secret_key.encode()
    return hmac.new(
        secret, f"rate-limit:{matching_key(address)}".encode(), hashlib.sha256
    ).hexdigest()


def forms_of(app, address: str) -> set[str]:
    """Every form of an address the service could hold: as given, in other cases, its matching
    key, and the digests of each (plain SHA-256, and the rate limiter's keyed one)."""
    from petitions.roll.addresses import matching_key

    plain = {address, address.lower(), address.upper(), matching_key(address)}
    digests = {hashlib.sha256(form.encode()).hexdigest() for form in plain}
    return plain | digests | {limiter_digest(app, address)}


def holds_text(column) -> bool:
    """Whether a column holds text, JSON or bytes (under whatever decorated type)."""
    kind = column.type
    if isinstance(kind, TypeDecorator):
        kind = kind.impl_instance
    return isinstance(kind, String | LargeBinary | JSON)


def scanned_columns() -> list:
    """Every text, JSON (stored as text) and binary column of every table, from the metadata:
    a table added later is scanned without anyone listing it here."""
    columns = [
        column
        for table in SQLModel.metadata.sorted_tables
        for column in table.columns
        if holds_text(column)
    ]
    assert {column.table.name for column in columns} >= {"member", "mail", "roll_upload"}
    return columns


def stored_values(app) -> list[tuple[str, str]]:
    """(table.column, value as text) of every value of every scanned column."""
    found = []
    with flask_db.engine_of(app).connect() as connection:
        for column in scanned_columns():
            for (value,) in connection.execute(select(column)):
                if value is None:
                    continue
                if isinstance(value, bytes | memoryview):
                    value = bytes(value).decode("utf-8", "replace")
                found.append((f"{column.table.name}.{column.name}", str(value)))
    return found


def where_found(app, needles: set[str]) -> list[str]:
    """The columns holding any of ``needles``, case-insensitively."""
    lowered = {needle.lower() for needle in needles}
    return sorted(
        {
            f"{place}: {needle}"
            for place, value in stored_values(app)
            for needle in lowered
            if needle in value.lower()
        }
    )


def jo_forms(app) -> set[str]:
    return forms_of(app, JO[1]) | forms_of(app, TYPED) | {JO[0], JO[2]}


def check_log(app, runner, first_roll):
    """`log verify` and `log recount` (against the roll the petitions were signed under) pass."""
    for slug in ("vote", "later"):
        verified = runner.invoke(args=["log", "verify", "--slug", slug])
        assert verified.exit_code == 0, verified.output
        recounted = runner.invoke(
            args=["log", "recount", "--slug", slug, "--roll", str(first_roll)]
        )
        assert recounted.exit_code == 0, recounted.output
        assert "the recount agrees" in recounted.output


def test_a_member_erases_their_data_by_a_mailed_link(app, client, worker, runner, history):
    before = where_found(app, jo_forms(app))
    # The scan reads the columns that held her: roll, requests, mail, uploads, the audit note.
    for place in ("member.email", "sign_request.email", "mail.to_address", "roll_upload.data"):
        assert any(found.startswith(place) for found in before), place
    counted = {slug: petition(app, slug).signature_count for slug in ("vote", "later")}

    response, mails = ask(app, client, worker, TYPED)
    assert response.status_code == 200
    assert "If this address is on our records" in response.get_data(as_text=True)
    [mail] = mails
    assert mail.purpose == "erasure_link"
    assert mail.to_address == JO[1]
    assert "current membership roll" not in mail.text_body
    token = erase_token(mail.text_body)
    asked = where_found(app, jo_forms(app))

    landing = client.get(f"/privacy/erase/{token}")
    page = landing.get_data(as_text=True)
    assert landing.status_code == 200
    assert "Erase my data" in page
    assert "later, vote" in page
    # Looking changes nothing.
    assert where_found(app, jo_forms(app)) == asked

    erased = client.post(f"/privacy/erase/{token}")
    assert erased.status_code == 200
    assert "Your data has been erased" in erased.get_data(as_text=True)

    assert where_found(app, jo_forms(app)) == []
    # Sam is untouched, and both petitions count what they counted.
    assert where_found(app, {SAM[1]})
    assert {slug: petition(app, slug).signature_count for slug in counted} == counted
    with Session(flask_db.engine_of(app)) as session:
        kept = session.scalars(select(Signature).where(Signature.commitment.is_not(None))).all()
        assert len(kept) == 2
        assert all(signature.number is not None for signature in kept)
        [row] = session.scalars(select(Erasure)).all()
        assert row.used_at is not None
        assert row.email_key == ""
        assert json.loads(row.counts)["signatures"] == 2
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "privacy.erase"))
        assert "2 signatures" in event.detail
    check_log(app, runner, history)

    # The link works once: a second press says it was used, and changes nothing.
    again = client.post(f"/privacy/erase/{token}")
    assert again.status_code == 410
    assert "there is nothing left to erase" in again.get_data(as_text=True)


def test_the_log_and_the_evidence_never_held_a_member(app, client, worker, history):
    """Each evidence pack (every leaf, every head, the header) holds no member's number,
    address or name: only HMAC commitments."""
    for slug in ("vote", "later"):
        pack = client.get(f"/api/v1/petitions/{slug}/evidence").get_data(as_text=True)
        lines = pack.splitlines()
        leaves = [base64.b64decode(json.loads(line)["leaf_input"]).decode() for line in lines[1:]]
        assert leaves, "the pack has leaves"
        text = (lines[0] + "\n" + "\n".join(leaves)).lower()
        for number, email, name, _region in [JO, SAM, *OTHERS]:
            for value in (number, email, name, TYPED):
                assert value.lower() not in text, f"{value!r} is in {slug}'s evidence"
        for leaf in leaves:
            fields = json.loads(leaf)
            assert re.fullmatch(r"[0-9a-f]{64}", fields["commitment"])
            assert set(fields) <= {"commitment", "index", "time", "type", "cancels", "reason"}


def test_logs_check_out_after_erasures_and_purges(app, runner, history):
    engine = flask_db.engine_of(app)
    settings = settings_of(app)
    with Session(engine) as session:
        erasure.erase(session, settings, "jobloggs@gmail.com", utcnow())
        session.commit()
    for slug in ("vote", "later"):
        closed = runner.invoke(args=["petition", "close", slug])
        assert closed.exit_code == 0, closed.output
    report = purge.purge(engine, settings, utcnow() + timedelta(days=4000))
    assert report.total > 0
    check_log(app, runner, history)
    # The erased member's signature can still be invalidated, with the right commitment.
    invalidation.invalidate(engine, settings, "vote", [1], "not_a_member", ORGANISER)
    check_log(app, runner, history)


def test_erasing_is_idempotent(app, history):
    engine = flask_db.engine_of(app)
    settings = settings_of(app)
    with Session(engine) as session:
        first = erasure.erase(session, settings, "jobloggs@gmail.com", utcnow())
        session.commit()
    assert first.counts["roll_entries"] == 1
    assert first.counts["signatures"] == 2
    assert first.counts["roll_reports"] >= 1
    after_first = stored_values(app)
    with Session(engine) as session:
        second = erasure.erase(session, settings, "JO.BLOGGS@gmail.com", utcnow())
        session.commit()
    assert second.total == 0
    assert stored_values(app) == after_first


def test_strangers_get_the_same_answer_and_no_mail(app, client, worker, history):
    known, known_mails = ask(app, client, worker, JO[1])
    stranger, stranger_mails = ask(app, client, worker, "nobody@example.net")
    assert known.status_code == stranger.status_code == 200
    assert known.get_data() == stranger.get_data()
    assert len(known_mails) == 1
    assert stranger_mails == []


def test_a_malformed_address_is_a_form_error(app, client):
    response = client.post("/privacy/erase", data={"email": "not an address"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "name@example.org" in page
    assert 'id="erase-email-error"' in page


def test_a_member_on_the_current_roll_is_refused_with_the_reason(app, client, worker, history):
    before = stored_values(app)
    _response, [mail] = ask(app, client, worker, SAM[1])
    assert "current membership roll" in mail.text_body
    assert "remove you from the roll first" in mail.text_body
    token = erase_token(mail.text_body)
    landing = client.get(f"/privacy/erase/{token}")
    assert landing.status_code == 409
    assert "You are on the current membership roll" in landing.get_data(as_text=True)
    assert "Erase my data</button>" not in landing.get_data(as_text=True)
    refused = client.post(f"/privacy/erase/{token}")
    page = refused.get_data(as_text=True)
    assert refused.status_code == 409
    assert "remove you from the roll first" in page
    with Session(flask_db.engine_of(app)) as session:
        sam = session.scalars(select(Member).where(Member.number == SAM[0])).one()
        assert sam.email == SAM[1]
        assert session.scalars(select(Erasure)).one().used_at is None
    # Nothing but the request, its link and its mail was written.
    assert set(before) <= set(stored_values(app))


def test_an_organiser_erases_for_a_request_by_post(app, client, worker, runner, history):
    sign_in(app, client, ORGANISER)
    assert "/organiser/privacy/erase" in client.get("/organiser/privacy/export").get_data(
        as_text=True
    )
    form = client.get("/organiser/privacy/erase")
    assert form.status_code == 200
    shown = client.post(
        "/organiser/privacy/erase",
        data={"email": "JOBLOGGS@gmail.com", "reference": "letter 7", "action": "preview"},
    )
    page = shown.get_data(as_text=True)
    assert shown.status_code == 200
    assert "Erase this member&#39;s data" in page or "Erase this member's data" in page
    assert where_found(app, jo_forms(app)), "showing erases nothing"
    done = client.post(
        "/organiser/privacy/erase",
        data={"email": "JOBLOGGS@gmail.com", "reference": "letter 7", "action": "erase"},
    )
    assert done.status_code == 200
    assert "Erased" in done.get_data(as_text=True)
    assert where_found(app, jo_forms(app)) == []
    with Session(flask_db.engine_of(app)) as session:
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "privacy.erase"))
    assert event.actor == ORGANISER
    assert "reference letter 7" in event.detail
    assert "1 roll_entries" in event.detail
    assert "jobloggs" not in event.detail.lower()
    check_log(app, runner, history)
    # Again: nothing left, still answered and recorded.
    again = client.post(
        "/organiser/privacy/erase", data={"email": JO[1], "reference": "", "action": "erase"}
    )
    assert again.status_code == 200


def test_an_organiser_is_refused_for_a_member_on_the_roll(app, client, history):
    sign_in(app, client, ORGANISER)
    for action in ("preview", "erase"):
        refused = client.post("/organiser/privacy/erase", data={"email": SAM[1], "action": action})
        assert refused.status_code == 409
        assert "This member is on the current membership roll" in refused.get_data(as_text=True)
    own = client.post("/organiser/privacy/erase", data={"email": ORGANISER, "action": "erase"})
    assert own.status_code == 409
    assert "organiser" in own.get_data(as_text=True)
    with Session(flask_db.engine_of(app)) as session:
        assert (
            session.scalars(select(AuditEvent).where(AuditEvent.action == "privacy.erase")).all()
            == []
        )
    bad = client.post("/organiser/privacy/erase", data={"email": "not an address"})
    assert bad.status_code == 400


def test_only_organisers_erase(app, client):
    assert client.get("/organiser/privacy/erase").status_code in (302, 303)
    sign_in(app, client, "scrutineer@example.org", role="scrutineer")
    assert client.get("/organiser/privacy/erase").status_code == 403


def test_a_reimported_member_cannot_sign_the_same_petition_twice(
    app, client, worker, runner, history
):
    engine = flask_db.engine_of(app)
    with Session(engine) as session:
        erasure.erase(session, settings_of(app), "jobloggs@gmail.com", utcnow())
        session.commit()
    counts = {slug: petition(app, slug).signature_count for slug in ("vote", "later")}
    output = import_roll(runner, history)
    assert "added: 1\n" in output
    again = sign(app, client, worker, JO[1], JO[0])
    assert again.status_code in (200, 303, 409)
    with Session(engine) as session:
        jo = session.scalars(select(Member).where(Member.number == JO[0])).one()
        assert session.scalars(select(Signature).where(Signature.member_id == jo.id)).all() == []
    assert {slug: petition(app, slug).signature_count for slug in counts} == counts
    check_log(app, runner, history)
    # A petition she had not signed, she may sign.
    open_petition(app, slug="third", threshold=10)
    assert sign(app, client, worker, JO[1], slug="third").status_code in (200, 303)
    assert petition(app, "third").signature_count == 1


def test_requests_for_data_lose_their_address_after_their_retention(app, client, worker, history):
    ask(app, client, worker, JO[1])
    ask(app, client, worker, "nobody@example.net")
    engine = flask_db.engine_of(app)
    settings = settings_of(app)
    assert (
        purge.purge(engine, settings, utcnow() + timedelta(days=29)).counts["erasure requests"] == 0
    )
    report = purge.purge(engine, settings, utcnow() + timedelta(days=32))
    for step in ("data export requests", "data export links", "erasure requests", "erasure links"):
        assert report.counts[step] >= 1, step
    with Session(engine) as session:
        for model, column in (
            (DataExportRequest, DataExportRequest.email),
            (ErasureRequest, ErasureRequest.email),
            (DataExport, DataExport.email_key),
            (Erasure, Erasure.email_key),
            (Mail, Mail.to_address),
        ):
            assert set(session.scalars(select(column))) == {""}, model.__tablename__


def test_a_link_pressed_twice_at_once_erases_once(app, client, worker, history):
    _response, [mail] = ask(app, client, worker, JO[1])
    token = erase_token(mail.text_body)
    barrier = threading.Barrier(4)

    def press() -> int:
        barrier.wait()
        return app.test_client().post(f"/privacy/erase/{token}").status_code

    with ThreadPoolExecutor(4) as pool:
        answers = sorted(pool.map(lambda _n: press(), range(4)))
    assert answers == [200, 410, 410, 410]
    with Session(flask_db.engine_of(app)) as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "privacy.erase"))
        assert len(events.all()) == 1
    assert where_found(app, jo_forms(app)) == []
