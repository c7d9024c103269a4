"""How far a long job has got, for the page that watches it: kept outside the database.

A roll import is one database transaction, so it cannot write its progress to the database as
it goes (nobody could read it before the commit, and on SQLite the write would wait for the
import's own lock). Progress goes to Redis when ``REDIS_URL`` is set (the worker may run on
another machine than the web process that is asked), and otherwise to this process's memory
(the in-process worker shares the process with the web app). Entries expire on their own, so
a worker that dies mid-job leaves nothing behind for long. Progress is a courtesy: a store that
fails is logged and ignored, never allowed to fail the job.
"""

import json
import logging
import threading
import time
from typing import Protocol

import redis

TTL_SECONDS = 3600
_REDIS_PREFIX = "petitions:progress:"
log = logging.getLogger(__name__)


class ProgressStore(Protocol):
    """Where progress entries (small JSON-able dicts) are kept, by key."""

    def put(self, key: str, value: dict) -> None:
        """Keep ``value`` under ``key`` for TTL_SECONDS from now."""

    def get(self, key: str) -> dict | None:
        """The value under ``key``, or None when there is none (or it cannot be read)."""

    def clear(self, key: str) -> None:
        """Forget ``key``."""


class MemoryProgress:
    """Progress in this process's memory, shared by its threads."""

    def __init__(self, ttl: float = TTL_SECONDS, clock=time.monotonic):
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[str, tuple[float, dict]] = {}
        self._lock = threading.Lock()

    def put(self, key: str, value: dict) -> None:
        """Keep a copy of ``value`` under ``key``; expired entries are dropped on the way."""
        now = self._clock()
        with self._lock:
            for stale in [k for k, (until, _) in self._entries.items() if until <= now]:
                del self._entries[stale]
            self._entries[key] = (now + self._ttl, dict(value))

    def get(self, key: str) -> dict | None:
        """A copy of the live value under ``key``, or None."""
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or entry[0] <= self._clock():
            return None
        return dict(entry[1])

    def clear(self, key: str) -> None:
        """Forget ``key``."""
        with self._lock:
            self._entries.pop(key, None)


class RedisProgress:
    """Progress in Redis, as JSON under a prefixed key with an expiry."""

    def __init__(self, url: str, ttl: int = TTL_SECONDS):
        self._ttl = ttl
        self._redis = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)

    def put(self, key: str, value: dict) -> None:
        """Keep ``value`` under ``key``; a Redis failure is logged, not raised."""
        try:
            self._redis.set(_REDIS_PREFIX + key, json.dumps(value), ex=self._ttl)
        except redis.RedisError as exc:
            log.warning("could not record progress of %s: %s", key, exc)

    def get(self, key: str) -> dict | None:
        """The value under ``key``, or None (also when Redis does not answer)."""
        try:
            raw = self._redis.get(_REDIS_PREFIX + key)
        except redis.RedisError as exc:
            log.warning("could not read progress of %s: %s", key, exc)
            return None
        return None if raw is None else json.loads(raw)

    def clear(self, key: str) -> None:
        """Forget ``key``; a Redis failure is logged (the entry expires anyway)."""
        try:
            self._redis.delete(_REDIS_PREFIX + key)
        except redis.RedisError as exc:
            log.warning("could not clear progress of %s: %s", key, exc)


_memory = MemoryProgress()
_redis_stores: dict[str, RedisProgress] = {}
_stores_lock = threading.Lock()


def store_for(url: str | None) -> ProgressStore:
    """The progress store: Redis at ``url`` (REDIS_URL), else this process's memory.

    One store per Redis URL, so its connection pool is shared by every caller."""
    if not url:
        return _memory
    with _stores_lock:
        if url not in _redis_stores:
            _redis_stores[url] = RedisProgress(url)
        return _redis_stores[url]
