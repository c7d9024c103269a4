"""Importing the roll in the browser: the upload, the worker that runs the command line's engine
on it, the progress endpoint, the report and its CSV, the history; on SQLite and PostgreSQL."""

import csv
import html
import io
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from rq import Queue
from sqlalchemy import func, select, update
from sqlmodel import Session

from app import create_app
from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.engine import utcnow
from petitions.db.models import AuditEvent, Member, RollImport, RollUpload
from petitions.jobs.dispatch import QUEUE, dispatcher_of
from petitions.outbox import progress, work
from petitions.roll import importer
from petitions.roll import uploads as roll_uploads
from tests.helpers import add_members, configure, sign_in

HEADER = "member_id,email,name,region,status,joined_on\n"
GOOD_AND_BAD = (
    HEADER
    + "1001,jo@example.org,Jo,North,active,2019-04-01\n"  # line 2
    + "1002,not-an-address,Sam,South,active,\n"  # line 3: rejected
    + "1003,home@example.org,Alex,South,,\n"  # line 4: household
    + "1004,Home@Example.org,Priya,South,,\n"  # line 5: household
    + "1005,kim@example.org,Kim,East,retired,\n"  # line 6: rejected
    + "=1+1,bad@,Eve,East,,\n"  # line 7: rejected, and a formula to a spreadsheet
)


def upload(client, content, filename="roll.csv", **options):
    """POST ``content`` as the file, with the options ticked that are given as True."""
    data = {
        "file": (io.BytesIO(content.encode() if isinstance(content, str) else content), filename)
    }
    data.update({name: "1" for name, ticked in options.items() if ticked})
    return client.post("/organiser/roll/uploads", data=data, content_type="multipart/form-data")


def uploaded_id(response) -> int:
    assert response.status_code == 303, response.get_data(as_text=True)
    match = re.fullmatch(r"/organiser/roll/uploads/(\d+)", response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match.group(1))


def upload_row(app, upload_id: int) -> RollUpload:
    with Session(flask_db.engine_of(app), expire_on_commit=False) as session:
        return session.get(RollUpload, upload_id)


def member_ids(app) -> dict[str, str]:
    with Session(flask_db.engine_of(app)) as session:
        return dict(session.execute(select(Member.number, Member.status)).all())


def count(app, model) -> int:
    with Session(flask_db.engine_of(app)) as session:
        return session.scalar(select(func.count()).select_from(model))


def text_of(response) -> str:
    """The page's text without tags, spaces squeezed: what a reader sees."""
    page = response.get_data(as_text=True)
    text = html.unescape(re.sub(r"<[^>]+>", " ", page))
    return re.sub(r"\s+", " ", text).replace(" ,", ",")


@pytest.fixture
def organiser(app, client):
    """The client, signed in as an organiser."""
    sign_in(app, client, "organiser@example.org", "organiser")
    return client


def test_an_uploaded_roll_is_imported_by_the_worker_and_reported(app, organiser, worker):
    upload_id = uploaded_id(upload(organiser, GOOD_AND_BAD, "members.csv"))
    row = upload_row(app, upload_id)
    assert (row.filename, row.size, row.data) == (
        "members.csv",
        len(GOOD_AND_BAD),
        GOOD_AND_BAD.encode(),
    )
    assert row.uploaded_by == "organiser@example.org"
    assert member_ids(app) == {}

    waiting = organiser.get(f"/organiser/roll/uploads/{upload_id}")
    assert waiting.status_code == 200
    assert "Waiting for a worker to start the import." in text_of(waiting)
    assert f'data-progress-url="/organiser/roll/uploads/{upload_id}/progress"' in waiting.get_data(
        as_text=True
    )

    assert worker.run_pending() >= 1
    assert member_ids(app) == {"1001": "active", "1003": "active", "1004": "active"}
    row = upload_row(app, upload_id)
    assert row.outcome == "accepted"
    assert row.done_at is not None
    assert row.attempts == 1
    with Session(flask_db.engine_of(app)) as session:
        record = session.get(RollImport, row.import_id)
        event = session.scalars(select(AuditEvent)).one()
    assert (record.filename, record.added, record.rejected) == ("members.csv", 3, 3)
    assert (event.actor, event.action, event.detail) == (
        "organiser@example.org",
        "roll.upload",
        "members.csv",
    )

    done = organiser.get(f"/organiser/roll/uploads/{upload_id}")
    assert done.status_code == 302
    assert done.headers["Location"] == f"/organiser/roll/imports/{row.import_id}"
    page = text_of(organiser.get(done.headers["Location"]))
    assert "Roll import #1 Imported with 3 rows rejected" in page
    assert "The file was imported with 3 rows rejected." in page
    assert "the other rows were: 3 added, 0 updated, 0 unchanged, 0 lapsed." in page
    assert "Households (addresses shared) 1 address, 2 members" in page
    assert "By organiser@example.org" in page
    assert "Rejected rows 1 to 3 of 3" in page
    assert "3 1002 invalid e-mail address 'not-an-address'" in page
    assert "6 1005 unknown status 'retired' (expected active, lapsed or suspended)" in page
    assert "7 =1+1 invalid e-mail address 'bad@'" in page
    assert "4 1003 shares its address with 1 other member(s) in the file" in page


