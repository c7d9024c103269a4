"""The database engine, sessions and the column types shared by every table."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import DateTime, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC (what every stored time is)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite keeps no zone, so without this a time written aware comes back naive and comparisons
    between stored and current times fail or, worse, silently mix zones.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC time is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _sqlite_connect(dbapi_connection, _record) -> None:
    # Let SQLAlchemy, not the sqlite3 module, say where transactions begin (see _sqlite_begin);
    # otherwise sqlite3 begins them lazily and SAVEPOINTs and transactional DDL misbehave.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL: a long write does not block reads made outside a transaction; the busy timeout makes
    # transactions queue for the write lock instead of failing at once.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


READ_ONLY = "petitions_read_only"


def _sqlite_begin(connection) -> None:
    # IMMEDIATE takes the write lock at the start. A transaction that reads first and writes
    # later cannot wait for the lock (SQLite answers "database is locked" at once to avoid a
    # deadlock), so on the embedded database every transaction queues for the lock up front.
    # A transaction that only reads (see reader()) needs no lock: under WAL it reads a snapshot
    # while a long write (a roll import) goes on.
    if connection.get_execution_options().get(READ_ONLY):
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def insert_on_conflict(session: Session, table):
    """The dialect's INSERT into ``table`` that can say what to do with rows a unique key
    refuses (ON CONFLICT DO NOTHING / DO UPDATE), on PostgreSQL and SQLite alike."""
    dialect = session.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


def reader(engine: Engine) -> Engine:
    """``engine`` for transactions that only read: on SQLite they do not wait for (or take) the
    write lock. Writing in one may fail with "database is locked" at once; only read."""
    return engine.execution_options(**{READ_ONLY: True})


def make_engine(url: str) -> Engine:
    """Create the engine for ``url`` with the per-backend settings the service relies on."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits when the block ends normally and rolls back when it raises."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
