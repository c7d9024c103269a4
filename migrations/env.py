"""Alembic environment: runs on the connection the service hands it, or on DATABASE_URL."""

import os
from pathlib import Path

import sqlmodel  # noqa: F401 - migration scripts refer to sqlmodel types
from alembic import context
from sqlmodel import SQLModel

import petitions.db.models  # noqa: F401 - registers every table on SQLModel.metadata
from petitions.config import database_url
from petitions.db.engine import make_engine

target_metadata = SQLModel.metadata


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    instance = Path(__file__).resolve().parent.parent / "instance"
    with make_engine(
        database_url(os.environ.get("DATABASE_URL"), instance)
    ).connect() as own_connection:
        _run(own_connection)