def test_the_report_downloads_as_csv_with_every_note(app, organiser, worker):
    upload_id = uploaded_id(upload(organiser, GOOD_AND_BAD))
    worker.run_pending()
    import_id = upload_row(app, upload_id).import_id
    response = organiser.get(f"/organiser/roll/imports/{import_id}/report.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert (
        response.headers["Content-Disposition"]
        == f'attachment; filename="roll-import-{import_id}-report.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["line", "member_id", "kind", "detail"]
    assert [row[:3] for row in rows[1:]] == [
        ["3", "1002", "rejected"],
        ["4", "1003", "household"],
        ["5", "1004", "household"],
        ["6", "1005", "rejected"],
        # A cell a spreadsheet would run as a formula is quoted.
        ["7", "'=1+1", "rejected"],
    ]
    assert rows[4][3] == "unknown status 'retired' (expected active, lapsed or suspended)"


def test_a_long_csv_report_is_read_in_chunks_and_keeps_every_row(
    app, organiser, worker, monkeypatch
):
    monkeypatch.setattr("petitions.roll.reports._CSV_CHUNK", 7)
    content = HEADER + "".join(f"{n},bad-{n},,,,\n" for n in range(1, 31))
    worker_id = uploaded_id(upload(organiser, content))
    worker.run_pending()
    import_id = upload_row(app, worker_id).import_id
    body = organiser.get(f"/organiser/roll/imports/{import_id}/report.csv").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(body)))[1:]
    assert [int(row[0]) for row in rows] == list(range(2, 32))
    assert {row[2] for row in rows} == {"rejected"}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (
            "member_id,name\n1001,Jo\n",
            "required column missing: email (the header has: member_id, name)",
        ),
        (
            b"member_id,email\n1001,jo@example.org\n1002,caf\xe9@example.org\n",
            "the file is not UTF-8 text (byte 0xe9 on line 3)",
        ),
        (HEADER, "the file has a header but no members"),
    ],
)
def test_a_refused_file_shows_why_and_writes_nothing(app, organiser, worker, content, reason):
    upload_id = uploaded_id(upload(organiser, content))
    worker.run_pending()
    row = upload_row(app, upload_id)
    assert (row.outcome, row.attempts, row.last_error) == ("refused", 1, None)
    assert row.done_at is not None, "a refused file is an outcome, not a failure to retry"
    assert member_ids(app) == {}
    report = organiser.get(f"/organiser/roll/imports/{row.import_id}")
    page = text_of(report)
    assert "The file was refused: nothing was imported." in page
    assert reason in page
    rows = list(
        csv.reader(
            io.StringIO(
                organiser.get(f"/organiser/roll/imports/{row.import_id}/report.csv").get_data(
                    as_text=True
                )
            )
        )
    )
    assert rows[1][:3] == ["", "", "refused"]
    assert reason in rows[1][3]
    status = organiser.get(f"/organiser/roll/uploads/{upload_id}/progress").get_json()
    assert (status["state"], status["outcome"]) == ("done", "refused")
    assert status["report_url"] == f"/organiser/roll/imports/{row.import_id}"


