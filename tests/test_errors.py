"""Errors the database raises: a write lock held too long (the embedded SQLite database during a
long import) is a 503 with Retry-After, for people and for the API; anything else a plain 500."""

import sqlite3

import pytest
from sqlalchemy.exc import OperationalError

from petitions import lifecycle


def _raising(message: str):
    def fail(*_args, **_kwargs):
        raise OperationalError("SELECT 1", {}, sqlite3.OperationalError(message))

    return fail


@pytest.fixture
def database_url(tmp_path):
    """SQLite only: the lock is SQLite's."""
    return f"sqlite:///{tmp_path / 'test.db'}"


def test_a_locked_database_is_a_503_with_retry_after(app, client, monkeypatch):
    monkeypatch.setattr(lifecycle, "public_petitions", _raising("database is locked"))
    monkeypatch.setattr(lifecycle, "find_published", _raising("database is locked"))
    page = client.get("/")
    assert page.status_code == 503
    assert page.headers["Retry-After"] == "10"
    assert b"try again in 10 seconds" in page.data
    api = client.get("/api/v1/petitions/vote")
    assert api.status_code == 503
    assert api.headers["Retry-After"] == "10"
    assert api.get_json()["error"] == "service_unavailable"


def test_other_database_errors_are_a_plain_500(app, client, monkeypatch):
    monkeypatch.setattr(lifecycle, "public_petitions", _raising("disk I/O error"))
    page = client.get("/")
    assert page.status_code == 500
    assert b"disk I/O" not in page.data
