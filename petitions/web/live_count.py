"""The live count that open petition pages and dashboards poll every second, kept cheap.

A read costs one indexed SELECT of the petition's maintained counter (never a count of its
signatures), and each web process keeps the answer for ``COUNT_TTL`` seconds: however many
people watch, a process asks the database about once per TTL per petition. While one thread
refreshes an entry, the others answer from the previous value instead of queueing behind it.

Freshness: a confirmation committed at time t is in every answer from t + COUNT_TTL (plus the
refresh's own query) on; a page polling once a second shows it by t + COUNT_TTL + 1 s.
"""

import json
import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.engine import reader
from petitions.db.models import Petition, PetitionState
from petitions.lifecycle import rules

COUNT_TTL = 0.5
MAX_ENTRIES = 2048
_EXTENSION = "petitions.web.live_count"
_create_lock = threading.Lock()
log = logging.getLogger(__name__)


class _Slot:
    """One key's cached value, when it stops being fresh, and the lock its refresh takes."""

    __slots__ = ("expires", "has_value", "lock", "value")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.has_value = False
        self.value: Any = None
        self.expires = 0.0


class TTLCache:
    """A thread-safe per-process cache: ``load(key)`` at most once per ``ttl`` seconds per key.

    While a key is being refreshed, other threads get the previous value (if there is one)
    rather than waiting; a key seen for the first time waits for its one load. When loading
    fails and a previous value exists, that value is served and the error logged: a database
    blip must not turn every open page's poll into an error. At most ``max_entries`` keys are
    kept (the least recently stored go first), so unknown keys cannot grow it without bound.

    With ``cost_factor``, a value that took s seconds to load is kept for at least
    ``cost_factor * s`` seconds: however big the data behind it grows, reloading it takes at
    most 1/cost_factor of one thread's time.
    """

    def __init__(
        self,
        load: Callable[[Hashable], Any],
        ttl: float,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
        cost_factor: float = 0.0,
    ):
        self._load = load
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self.cost_factor = cost_factor
        self._slots: dict[Hashable, _Slot] = {}
        self._guard = threading.Lock()

    def get(self, key: Hashable) -> Any:
        """The value for ``key``, loaded at most ``ttl`` seconds ago (or being refreshed)."""
        slot = self._slots.get(key) or self._slot(key)
        if slot.has_value and slot.expires > self._clock():
            return slot.value
        if not slot.lock.acquire(blocking=not slot.has_value):
            return slot.value  # another thread is refreshing it right now
        try:
            if slot.has_value and slot.expires > self._clock():
                return slot.value
            began = self._clock()
            try:
                value = self._load(key)
            except SQLAlchemyError:
                if not slot.has_value:
                    raise
                log.warning("live read of %r failed; serving the previous value", key)
                return slot.value
            loaded = self._clock()
            slot.value, slot.has_value = value, True
            slot.expires = loaded + max(self.ttl, self.cost_factor * (loaded - began))
            return value
        finally:
            slot.lock.release()

    def forget(self, key: Hashable) -> None:
        """Drop ``key`` so that the next read loads it afresh (after a change made here)."""
        with self._guard:
            self._slots.pop(key, None)

    def _slot(self, key: Hashable) -> _Slot:
        with self._guard:
            slot = self._slots.get(key)
            if slot is None:
                if len(self._slots) >= self.max_entries:
                    # Dicts keep insertion order: drop the oldest half in one go.
                    for old in list(self._slots)[: self.max_entries // 2]:
                        del self._slots[old]
                slot = self._slots[key] = _Slot()
            return slot


@dataclass(frozen=True)
class LiveCount:
    """A published petition's count as polled: what GET /api/v1/petitions/<slug>/count says."""

    slug: str
    count: int
    threshold: int | None
    state: PetitionState
    reached_at: datetime | None
    log_size: int
    body: bytes


def _body(slug: str, count: int, threshold, state: str, reached_at, log_size: int) -> bytes:
    return json.dumps(
        {
            "slug": slug,
            "count": count,
            "threshold": threshold,
            "state": state,
            "reached_at": rules.iso_utc(reached_at),
            "log_size": log_size,
        },
        separators=(",", ":"),
    ).encode()


def load_count(engine: Engine, slug: str) -> LiveCount | None:
    """Read ``slug``'s counter with one query on the unique slug index; None when there is no
    such petition or it is a draft (drafts are not published)."""
    query = select(
        Petition.slug,
        Petition.state,
        Petition.signature_count,
        Petition.threshold,
        Petition.closes_at,
        Petition.reached_at,
        Petition.log_size,
    ).where(Petition.slug == slug)
    with engine.connect() as connection:
        row = connection.execute(query).first()
    if row is None or row.state == PetitionState.DRAFT:
        return None
    # The state a reader sees: past its closing time a petition is closed, written down or not.
    state = rules.effective_state(row)
    return LiveCount(
        slug=row.slug,
        count=row.signature_count,
        threshold=row.threshold,
        state=state,
        reached_at=row.reached_at,
        log_size=row.log_size,
        body=_body(
            row.slug, row.signature_count, row.threshold, state, row.reached_at, row.log_size
        ),
    )


def cache_of(app: Flask, name: str, make: Callable[[], TTLCache]) -> TTLCache:
    """``app``'s cache called ``name`` (one per process), made by ``make()`` on first use."""
    cache = app.extensions.get(name)
    if cache is None:
        with _create_lock:
            cache = app.extensions.get(name)
            if cache is None:
                cache = app.extensions[name] = make()
    return cache


def counts_of(app: Flask) -> TTLCache:
    """The app's live-count cache. Settings.live_count_ttl overrides COUNT_TTL."""

    def make() -> TTLCache:
        # Only reads: on SQLite the count is answered while a long write goes on.
        engine = reader(flask_db.engine_of(app))
        chosen = settings_of(app).live_count_ttl
        ttl = COUNT_TTL if chosen is None else chosen
        return TTLCache(lambda slug: load_count(engine, slug), ttl)

    return cache_of(app, _EXTENSION, make)


def read(app: Flask, slug: str) -> LiveCount | None:
    """``slug``'s live count, at most ``COUNT_TTL`` seconds old; None for an unknown or draft
    petition (or a slug that cannot be one, which costs no query)."""
    if not isinstance(slug, str) or not rules.SLUG_PATTERN.fullmatch(slug):
        return None
    return counts_of(app).get(slug)
