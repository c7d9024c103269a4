"""Whether links are arriving slowly, for the petition page, the check-your-inbox page and the
API: the mail backlog (petitions.outbox.backlog) measured at most once per BACKLOG_TTL per
process, however many people look; and spans of time put in words, for members (about) and
for organisers (duration)."""

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


def duration(seconds: int | None) -> str:
    """``seconds`` for organisers, to the second under an hour: "45 s", "4 min 12 s", "2 min",
    "2 h 5 min", "3 d 4 h" (each number and its unit joined by a no-break space); an empty
    string for None."""
    if seconds is None:
        return ""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    units = [(days, "d"), (hours, "h"), (minutes, "min"), (secs, "s")]
    # The two largest units from the first that is not zero, leaving out a trailing zero.
    first = next((index for index, (amount, _) in enumerate(units) if amount), len(units) - 1)
    # A no-break space keeps each number with its unit when a narrow column wraps.
    shown = [f"{amount}\u00a0{unit}" for amount, unit in units[first : first + 2] if amount]
    return " ".join(shown) or "0\u00a0s"
