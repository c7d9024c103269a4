"""Running one queued job: the app a worker process does its jobs with, and one try of a row.

rq imports jobs by name (``workers.jobs.run``); that entry point stays thin and calls run_job.
"""

from flask import Flask
from rq import get_current_job

from petitions.config import settings_of
from petitions.db import flask_db
from petitions.jobs import handlers
from petitions.jobs.dispatch import lease, wait_for_slot
from petitions.outbox import work

_app: Flask | None = None


def use_app(app: Flask) -> None:
    """Run jobs with ``app`` (the worker command's), instead of making one."""
    global _app
    _app = app


def _current() -> Flask:
    global _app
    if _app is None:
        # Imported here: a process that only runs jobs builds the app on its first job.
        from app import create_app

        _app = create_app()
    return _app


def run_job(kind: str, row_id: int, attempts: int) -> bool:
    """Do try ``attempts + 1`` of the ``kind`` row ``row_id``; a batch job first waits for its
    slot of time to end (dispatch.wait_for_slot)."""
    job = get_current_job()
    if job is not None:
        wait_for_slot(job.id)
    app = _current()
    with app.app_context():
        item = work.WorkItem(work.WorkKind(kind), row_id, attempts)
        return handlers.perform(flask_db.engine_of(app), settings_of(app), item, lease(app))
