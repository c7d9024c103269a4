"""Whether links are arriving slowly, for the petition page, the check-your-inbox page and the
API: the mail backlog (petitions.outbox.backlog) measured at most once per BACKLOG_TTL per
process, however many people look, and its delay put in words."""

import logging

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.engine import reader
from petitions.outbox import backlog
from petitions.web import live_count as live

BACKLOG_TTL = 5.0
_EXTENSION = "petitions.outbox.backlog"
_KEY = "all"
log = logging.getLogger(__name__)


def _cache(app: Flask) -> live.TTLCache:
    """The backlog, per process. Settings.mail_backlog_ttl overrides BACKLOG_TTL."""

    def make() -> live.TTLCache:
        # Only reads: on SQLite the pages are answered while a long write goes on.
        engine = reader(flask_db.engine_of(app))

        def load(_key: str) -> backlog.Backlog:
            with Session(engine) as session:
                return backlog.measure(session)

        chosen = settings_of(app).mail_backlog_ttl
        return live.TTLCache(load, BACKLOG_TTL if chosen is None else chosen)

    return live.cache_of(app, _EXTENSION, make)


def slow(app: Flask) -> backlog.Backlog | None:
    """The backlog when links are arriving slowly (its delay is MAIL_SLOW_AFTER_SECONDS or
    more), else None. A backlog that cannot be measured says nothing rather than fail the page
    or, worse, the answer to a request to sign that is already taken."""
    try:
        measured = _cache(app).get(_KEY)
    except SQLAlchemyError:
        log.warning("could not measure the mail backlog", exc_info=True)
        return None
    if measured.slow_delay(settings_of(app).mail_slow_after_seconds) is None:
        return None
    return measured


def about(seconds: int) -> str:
    """``seconds`` in words, rounded as people say it: "about 4 minutes", "about 2 hours"."""
    minutes = seconds / 60
    if minutes < 1:
        return "less than a minute"
    if minutes < 1.5:
        return "about a minute"
    if minutes < 90:
        return f"about {round(minutes)} minutes"
    hours = minutes / 60
    if hours < 36:
        return f"about {round(hours)} hours"
    return f"about {round(hours / 24)} days"
