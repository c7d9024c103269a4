"""A request whose PostgreSQL connection is lost (ended by an operator, a restart, a failover)
or cannot be opened is a 503 with Retry-After, for people and for the API, not a 500; the next
request gets a fresh connection and is answered."""

import socket

import pytest
from sqlalchemy import create_engine, text

from petitions.lifecycle import rules
from tests.helpers import open_petition


@pytest.fixture
def database_url(pg_schema):
    """PostgreSQL only: the faults are a server's."""
    return pg_schema


def _ending_its_own_connection(session, *_args, **_kwargs):
    # What pg_terminate_backend, or a restart, does to a request in flight.
    session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))


def _connecting_to_nothing(*_args, **_kwargs):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    nowhere = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/none")
    try:
        nowhere.connect()
    finally:
        nowhere.dispose()


@pytest.mark.parametrize("fault", [_ending_its_own_connection, _connecting_to_nothing])
def test_a_lost_database_connection_is_a_503_with_retry_after(app, client, monkeypatch, fault):
    open_petition(app, "vote")
    with monkeypatch.context() as faulty:
        faulty.setattr(rules, "public_petitions", fault)
        faulty.setattr(rules, "find_published", fault)
        page = client.get("/")
        assert page.status_code == 503
        assert page.headers["Retry-After"] == "2"
        assert b"try again in 2 seconds" in page.data
        api = client.get("/api/v1/petitions/vote")
        assert api.status_code == 503
        assert api.headers["Retry-After"] == "2"
        assert api.get_json()["error"] == "service_unavailable"
    assert client.get("/").status_code == 200
    assert client.get("/api/v1/petitions/vote").status_code == 200
