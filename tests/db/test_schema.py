"""The migrations build exactly the schema the models describe, on both databases."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from petitions.db import flask_db, schema


def test_migrations_match_the_models(app):
    with flask_db.engine_of(app).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []


def test_upgrade_is_idempotent_and_reports_current(app):
    engine = flask_db.engine_of(app)
    schema.upgrade(engine)
    schema.require_current(engine)
