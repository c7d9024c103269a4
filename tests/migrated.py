"""Migrated databases for the tests, made once per test process and copied into each test's
empty one: running every migration again for each test cost more than most tests do.

On SQLite the copy is the template's file. On PostgreSQL it is the template schema's tables,
indexes and rows as `pg_dump` writes them, replayed into the test's schema in one round trip;
where `pg_dump` cannot write them (missing, or older than the server) each test runs the
migrations instead. tests/db/test_schema.py checks the migrations themselves, on an empty
database.
"""

import atexit
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg
from sqlalchemy import create_engine, make_url

from petitions.db import schema

_templates: dict[str, str | None] = {}

# The template schema's name, random so that it occurs nowhere else in its dump: replaced there
# by the test's schema.
_TEMPLATE = "t_template_" + uuid.uuid4().hex[:16]


def install(database_url: str, pg_conninfo: str) -> None:
    """Give the empty database at ``database_url`` the newest schema (``pg_conninfo`` is the
    libpq form of the test PostgreSQL server's URL, whose schemas the tests use)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        shutil.copyfile(_sqlite_template(), url.database)
        return
    target = _schema_of(database_url)
    ddl = _postgres_template(database_url, pg_conninfo)
    if ddl is None:
        _migrate(database_url)
        return
    with psycopg.connect(pg_conninfo, autocommit=True) as connection, connection.transaction():
        connection.execute(ddl.replace(_TEMPLATE, target).encode())


def _migrate(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        schema.upgrade(engine)
    finally:
        engine.dispose()


def _sqlite_template() -> str:
    if "sqlite" not in _templates:
        folder = tempfile.mkdtemp(prefix="petitions-test-template-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        path = str(Path(folder) / "migrated.db")
        # Disposing of the engine closes its connections, which folds the WAL into the file.
        _migrate(f"sqlite:///{path}")
        _templates["sqlite"] = path
    return _templates["sqlite"]


def _schema_of(database_url: str) -> str:
    """The schema a test's URL names (conftest.pg_schema sets it as the search path)."""
    options = make_url(database_url).query.get("options", "")
    prefix = "-csearch_path="
    if not options.startswith(prefix):
        raise ValueError(f"the URL names no schema in its search path: {database_url}")
    return options.removeprefix(prefix)


def _postgres_template(database_url: str, pg_conninfo: str) -> str | None:
    """The template schema's DDL and rows, made on first use; None where pg_dump cannot."""
    if "postgres" not in _templates:
        with psycopg.connect(pg_conninfo, autocommit=True) as connection:
            connection.execute(f'CREATE SCHEMA "{_TEMPLATE}"')
        try:
            _migrate(database_url.replace(_schema_of(database_url), _TEMPLATE))
            _templates["postgres"] = _dump(pg_conninfo)
        finally:
            with psycopg.connect(pg_conninfo, autocommit=True) as connection:
                connection.execute(f'DROP SCHEMA "{_TEMPLATE}" CASCADE')
    return _templates["postgres"]


def _dump(pg_conninfo: str) -> str | None:
    command = [
        "pg_dump",
        f"--dbname={pg_conninfo}",
        f"--schema={_TEMPLATE}",
        "--no-owner",
        "--no-privileges",
        "--inserts",
    ]
    try:
        dumped = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    # The test's schema exists already, and psql's own commands (\restrict ...) are not SQL.
    return "\n".join(
        line
        for line in dumped.stdout.splitlines()
        if not line.startswith("\\") and line != f"CREATE SCHEMA {_TEMPLATE};"
    )
