"""The database as the web layer and the commands see it: one engine per app, one session per
request (or command), closed when the app context ends."""

from flask import Flask, current_app, g
from sqlalchemy.engine import Engine
from sqlmodel import Session

from petitions.config import settings_of
from petitions.db.engine import make_engine

_ENGINE = "petitions.engine"


def init_app(app: Flask) -> None:
    """Create the app's engine and close the request's session at teardown."""
    app.extensions[_ENGINE] = make_engine(settings_of(app).database_url)
    app.teardown_appcontext(_close_session)


def engine_of(app: Flask) -> Engine:
    """The engine of ``app``."""
    return app.extensions[_ENGINE]


def engine() -> Engine:
    """The current app's engine."""
    return engine_of(current_app)


def session() -> Session:
    """The session of the current request or command, opened on first use."""
    if "db_session" not in g:
        g.db_session = Session(engine(), expire_on_commit=False)
    return g.db_session


def _close_session(_exc: BaseException | None) -> None:
    db_session = g.pop("db_session", None)
    if db_session is not None:
        db_session.close()
