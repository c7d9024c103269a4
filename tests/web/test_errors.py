"""Errors the database raises: a write lock held too long (the embedded SQLite database during a
long import) is a 503 with Retry-After, for people and for the API; anything else a plain 500."""

import sqlite3

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from petitions.config import settings_of
from petitions.lifecycle import rules


def _raising(message: str):
    def fail(*_args, **_kwargs):
        raise OperationalError("SELECT 1", {}, sqlite3.OperationalError(message))

    return fail


@pytest.fixture
def database_url(tmp_path):
    """SQLite only: the lock is SQLite's."""
    return f"sqlite:///{tmp_path / 'test.db'}"


def test_a_locked_database_is_a_503_with_retry_after(app, client, monkeypatch):
    monkeypatch.setattr(rules, "public_petitions", _raising("database is locked"))
    monkeypatch.setattr(rules, "find_published", _raising("database is locked"))
    page = client.get("/")
    assert page.status_code == 503
    assert page.headers["Retry-After"] == "10"
    assert b"try again in 10 seconds" in page.data
    api = client.get("/api/v1/petitions/vote")
    assert api.status_code == 503
    assert api.headers["Retry-After"] == "10"
    assert api.get_json()["error"] == "service_unavailable"


def test_other_database_errors_are_a_plain_500(app, client, monkeypatch):
    monkeypatch.setattr(rules, "public_petitions", _raising("disk I/O error"))
    page = client.get("/")
    assert page.status_code == 500
    assert b"disk I/O" not in page.data


@pytest.mark.parametrize(
    ("method", "path", "options"),
    [
        ("GET", "/p/vote%00", {}),
        ("GET", "/organiser/p/vote/signatures?region=a%00b", {}),
        ("POST", "/p/vote/sign", {"data": {"email": "a\x00@example.org"}}),
        ("POST", "/api/v1/petitions/vote/signatures", {"json": {"email": "a\x00@example.org"}}),
        ("POST", "/api/v1/signatures/confirm", {"json": {"token": ["x\x00"]}}),
    ],
)
def test_nul_characters_are_refused_as_bad_input(client, method, path, options):
    response = client.open(path, method=method, **options)
    assert response.status_code == 400
    assert b"NUL character" in response.data


@pytest.mark.parametrize(
    "path",
    [
        "/organiser/roll/uploads/99999999999999999999",
        "/organiser/p/vote/invitations/99999999999999999999/pause",
    ],
)
def test_ids_too_large_for_any_row_are_not_found(app, client, path):
    from tests.helpers import sign_in

    sign_in(app, client)
    assert client.get(path).status_code in (404, 405)
    assert client.post(path).status_code in (404, 405)


def test_reads_go_on_while_a_long_write_holds_sqlite(app, client):
    """A roll import holds SQLite's only write lock until it ends; meanwhile the live count,
    who is signed in, and an upload's progress are still answered (they only read)."""
    import sqlite3
    import time

    from petitions.db import flask_db
    from petitions.roll import uploads as roll_uploads
    from tests.helpers import open_petition, sign_in

    open_petition(app, "vote")
    sign_in(app, client)
    with Session(flask_db.engine_of(app)) as session:
        upload = roll_uploads.create_upload(
            session, "roll.csv", b"member_id,email\n", replace=False, strict=False, uploaded_by="x"
        )
        session.commit()
        upload_id = upload.id
    path = settings_of(app).database_url.removeprefix("sqlite:///")
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # as the import's transaction does
    try:
        started = time.monotonic()
        assert client.get("/api/v1/petitions/vote/count").status_code == 200
        progress = client.get(f"/organiser/roll/uploads/{upload_id}/progress")
        assert progress.status_code == 200
        assert progress.get_json()["state"] in ("queued", "running")
        assert time.monotonic() - started < 5
    finally:
        writer.execute("ROLLBACK")
        writer.close()
