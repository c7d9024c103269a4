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
log = logging.getLogger(__name__)


class NightlyPurge:
    """Runs the purge in PURGE_HOUR, once a night per process."""

    def __init__(self) -> None:
        self.last_run: datetime | None = None
        self._lock = threading.Lock()

    def due(self, now: datetime) -> bool:
        """True when ``now`` is in the purge's hour and this process has not run it tonight."""
        if now.hour != PURGE_HOUR:
            return False
        return self.last_run is None or now - self.last_run >= MIN_GAP

    def run_if_due(self, app: Flask, now: datetime) -> purge.PurgeReport | None:
        """Purge what is due if it is time; return the report, or None when it was not time."""
        with self._lock:
            if not self.due(now):
                return None
            self.last_run = now
        report = purge.purge(flask_db.engine_of(app), settings_of(app), now)
        log.info("nightly privacy purge: %s", purge.summary(report))
        return report


_NIGHTLY = "petitions.nightly_purge"


def nightly_of(app: Flask) -> NightlyPurge:
    """The app's nightly purge, made on first use."""
    return app.extensions.setdefault(_NIGHTLY, NightlyPurge())
