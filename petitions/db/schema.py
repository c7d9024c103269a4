"""Creating and migrating the schema with Alembic, from the service's own connection."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database behind ``engine`` up to ``revision`` (the newest by default)."""
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


class SchemaOutOfDate(Exception):
    """The database has not been created or migrated to this version of the service."""


def require_current(engine: Engine) -> None:
    """Raise SchemaOutOfDate, saying what to run, unless the schema is at the newest revision."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    if current != head:
        state = "has no schema yet" if current is None else f"is at revision {current}"
        raise SchemaOutOfDate(
            f"the database {state}, this service needs {head}: "
            "run `flask --app app db upgrade` first"
        )