def test_replace_marks_members_missing_from_the_file_as_lapsed(app, organiser, worker):
    add_members(app, ("9001", "old@example.org"), ("1001", "jo@example.org"))
    upload_id = uploaded_id(upload(organiser, HEADER + "1001,jo@example.org,Jo,,,\n", replace=True))
    worker.run_pending()
    assert member_ids(app) == {"9001": "lapsed", "1001": "active"}
    row = upload_row(app, upload_id)
    assert row.replace
    assert not row.strict
    page = text_of(organiser.get(f"/organiser/roll/imports/{row.import_id}"))
    assert "Lapsed (not in the file) 1" in page
    assert "the whole roll (members missing from it marked lapsed)" in page


def test_without_replace_members_missing_from_the_file_stay(app, organiser, worker):
    add_members(app, ("9001", "old@example.org"))
    uploaded_id(upload(organiser, HEADER + "1001,jo@example.org,Jo,,,\n"))
    worker.run_pending()
    assert member_ids(app) == {"9001": "active", "1001": "active"}


def test_strict_refuses_the_whole_file_on_a_bad_row(app, organiser, worker):
    upload_id = uploaded_id(upload(organiser, GOOD_AND_BAD, strict=True))
    worker.run_pending()
    row = upload_row(app, upload_id)
    assert row.outcome == "refused"
    assert row.strict
    assert member_ids(app) == {}
    page = text_of(organiser.get(f"/organiser/roll/imports/{row.import_id}"))
    assert "3 row(s) rejected and --strict given: nothing was imported" in page
    assert "3 rows were bad, so the file was refused." in page
    assert "3 1002 invalid e-mail address" in page


def test_the_history_lists_command_line_and_browser_imports_newest_first(
    app, organiser, worker, runner, tmp_path
):
    path = tmp_path / "from-the-server.csv"
    path.write_text(HEADER + "1001,jo@example.org,Jo,,,\n")
    assert runner.invoke(args=["roll", "import", str(path)]).exit_code == 0
    uploaded_id(upload(organiser, HEADER + "1002,sam@example.org,Sam,,,\n", "from-the-browser.csv"))
    worker.run_pending()
    uploaded_id(upload(organiser, "nonsense\n", "refused.csv"))
    worker.run_pending()
    page = text_of(organiser.get("/organiser/roll"))
    history = page.split("Import history", 1)[1]
    assert re.search(
        r"#\d+ .*refused\.csv organiser@example\.org Refused "
        r"required columns missing: member_id, email"
        r".*#\d+ .*from-the-browser\.csv organiser@example\.org Imported 1 1 0 0 0"
        r".*#\d+ .*from-the-server\.csv command line Imported 1 1 0 0 0",
        history,
    ), history
    with Session(flask_db.engine_of(app)) as session:
        first = session.scalar(select(func.min(RollImport.id)))
    cli_report = text_of(organiser.get(f"/organiser/roll/imports/{first}"))
    assert "By command line" in cli_report


def test_the_history_is_paged(app, organiser, runner, tmp_path, monkeypatch):
    monkeypatch.setattr("petitions.web.roll.HISTORY_PER_PAGE", 2)
    path = tmp_path / "roll.csv"
    path.write_text(HEADER + "1001,jo@example.org,Jo,,,\n")
    for _ in range(3):
        assert runner.invoke(args=["roll", "import", str(path)]).exit_code == 0
    first = organiser.get("/organiser/roll").get_data(as_text=True)
    assert ">#3<" in first
    assert ">#2<" in first
    assert ">#1<" not in first
    assert 'href="/organiser/roll?page=2"' in first
    second = organiser.get("/organiser/roll?page=2").get_data(as_text=True)
    assert ">#1<" in second
    assert ">#2<" not in second
    assert 'href="/organiser/roll?page=1"' in second


