"""The rq job: one try at one row of outbox work. Everything it does lives in petitions.work."""

from flask import Flask

from petitions import webdb, work
from workers.dispatch import lease

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
        item = work.WorkItem(kind, row_id, attempts)
        return work.perform(webdb.engine_of(app), app.config, item, lease(app))
