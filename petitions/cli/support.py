"""What every database command needs (a reachable database at the current schema), and the name
the audit trail gives a command."""

import functools

import click
from sqlalchemy.exc import OperationalError

from petitions.db import flask_db, schema

# Who acts, as the audit trail names a change made by a command.
AUDIT_ACTOR = "command line"


def needs_schema(command):
    """Decorate a command so it stops with a one-line reason, not a traceback, when the
    database is unreachable or not migrated."""

    @functools.wraps(command)
    def checked(*args, **kwargs):
        engine = flask_db.engine()
        try:
            schema.require_current(engine)
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            url = engine.url.render_as_string(hide_password=True)
            raise click.ClickException(f"cannot reach the database {url}: {reason}") from None
        except schema.SchemaOutOfDate as exc:
            raise click.ClickException(str(exc)) from None
        return command(*args, **kwargs)

    return checked