def test_rejected_rows_are_paged(app, organiser, worker, monkeypatch):
    monkeypatch.setattr("petitions.web.roll.NOTES_PER_PAGE", 4)
    content = HEADER + "".join(f"{n},bad-{n},,,,\n" for n in range(1, 11))
    upload_id = uploaded_id(upload(organiser, content))
    worker.run_pending()
    import_id = upload_row(app, upload_id).import_id
    first = text_of(organiser.get(f"/organiser/roll/imports/{import_id}"))
    assert "Rejected rows 1 to 4 of 10" in first
    assert "Page 1 of 3" in first
    last = text_of(organiser.get(f"/organiser/roll/imports/{import_id}?page=3"))
    assert "Rejected rows 9 to 10 of 10" in last
    assert "11 10 invalid e-mail address 'bad-10'" in last
    assert "2 1 invalid" not in last
    beyond = text_of(organiser.get(f"/organiser/roll/imports/{import_id}?page=99"))
    assert "Rejected rows 9 to 10 of 10" in beyond


class RecordingStore(progress.MemoryProgress):
    """A memory store that keeps every value written to it."""

    def __init__(self):
        super().__init__()
        self.written: list[dict] = []
        self.cleared: list[str] = []

    def put(self, key, value):
        self.written.append(dict(value))
        super().put(key, value)

    def clear(self, key):
        self.cleared.append(key)
        super().clear(key)


def test_the_worker_publishes_its_progress_then_clears_it(app, organiser, worker, monkeypatch):
    store = RecordingStore()
    monkeypatch.setattr(progress, "store_for", lambda _settings: store)
    # Every chunk is written: none is skipped for coming too soon after the last.
    monkeypatch.setattr(roll_uploads, "PROGRESS_EVERY_SECONDS", 0)
    content = HEADER + "".join(f"{n},m{n}@example.org,Name {n},,,\n" for n in range(1, 3001))
    upload_id = uploaded_id(upload(organiser, content))
    worker.run_pending()
    phases = [value["phase"] for value in store.written]
    assert phases[0] == "reading"
    assert store.written[0]["bytes_read"] == 0
    assert phases[-2:] == ["checking", "merging"]
    read = [value["bytes_read"] for value in store.written if value["phase"] == "reading"]
    assert len(read) > 2
    assert read == sorted(read)
    assert read[-1] == len(content.encode())
    assert {value["total_bytes"] for value in store.written} == {len(content.encode())}
    assert store.cleared == [f"roll_upload:{upload_id}"]
    assert store.get(f"roll_upload:{upload_id}") is None


def test_the_progress_endpoint_says_queued_running_and_done(app, organiser, worker):
    upload_id = uploaded_id(upload(organiser, GOOD_AND_BAD))
    url = f"/organiser/roll/uploads/{upload_id}/progress"
    queued = organiser.get(url).get_json()
    assert queued["state"] == "queued"
    assert queued["message"] == "Waiting for a worker to start the import."
    assert (queued["percent"], queued["report_url"]) == (None, None)

    engine = flask_db.engine_of(app)
    assert work.claim(engine, "roll_upload", upload_id)
    starting = organiser.get(url).get_json()
    assert (starting["state"], starting["phase"], starting["message"]) == (
        "running",
        None,
        "Starting the import.",
    )
    # What the worker publishes as it reads, in the store the web process reads.
    reporter = roll_uploads._Reporter(
        progress.store_for(settings_of(app).redis_url), roll_uploads.progress_key(upload_id), 4096
    )
    reporter.start()
    reporter.read(1024)
    reporter.phase("reading")
    running = organiser.get(url).get_json()
    assert running["state"] == "running"
    assert (running["phase"], running["bytes_read"], running["total_bytes"]) == (
        "reading",
        1024,
        4096,
    )
    assert running["percent"] == 25
    assert running["message"] == "Reading the file: 25% (1.0 KB of 4.0 KB)."
    page = organiser.get(f"/organiser/roll/uploads/{upload_id}").get_data(as_text=True)
    assert '<progress id="roll-progress-bar" max="4096" value="1024">25%</progress>' in page
    reporter.phase("merging")
    merging = organiser.get(url).get_json()
    assert (merging["phase"], merging["percent"]) == ("merging", None)
    assert merging["message"] == "Applying the changes to the roll."

    roll_uploads.run_upload(engine, settings_of(app), upload_id)
    done = organiser.get(url).get_json()
    import_id = upload_row(app, upload_id).import_id
    assert done["state"] == "done"
    assert done["outcome"] == "accepted"
    assert done["report_url"] == f"/organiser/roll/imports/{import_id}"
    assert done["message"] == "The import is finished."
    assert (
        progress.store_for(settings_of(app).redis_url).get(roll_uploads.progress_key(upload_id))
        is None
    )


