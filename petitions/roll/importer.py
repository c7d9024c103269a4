"""Importing a membership roll: one transaction that either applies the whole file or nothing.

Rows stream from the file into a temporary staging table (COPY on PostgreSQL, batched inserts on
SQLite); checks that need the whole file (a member number given twice, households) and the merge
into ``member`` are then single SQL statements. Python memory stays flat whatever the roll's size.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from sqlalchemy import (
    Column,
    Date,
    Integer,
    MetaData,
    Table,
    Text,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Engine

from petitions.db.engine import utcnow
from petitions.db.models import Member, MemberStatus, RollImport, RollImportNote
from petitions.roll.file import MeteredReader, RollFileError, read_roll

_SQLITE_BATCH = 5000
# Serialises imports on PostgreSQL so two at once cannot interleave their counts or lapses.
_IMPORT_LOCK_KEY = 0x70657469

_staging_metadata = MetaData()
staging = Table(
    "roll_staging",
    _staging_metadata,
    Column("line", Integer, nullable=False),
    Column("member_id", Text, nullable=False),
    Column("email", Text),
    Column("email_key", Text),
    Column("name", Text),
    Column("region", Text),
    Column("status", Text),
    Column("joined_on", Date),
    Column("reason", Text),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)
_COLUMNS = [column.name for column in staging.columns]
member = Member.__table__
roll_import = RollImport.__table__
note = RollImportNote.__table__


@dataclass
class ImportReport:
    """What an import did, or why it was refused; ``import_id`` names its record."""

    import_id: int
    filename: str
    sha256: str
    outcome: str
    refusal: str | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def refused(self) -> bool:
        """True when nothing was applied to the roll."""
        return self.outcome == "refused"


def _load_postgresql(conn: Connection, rows) -> None:
    cursor = conn.connection.driver_connection.cursor()
    with cursor, cursor.copy(f"COPY roll_staging ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _load_sqlite(conn: Connection, rows) -> None:
    cursor = conn.connection.driver_connection.cursor()
    sql = f"INSERT INTO roll_staging VALUES ({', '.join('?' * len(_COLUMNS))})"  # noqa: S608
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == _SQLITE_BATCH:
            cursor.executemany(sql, batch)
            batch.clear()
    cursor.executemany(sql, batch)
    cursor.close()


def _reject_repeated_member_numbers(conn: Connection) -> None:
    # Every row of a repeated member number is rejected, including rows already bad for another
    # reason elsewhere: which of the rows is right is for the roll's keeper to say, not us.
    if conn.dialect.name == "postgresql":
        lines = "string_agg(line::text, ', ' ORDER BY line)"
        source = "roll_staging"
    else:
        lines = "group_concat(line, ', ')"
        source = "(SELECT member_id, line FROM roll_staging ORDER BY member_id, line)"
    # The interpolated parts are the constants chosen just above, never input.
    conn.exec_driver_sql(
        f"""
        UPDATE roll_staging SET reason =
            'member number ' || roll_staging.member_id
            || ' is given more than once in the file (lines ' || repeated.lines || ')'
        FROM (
            SELECT member_id, {lines} AS lines FROM {source}
            WHERE member_id <> '' GROUP BY member_id HAVING count(*) > 1
        ) AS repeated
        WHERE roll_staging.member_id = repeated.member_id AND roll_staging.reason IS NULL
        """  # noqa: S608
    )


def _note_households(conn: Connection, import_id: int) -> tuple[int, int]:
    members = conn.execute(
        text(
            """
        INSERT INTO roll_import_note (import_id, kind, line, member_id, detail)
        SELECT :import_id, 'household', line, member_id,
            'shares its address with ' || (sharing - 1) || ' other member(s) in the file'
        FROM (
            SELECT line, member_id, count(*) OVER (PARTITION BY email_key) AS sharing
            FROM roll_staging WHERE reason IS NULL
        ) AS counted
        WHERE sharing > 1
        """
        ),
        {"import_id": import_id},
        execution_options={"preserve_rowcount": True},
    ).rowcount
    addresses = conn.scalar(
        select(func.count()).select_from(
            select(staging.c.email_key)
            .where(staging.c.reason.is_(None))
            .group_by(staging.c.email_key)
            .having(func.count() > 1)
            .subquery()
        )
    )
    return addresses, members


def _changed(target, source) -> object:
    fields = ("email", "email_key", "name", "region", "status", "joined_on")
    return or_(*(getattr(target.c, name).is_distinct_from(source[name]) for name in fields))


def _merge(conn: Connection, replace: bool) -> dict[str, int]:
    # An UPDATE of the changed rows and a plain INSERT of the new ones, rather than one
    # INSERT ... ON CONFLICT: speculative insertion makes the upsert twice as slow on a big roll,
    # and the import lock means no other writer can add a member number in between.
    valid = staging.c.reason.is_(None)
    now = utcnow()
    fields = ["member_id", "email", "email_key", "name", "region", "status", "joined_on"]
    updated = conn.execute(
        update(member)
        .where(member.c.member_id == staging.c.member_id, valid, _changed(member, staging.c))
        .values({**{name: staging.c[name] for name in fields[1:]}, "updated_at": now})
    ).rowcount
    known = exists().where(member.c.member_id == staging.c.member_id)
    added = conn.execute(
        insert(member).from_select(
            [*fields, "updated_at"],
            select(*(staging.c[name] for name in fields), literal(now, member.c.updated_at.type))
            .where(valid, ~known)
            .order_by(staging.c.member_id),
        ),
        execution_options={"preserve_rowcount": True},
    ).rowcount
    lapsed = 0
    if replace:
        in_file = exists().where(staging.c.member_id == member.c.member_id)
        lapsed = conn.execute(
            update(member)
            .where(member.c.status != MemberStatus.LAPSED, ~in_file)
            .values(status=MemberStatus.LAPSED, updated_at=now)
        ).rowcount
    return {"added": added, "updated": updated, "lapsed": lapsed}


def _record_refusal(
    engine: Engine, filename: str, digest: str, flags: dict, reason: str, on_recorded
) -> ImportReport:
    with engine.begin() as conn:
        import_id = conn.execute(
            insert(roll_import)
            .values(
                filename=filename,
                sha256=digest,
                outcome="refused",
                refusal=reason,
                finished_at=utcnow(),
                **flags,
            )
            .returning(roll_import.c.id)
        ).scalar_one()
        report = ImportReport(import_id, filename, digest, "refused", reason)
        on_recorded(conn, report)
    return report


def import_roll(
    engine: Engine,
    source: BinaryIO,
    filename: str,
    *,
    replace: bool = False,
    strict: bool = False,
    on_progress: Callable[[int], None] | None = None,
    on_phase: Callable[[str], None] | None = None,
    on_recorded: Callable[[Connection, ImportReport], None] | None = None,
) -> ImportReport:
    """Import the roll CSV read from ``source``; every import is recorded, refused or not.

    ``on_progress`` is called with the number of bytes read since the last call, ``on_phase``
    with a word for what the import is doing once the file has been read. ``on_recorded`` is
    called with the connection and the report in the transaction that records the import, just
    before it commits, so that a caller can write its own record of the outcome atomically with
    it (or raise to undo the whole import).
    """
    reader = MeteredReader(source, on_progress)
    flags = {"replace": replace, "strict": strict}
    phase = on_phase or (lambda _name: None)
    recorded = on_recorded or (lambda _conn, _report: None)
    try:
        with engine.begin() as conn:
            report = _apply(conn, reader, filename, flags, phase)
            recorded(conn, report)
            return report
    except RollFileError as exc:
        reader.drain()
        digest = reader.hexdigest()
        return _record_refusal(engine, filename, digest, flags, str(exc), recorded)


def _apply(conn: Connection, reader, filename: str, flags: dict, phase) -> ImportReport:
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_IMPORT_LOCK_KEY})")
    else:
        conn.exec_driver_sql("DROP TABLE IF EXISTS temp.roll_staging")
    import_id = conn.execute(
        insert(roll_import)
        .values(filename=filename, sha256="", **flags)
        .returning(roll_import.c.id)
    ).scalar_one()
    staging.create(conn)
    (_load_postgresql if postgres else _load_sqlite)(conn, read_roll(reader))
    digest = reader.hexdigest()

    phase("checking")
    conn.exec_driver_sql("CREATE INDEX roll_staging_member ON roll_staging (member_id)")
    if postgres:
        conn.exec_driver_sql("ANALYZE roll_staging")
    _reject_repeated_member_numbers(conn)
    rows = conn.scalar(select(func.count()).select_from(staging))
    rejected = conn.scalar(select(func.count()).where(staging.c.reason.is_not(None)))
    conn.execute(
        insert(note).from_select(
            ["import_id", "kind", "line", "member_id", "detail"],
            select(
                literal(import_id),
                literal("rejected"),
                staging.c.line,
                staging.c.member_id,
                staging.c.reason,
            ).where(staging.c.reason.is_not(None)),
        )
    )
    counts = {"rows": rows, "rejected": rejected}
    refusal = None
    if rows == 0:
        refusal = "the file has a header but no members"
    elif flags["strict"] and rejected:
        refusal = f"{rejected} row(s) rejected and --strict given: nothing was imported"
    if refusal is None:
        phase("merging")
        households, household_members = _note_households(conn, import_id)
        counts.update(_merge(conn, flags["replace"]))
        counts["unchanged"] = rows - rejected - counts["added"] - counts["updated"]
        counts["household_addresses"] = households
        counts["household_members"] = household_members
    outcome = "refused" if refusal else "accepted"
    conn.execute(
        update(roll_import)
        .where(roll_import.c.id == import_id)
        .values(sha256=digest, outcome=outcome, refusal=refusal, finished_at=utcnow(), **counts)
    )
    if not postgres:
        conn.exec_driver_sql("DROP TABLE temp.roll_staging")
    return ImportReport(import_id, filename, digest, outcome, refusal, counts)
