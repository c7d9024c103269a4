"""Reading roll imports back: the history (from the command line and the browser alike), one
import's report page by page, and the whole report as CSV."""

import io
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import func, select, tuple_
from sqlalchemy.engine import Engine
from sqlalchemy.orm import defer
from sqlmodel import Session

from petitions.db.models import RollImport, RollImportNote, RollUpload
from petitions.spreadsheet import SafeWriter

CSV_COLUMNS = ("line", "member_id", "kind", "detail")
_CSV_CHUNK = 5000
COMMAND_LINE = "command line"


@dataclass
class HistoryEntry:
    """One import, and the upload it came from (None for the command line)."""

    record: RollImport
    upload_id: int | None
    uploaded_by: str | None

    @property
    def source(self) -> str:
        """Who started it: the uploader's address, or the command line."""
        return self.uploaded_by or COMMAND_LINE


def history(session: Session, page: int = 1, per_page: int = 50) -> tuple[list[HistoryEntry], bool]:
    """Imports newest first, a page at a time; and whether there are older ones."""
    query = (
        select(RollImport, RollUpload.id, RollUpload.uploaded_by)
        .outerjoin(RollUpload, RollUpload.import_id == RollImport.id)
        .order_by(RollImport.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page + 1)
    )
    rows = [HistoryEntry(*row) for row in session.execute(query)]
    return rows[:per_page], len(rows) > per_page


def unfinished_uploads(session: Session, limit: int = 20) -> list[RollUpload]:
    """Uploads with no import to show: waiting, running, or given up on; newest first."""
    query = (
        select(RollUpload)
        .where(RollUpload.import_id.is_(None))
        .options(defer(RollUpload.data))
        .order_by(RollUpload.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def find_import(session: Session, import_id: int) -> HistoryEntry | None:
    """Import ``import_id`` and its upload, or None."""
    query = (
        select(RollImport, RollUpload.id, RollUpload.uploaded_by)
        .outerjoin(RollUpload, RollUpload.import_id == RollImport.id)
        .where(RollImport.id == import_id)
    )
    row = session.execute(query).first()
    return HistoryEntry(*row) if row else None


def notes(
    session: Session, import_id: int, kind: str, page: int = 1, per_page: int = 100
) -> tuple[list[RollImportNote], int]:
    """One page of an import's notes of ``kind`` in line order, and how many there are."""
    where = (RollImportNote.import_id == import_id, RollImportNote.kind == kind)
    total = session.scalar(select(func.count()).select_from(RollImportNote).where(*where))
    query = (
        select(RollImportNote)
        .where(*where)
        .order_by(RollImportNote.line, RollImportNote.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return list(session.scalars(query)), total


def _csv_text(rows) -> str:
    buffer = io.StringIO()
    SafeWriter(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


def report_csv(engine: Engine, record: RollImport) -> Iterator[str]:
    """The import's report as CSV text (line, member_id, kind, detail), in chunks: a refusal
    first, then every note in line order. Each chunk is read in a short transaction of its own,
    so a long download holds no lock."""
    yield _csv_text([CSV_COLUMNS])
    if record.refusal:
        yield _csv_text([("", "", "refused", record.refusal)])
    after = (-1, -1)
    while True:
        query = (
            select(
                RollImportNote.line,
                RollImportNote.id,
                RollImportNote.member_number,
                RollImportNote.kind,
                RollImportNote.detail,
            )
            .where(
                RollImportNote.import_id == record.id,
                tuple_(RollImportNote.line, RollImportNote.id) > tuple_(*after),
            )
            .order_by(RollImportNote.line, RollImportNote.id)
            .limit(_CSV_CHUNK)
        )
        with Session(engine) as session:
            rows = session.execute(query).all()
        if not rows:
            return
        yield _csv_text(
            (line, member_id, kind, detail) for line, _id, member_id, kind, detail in rows
        )
        after = (rows[-1].line, rows[-1].id)