def test_an_unknown_upload_or_import_is_a_404(organiser):
    assert organiser.get("/organiser/roll/uploads/99").status_code == 404
    missing = organiser.get("/organiser/roll/uploads/99/progress")
    assert missing.status_code == 404
    assert missing.get_json()["error"] == "not_found"
    assert organiser.get("/organiser/roll/imports/99").status_code == 404
    assert organiser.get("/organiser/roll/imports/99/report.csv").status_code == 404


def test_no_file_or_an_empty_file_is_refused_with_a_400(app, organiser):
    nothing = organiser.post("/organiser/roll/uploads", data={"replace": "1"})
    assert nothing.status_code == 400
    assert "Choose a CSV file of the roll to upload." in text_of(nothing)
    unnamed = upload(organiser, "member_id,email\n", filename="")
    assert unnamed.status_code == 400
    empty = upload(organiser, b"", filename="empty.csv")
    assert empty.status_code == 400
    assert "The file empty.csv is empty: nothing to import." in text_of(empty)
    assert count(app, RollUpload) == 0
    assert count(app, AuditEvent) == 0


def test_a_file_over_the_size_limit_is_refused_with_a_413(app, organiser):
    configure(app, roll_upload_max_bytes=2048)
    at_limit = HEADER + "1001,jo@example.org," + "x" * (2048 - len(HEADER) - 24) + ",,,\n"
    assert len(at_limit) == 2048
    over = at_limit + "1"
    refused = upload(organiser, over)
    assert refused.status_code == 413
    assert "The file is larger than the 2.0 KB a browser upload may be." in text_of(refused)
    assert "flask --app app roll import FILE.csv" in text_of(refused)
    # A body far over the limit is refused before it is read.
    # Built by hand: the test client would spool a body this big to a file it never closes.
    body = (
        b'--B\r\nContent-Disposition: form-data; name="file"; filename="huge.csv"\r\n\r\n'
        + over.encode() * 600
        + b"\r\n--B--\r\n"
    )
    huge = organiser.post(
        "/organiser/roll/uploads", data=body, content_type="multipart/form-data; boundary=B"
    )
    assert huge.status_code == 413
    assert "The file is larger than the 2.0 KB a browser upload may be." in text_of(huge)
    assert "Request Entity Too Large" in text_of(huge), "refused by the size check, not the form"
    assert "Request Entity Too Large" not in text_of(refused)
    assert count(app, RollUpload) == 0
    uploaded_id(upload(organiser, at_limit))
    assert count(app, RollUpload) == 1


def test_the_form_explains_the_options_and_states_the_limit(organiser):
    page = organiser.get("/organiser/roll")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in html
    for field in ("roll-file", "roll-replace", "roll-strict"):
        assert f'<label for="{field}">' in html
    text = text_of(page)
    assert "mark members missing from it as lapsed" in text
    assert "Refuse the whole file if any row is bad" in text
    assert "at most 64.0 MB" in text
    assert 'data-max-bytes="67108864"' in html
    assert "No roll has been imported yet." in text


def test_scrutineers_may_not_upload_or_read_imports(app, client):
    sign_in(app, client, "scrutineer@example.org", "scrutineer")
    assert client.get("/organiser/roll").status_code == 403
    assert upload(client, GOOD_AND_BAD).status_code == 403
    assert count(app, RollUpload) == 0


