"""Work done once a night by every process that does housekeeping: the privacy purge.

Each process keeps when it last ran; two processes purging the same night do no harm, since
the purge is idempotent and works in short commits.
"""

import logging
import threading
from datetime import datetime, timedelta

from flask import Flask

from petitions.config import settings_of
from petitions.db import flask_db
from petitions.privacy import purge

# The hour (UTC) the purge runs in: a quiet one for a service used by day.
PURGE_HOUR = 3
# At most one run per process in this long, so a run that ends within its hour is not repeated.
MIN_GAP = timedelta(hours=20)
# Each housekeeping round purges for at most this long, so that counting signatures, signing
# heads and closing petitions never wait long behind a large backlog; the next rounds go on.
ROUND_SECONDS = 2.0
log = logging.getLogger(__name__)


class NightlyPurge:
    """Runs the purge in PURGE_HOUR, a bounded piece per housekeeping round, until it has
    purged everything due; then not again that night in this process."""

    def __init__(self) -> None:
        self.last_run: datetime | None = None
        self.purged = 0
        self._lock = threading.Lock()

    def due(self, now: datetime) -> bool:
        """True when ``now`` is in the purge's hour and this process has not finished it
        tonight."""
        if now.hour != PURGE_HOUR:
            return False
        return self.last_run is None or now - self.last_run >= MIN_GAP

    def run_if_due(self, app: Flask, now: datetime) -> purge.PurgeReport | None:
        """Purge for at most ROUND_SECONDS if it is time; the round's report, or None when it
        was not time (or another thread of this process is purging)."""
        if not self.due(now) or not self._lock.acquire(blocking=False):
            return None
        try:
            report = purge.purge(
                flask_db.engine_of(app), settings_of(app), now, time_limit=ROUND_SECONDS
            )
            self.purged += report.total
            if report.finished:
                self.last_run = now
                log.info("nightly privacy purge done: %d rows in all", self.purged)
                self.purged = 0
            if report.total:
                log.info("nightly privacy purge: %s", purge.summary(report))
            return report
        finally:
            self._lock.release()


_NIGHTLY = "petitions.nightly_purge"


def nightly_of(app: Flask) -> NightlyPurge:
    """The app's nightly purge, made on first use."""
    return app.extensions.setdefault(_NIGHTLY, NightlyPurge())
