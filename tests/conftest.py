"""Fixtures: every test that touches the database runs once on SQLite and once on PostgreSQL.

PostgreSQL and Redis are the real servers. Where they are not reachable the PostgreSQL and Redis
cases are skipped with a message, unless PETITIONS_TEST_REQUIRE_SERVICES=1 (CI sets it), which
turns a missing service into a failure.
"""

import os
import uuid
from urllib.parse import quote

import psycopg
import pytest
import redis
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from sqlmodel import Session

from app import create_app
from petitions import webhook_targets
from petitions.db import flask_db
from petitions.jobs import dispatch
from petitions.outbox import smtp
from tests import api_contract, browser_support, migrated
from tests.fake_dns import FakeDns

PG_URL = os.environ.get(
    "PETITIONS_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("PETITIONS_TEST_REDIS_URL", "redis://127.0.0.1:6379")
REQUIRE = os.environ.get("PETITIONS_TEST_REQUIRE_SERVICES") == "1"
HOW_TO_ENABLE = (
    "start it, or point {var} at one; set PETITIONS_TEST_REQUIRE_SERVICES=1 to fail instead"
)

# The machine the suite runs on may be busy: time is not what property tests check.
settings.register_profile("petitions", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("petitions")

TEST_LOG_KEY = "dGVzdC1sb2ctc2lnbmluZy1rZXktMzItYnl0ZXMuLi4="
_reachable: dict[str, str | None] = {}


def _unavailable(service: str, var: str, error: str) -> None:
    message = f"{service} not reachable ({error}): " + HOW_TO_ENABLE.format(var=var)
    if REQUIRE:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def pg_conninfo() -> str:
    """The libpq form of the test PostgreSQL URL."""
    return PG_URL.replace("postgresql+psycopg://", "postgresql://", 1)


def require_postgres() -> None:
    """Skip (or fail, when services are required) unless PostgreSQL answers."""
    if "pg" not in _reachable:
        try:
            psycopg.connect(pg_conninfo(), connect_timeout=3).close()
            _reachable["pg"] = None
        except psycopg.Error as exc:
            _reachable["pg"] = str(exc).strip().splitlines()[0]
    if _reachable["pg"] is not None:
        _unavailable("PostgreSQL", "PETITIONS_TEST_DATABASE_URL", _reachable["pg"])


def require_redis() -> None:
    """Skip (or fail, when services are required) unless Redis answers."""
    if "redis" not in _reachable:
        try:
            redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
            _reachable["redis"] = None
        except redis.RedisError as exc:
            _reachable["redis"] = str(exc)
    if _reachable["redis"] is not None:
        _unavailable("Redis", "PETITIONS_TEST_REDIS_URL", _reachable["redis"])


@pytest.fixture
def pg_schema():
    """A PostgreSQL schema of this test's own, dropped afterwards; yields its SQLAlchemy URL."""
    require_postgres()
    name = "t_" + uuid.uuid4().hex[:16]
    with psycopg.connect(pg_conninfo(), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    separator = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{separator}options={quote(f'-csearch_path={name}')}"
    with psycopg.connect(pg_conninfo(), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{name}" CASCADE')


@pytest.fixture
def redis_url():
    """A Redis database of this test's own: an empty numbered one, claimed with a marker key and
    emptied afterwards (everything in it was made by this test)."""
    require_redis()
    for number in range(1, 16):
        client = redis.Redis.from_url(f"{REDIS_URL}/{number}")
        if client.dbsize() == 0 and client.set("petitions-test-claim", "1", nx=True):
            break
    else:
        pytest.fail("no empty Redis database (1-15) to test in", pytrace=False)
    yield f"{REDIS_URL}/{number}"
    client.flushdb()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path):
    """A fresh, empty database URL: a SQLite file, then a PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return request.getfixturevalue("pg_schema")


@pytest.fixture
def app(database_url, tmp_path, monkeypatch):
    """The app on a migrated, empty database (tests/migrated.py), with settings as an operator
    would give them."""
    for name in (
        "REDIS_URL",
        "SMTP_URL",
        "BALLOT_WEBHOOK_URL",
        "PETITIONS_ENV",
        "BASE_URL",
        "SECRET_KEY_FALLBACKS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SECRET_KEY", "test-secret-key")
    monkeypatch.setenv("BALLOT_WEBHOOK_SECRET", "whsec_dGVzdC13ZWJob29rLXNlY3JldA==")
    monkeypatch.setenv("LOG_SIGNING_KEY", TEST_LOG_KEY)
    migrated.install(database_url, pg_conninfo())
    application = create_app(
        {
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "INPROCESS_WORKER_THREAD": False,
            "RATELIMIT_ENABLED": False,
        }
    )
    application.instance_path = str(tmp_path / "instance")
    yield application
    flask_db.engine_of(application).dispose()


@pytest.fixture(autouse=True)
def api_answers_are_documented(monkeypatch):
    """Every answer a test client gets from the JSON API must be one that /api/v1/openapi.json
    describes (tests/api_contract.py), whichever app the client is for."""
    monkeypatch.setattr(FlaskClient, "open", api_contract.checked(FlaskClient.open))


@pytest.fixture(autouse=True)
def dns(monkeypatch):
    """Host names resolve only as the test sets them (``dns["ballot.test"] = ["127.0.0.1"]``):
    no test sends a query to a real DNS server."""
    fake = FakeDns()
    monkeypatch.setattr(webhook_targets, "resolve", fake.resolve)
    return fake


@pytest.fixture(autouse=True)
def smtp_connections_closed():
    """SMTP connections are kept open between jobs; each test's end with its servers."""
    yield
    smtp.close_all()


@pytest.fixture
def worker(app):
    """The in-process worker, without its thread: tests call ``run_pending()`` to do the work."""
    return dispatch.dispatcher_of(app)


@pytest.fixture
def client(app):
    """A test client for the app."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """A CLI runner for the app's ``flask`` commands."""
    return app.test_cli_runner()


@pytest.fixture
def db(app):
    """A session on the app's database, for arranging and inspecting rows."""
    with app.app_context(), Session(flask_db.engine(), expire_on_commit=False) as session:
        yield session


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium, driven by Playwright, shared by the session's browser tests
    (see tests/browser_support.py: skipped without it, unless the browser is required)."""
    with browser_support.chromium() as launched:
        yield launched


@pytest.fixture
def base_url(app):
    """The app served on a free loopback port; e-mailed links point there too."""
    with browser_support.served(app) as base:
        yield base