def test_a_crash_is_retried_and_in_the_end_given_up(app, organiser, worker, monkeypatch):
    def crash(*_args, **_kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(roll_uploads, "import_roll", crash)
    upload_id = uploaded_id(upload(organiser, GOOD_AND_BAD))
    worker.run_pending()
    row = upload_row(app, upload_id)
    assert (row.done_at, row.attempts, row.last_error) == (None, 1, "RuntimeError: disk on fire")
    status = organiser.get(f"/organiser/roll/uploads/{upload_id}/progress").get_json()
    assert status["state"] == "queued"
    assert status["message"].startswith(
        "Try 1 failed (RuntimeError: disk on fire); it will be tried again at "
    )

    engine = flask_db.engine_of(app)
    with Session(engine) as session:
        session.execute(
            update(RollUpload)
            .where(RollUpload.id == upload_id)
            .values(attempts=roll_uploads.MAX_ATTEMPTS - 1, next_attempt_at=utcnow())
        )
        session.commit()
    worker.run_pending()
    row = upload_row(app, upload_id)
    assert row.outcome == "failed"
    assert row.done_at is not None
    assert row.attempts == roll_uploads.MAX_ATTEMPTS
    assert row.last_error == "RuntimeError: disk on fire"
    assert member_ids(app) == {}
    page = organiser.get(f"/organiser/roll/uploads/{upload_id}")
    assert page.status_code == 200
    assert "The import failed and nothing was imported: RuntimeError: disk on fire" in text_of(page)
    listed = text_of(organiser.get("/organiser/roll"))
    assert "Uploads not imported" in listed
    assert "disk on fire" in listed


def test_tries_that_never_came_back_are_given_up_on(app, organiser, worker):
    upload_id = uploaded_id(upload(organiser, GOOD_AND_BAD))
    engine = flask_db.engine_of(app)
    with Session(engine) as session:
        session.execute(
            update(RollUpload)
            .where(RollUpload.id == upload_id)
            .values(attempts=roll_uploads.MAX_ATTEMPTS)
        )
        session.commit()
    worker.run_pending()
    row = upload_row(app, upload_id)
    assert (row.outcome, row.last_error) == (
        "failed",
        f"gave up after {roll_uploads.MAX_ATTEMPTS} tries",
    )
    assert member_ids(app) == {}
    assert count(app, RollImport) == 0


@pytest.mark.parametrize("content", [GOOD_AND_BAD, "not a roll\n"], ids=["accepted", "refused"])
def test_a_file_is_imported_once_even_when_two_tries_race(app, organiser, monkeypatch, content):
    upload_id = uploaded_id(upload(organiser, content))
    engine = flask_db.engine_of(app)

    def other_try_finishes_first(*args, **kwargs):
        # The other try commits its import after this one has read the row, then this one runs.
        with Session(engine) as session:
            session.execute(
                update(RollUpload)
                .where(RollUpload.id == upload_id)
                .values(done_at=utcnow(), outcome="accepted")
            )
            session.commit()
        return importer.import_roll(*args, **kwargs)

    monkeypatch.setattr(roll_uploads, "import_roll", other_try_finishes_first)
    roll_uploads.run_upload(engine, settings_of(app), upload_id)
    assert member_ids(app) == {}, "the second import was undone"
    assert count(app, RollImport) == 0
    assert upload_row(app, upload_id).import_id is None
    # And a try of a row already done does nothing at all.
    monkeypatch.setattr(roll_uploads, "import_roll", pytest.fail)
    roll_uploads.run_upload(engine, settings_of(app), upload_id)


def test_the_import_lease_covers_a_long_import(app, organiser, monkeypatch):
    upload_id = uploaded_id(upload(organiser, GOOD_AND_BAD))
    engine = flask_db.engine_of(app)
    seen = {}

    def look(*args, **kwargs):
        seen["leased_until"] = upload_row(app, upload_id).leased_until
        return importer.import_roll(*args, **kwargs)

    monkeypatch.setattr(roll_uploads, "import_roll", look)
    assert work.claim(engine, "roll_upload", upload_id)
    roll_uploads.run_upload(engine, settings_of(app), upload_id)
    assert seen["leased_until"] > utcnow() + roll_uploads.IMPORT_LEASE - timedelta(minutes=1)
    assert upload_row(app, upload_id).leased_until is None


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("roll.csv", "roll.csv"),
        ("C:\\Users\\jo\\Desktop\\roll.csv", "roll.csv"),
        ("/home/jo/roll.csv", "roll.csv"),
        ("   ", "upload.csv"),
        ("x" * 600 + ".csv", "x" * 500),
    ],
)
def test_the_file_name_is_kept_without_its_folder(given, kept):
    assert roll_uploads.clean_filename(given) == kept


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 bytes"),
        (1, "1 byte"),
        (1023, "1023 bytes"),
        (1536, "1.5 KB"),
        (64 * 1024 * 1024, "64.0 MB"),
    ],
)
def test_sizes_read_as_people_write_them(size, text):
    assert roll_uploads.human_bytes(size) == text


