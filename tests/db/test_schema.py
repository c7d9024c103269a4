"""The migrations build exactly the schema the models describe, on both databases."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlmodel import SQLModel

from petitions.db import flask_db, schema
from petitions.db.models import Member, RollImportNote


def test_migrations_match_the_models(database_url):
    """Run on an empty database: the app fixture's is a copy of one migrated earlier."""
    engine = create_engine(database_url)
    try:
        schema.upgrade(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, SQLModel.metadata) == []
    finally:
        engine.dispose()


def test_the_tests_copy_of_a_migrated_database_is_the_migrated_schema(app):
    with flask_db.engine_of(app).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []


def test_upgrade_is_idempotent_and_reports_current(app):
    engine = flask_db.engine_of(app)
    schema.upgrade(engine)
    schema.require_current(engine)


def test_membership_numbers_keep_their_column_name(app):
    """``Member.number`` and ``RollImportNote.member_number`` are Python names: in the database
    both columns are still called member_id, as the roll file calls them."""
    columns = inspect(flask_db.engine_of(app))
    assert "member_id" in {column["name"] for column in columns.get_columns("member")}
    assert "number" not in {column["name"] for column in columns.get_columns("member")}
    assert "member_id" in {column["name"] for column in columns.get_columns("roll_import_note")}
    assert Member.number.expression.name == "member_id"
    assert RollImportNote.member_number.expression.name == "member_id"
