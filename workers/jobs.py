"""The rq job: one try at one row of outbox work; what it does lives in petitions.jobs."""

from flask import Flask

from petitions.db import flask_db
from petitions.jobs import handlers
from petitions.jobs.dispatch import lease
from petitions.outbox import work

_app: Flask | None = None


def use_app(app: Flask) -> None:
    """Run jobs with ``app`` (the worker command's), instead of making one."""
    global _app
    _app = app


def _current() -> Flask:
    global _app
    if _app is None:
        from app import create_app

        _app = create_app()
    return _app


def run(kind: str, row_id: int, attempts: int) -> bool:
    """Do try ``attempts + 1`` of the ``kind`` row ``row_id``."""
    app = _current()
    with app.app_context():
        item = work.WorkItem(work.WorkKind(kind), row_id, attempts)
        return handlers.perform(flask_db.engine_of(app), app.config, item, lease(app))