def test_memory_progress_expires_and_copies():
    now = [100.0]
    store = progress.MemoryProgress(ttl=10, clock=lambda: now[0])
    value = {"phase": "reading", "bytes_read": 1}
    store.put("a", value)
    value["bytes_read"] = 2
    assert store.get("a") == {"phase": "reading", "bytes_read": 1}
    now[0] = 109.9
    assert store.get("a") is not None
    now[0] = 110.0
    assert store.get("a") is None
    store.put("b", {"x": 1})
    store.clear("b")
    assert store.get("b") is None


def test_redis_progress_is_shared_and_expires(redis_url):
    store = progress.store_for(redis_url)
    assert isinstance(store, progress.RedisProgress)
    assert progress.store_for(redis_url) is store
    # Another process's store on the same Redis sees the same entry.
    other = progress.RedisProgress(redis_url)
    store.put("roll_upload:7", {"phase": "checking", "bytes_read": 10, "total_bytes": 10})
    assert other.get("roll_upload:7") == {"phase": "checking", "bytes_read": 10, "total_bytes": 10}
    ttl = redis.Redis.from_url(redis_url).ttl("petitions:progress:roll_upload:7")
    assert 0 < ttl <= progress.TTL_SECONDS
    other.clear("roll_upload:7")
    assert store.get("roll_upload:7") is None


def test_without_redis_progress_stays_in_this_process():
    assert isinstance(progress.store_for(None), progress.MemoryProgress)
    assert progress.store_for(None) is progress.store_for(None)


def test_a_redis_that_does_not_answer_loses_progress_but_fails_nothing():
    store = progress.RedisProgress("redis://127.0.0.1:1/0")
    store.put("k", {"phase": "reading"})
    assert store.get("k") is None
    store.clear("k")


def test_with_redis_an_rq_worker_process_imports_the_upload(app, redis_url, tmp_path):
    """As in production: the web app enqueues the upload on rq, and a worker in another process
    (``flask --app app worker``) reads the file from the database and imports it."""
    web = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, "REDIS_URL": redis_url})
    try:
        client = web.test_client()
        sign_in(web, client)
        upload_id = uploaded_id(upload(client, GOOD_AND_BAD, "queued.csv", replace=True))
        assert rq_queue_size(redis_url) == 1
        assert client.get(f"/organiser/roll/uploads/{upload_id}/progress").json["state"] == "queued"
        env = {
            **os.environ,
            "DATABASE_URL": settings_of(app).database_url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": app.config["SECRET_KEY"],
            "BALLOT_WEBHOOK_SECRET": settings_of(app).ballot_webhook_secret,
        }
        output = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "app", "worker", "--burst"],
            cwd=Path(__file__).resolve().parents[2],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert output.returncode == 0, output.stdout + output.stderr
        done = client.get(f"/organiser/roll/uploads/{upload_id}/progress").json
        assert (done["state"], done["outcome"]) == ("done", "accepted")
        assert member_ids(app) == {"1001": "active", "1003": "active", "1004": "active"}
        page = text_of(client.get(done["report_url"]))
        assert "with 3 rows rejected" in page
        assert "3 added, 0 updated, 0 unchanged, 0 lapsed" in page
    finally:
        dispatcher_of(web).connection.close()
        flask_db.engine_of(web).dispose()


def rq_queue_size(redis_url: str) -> int:
    """How many jobs wait in the service's rq queue."""
    return len(Queue(QUEUE, connection=redis.Redis.from_url(redis_url)))
