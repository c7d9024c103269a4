"""A roll file uploaded in the browser: kept in the database, imported by a worker with the same
engine as ``flask roll import``, its progress published while it runs.

The upload row (outbox work of kind ``roll_upload``) is marked done in the import's own
transaction, so a file is imported at most once even if its job runs twice. A refused file is
an outcome like any other; an unexpected error is retried, up to MAX_ATTEMPTS tries.
"""

import functools
import io
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import PureWindowsPath

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import defer
from sqlmodel import Session

from petitions.config import Settings
from petitions.db.engine import utcnow
from petitions.db.models import RollUpload
from petitions.outbox import progress
from petitions.roll.importer import ImportReport, import_roll

MAX_ATTEMPTS = 8
# A big roll takes a while: the try keeps its row this long, so that the relay does not offer
# the same file to a second worker meanwhile (which would only wait for the import lock and
# then find the work done).
IMPORT_LEASE = timedelta(minutes=15)
# At most this often is progress written while the file is read.
PROGRESS_EVERY_SECONDS = 0.5
PHASES = {
    "reading": "Reading the file",
    "checking": "Checking the rows",
    "merging": "Applying the changes to the roll",
}
upload_table = RollUpload.__table__
log = logging.getLogger(__name__)


class _AlreadyDone(Exception):
    """Another try of the same upload finished first: this one must change nothing."""


def progress_key(upload_id: int) -> str:
    """The progress store's key for upload ``upload_id``."""
    return f"roll_upload:{upload_id}"


def clean_filename(name: str | None) -> str:
    """The file's own name as the browser gave it, without any folder, at most 500 characters."""
    # Some browsers send the whole Windows path; PureWindowsPath splits on / and \ alike.
    base = PureWindowsPath((name or "").strip()).name.strip()
    return base[:500] or "upload.csv"


def create_upload(
    session: Session, filename: str, data: bytes, *, replace: bool, strict: bool, uploaded_by: str
) -> RollUpload:
    """Add the upload of ``data`` to ``session``: the worker imports it once the caller commits."""
    upload = RollUpload(
        filename=clean_filename(filename),
        data=data,
        size=len(data),
        replace=replace,
        strict=strict,
        uploaded_by=uploaded_by,
    )
    session.add(upload)
    return upload


class _Reporter:
    """Publishes how much of the file has been read, and the import's phase."""

    def __init__(self, store: progress.ProgressStore, key: str, total: int, clock=None):
        self._store = store
        self._key = key
        self._clock = clock or (lambda: utcnow().timestamp())
        self._state = {"phase": "reading", "bytes_read": 0, "total_bytes": total}
        self._written_at = 0.0

    def _write(self) -> None:
        self._written_at = self._clock()
        self._store.put(self._key, {**self._state, "updated_at": self._written_at})

    def start(self) -> None:
        """Say that reading has begun."""
        self._write()

    def read(self, size: int) -> None:
        """Count ``size`` more bytes read; publish now and then, and at the end of the file."""
        self._state["bytes_read"] += size
        at_end = self._state["bytes_read"] >= self._state["total_bytes"]
        if at_end or self._clock() - self._written_at >= PROGRESS_EVERY_SECONDS:
            self._write()

    def phase(self, name: str) -> None:
        """Publish the import's new phase at once."""
        self._state["phase"] = name
        self._write()

    def clear(self) -> None:
        """Remove the entry: the row in the database says what happened from now on."""
        self._store.clear(self._key)


def _record_outcome(conn: Connection, report: ImportReport, *, upload_id: int) -> None:
    # Runs inside the import's transaction: the import and the upload's "done" commit together.
    query = select(upload_table.c.done_at).where(upload_table.c.id == upload_id).with_for_update()
    if conn.execute(query).scalar_one() is not None:
        raise _AlreadyDone
    conn.execute(
        update(upload_table)
        .where(upload_table.c.id == upload_id)
        .values(
            import_id=report.import_id,
            outcome=report.outcome,
            done_at=utcnow(),
            leased_until=None,
            last_error=None,
        )
    )


def _give_up(engine: Engine, upload_id: int, error: str) -> None:
    with Session(engine) as session, session.begin():
        row = session.get(RollUpload, upload_id, options=[defer(RollUpload.data)])
        if row is not None and row.done_at is None:
            row.outcome = "failed"
            row.last_error = error[:2000]
            row.done_at = utcnow()
            row.leased_until = None


def run_upload(engine: Engine, settings: Settings, upload_id: int) -> None:
    """Import the uploaded file ``upload_id`` (outbox work of kind ``roll_upload``), exactly as
    ``flask roll import`` would, and record the import and its outcome on the upload."""
    with Session(engine) as session, session.begin():
        row = session.get(RollUpload, upload_id)
        if row is None or row.done_at is not None:
            return
        attempts = row.attempts
        if attempts <= MAX_ATTEMPTS:
            lease = timedelta(seconds=settings.work_lease_seconds)
            row.leased_until = utcnow() + max(lease, IMPORT_LEASE)
        filename, data, replace, strict = row.filename, row.data, row.replace, row.strict
    if attempts > MAX_ATTEMPTS:
        # Tries that never came back (a worker killed each time) count too.
        _give_up(engine, upload_id, f"gave up after {MAX_ATTEMPTS} tries")
        return
    reporter = _Reporter(progress.store_for(settings.redis_url), progress_key(upload_id), len(data))
    reporter.start()
    try:
        import_roll(
            engine,
            io.BytesIO(data),
            filename,
            replace=replace,
            strict=strict,
            on_progress=reporter.read,
            on_phase=reporter.phase,
            on_recorded=functools.partial(_record_outcome, upload_id=upload_id),
        )
    except _AlreadyDone:
        log.info("roll upload %d was imported by another try; this one changed nothing", upload_id)
    except Exception as exc:
        if attempts < MAX_ATTEMPTS:
            raise
        log.exception("roll upload %d failed on its last try", upload_id)
        _give_up(engine, upload_id, f"{type(exc).__name__}: {exc}")
    finally:
        reporter.clear()


@dataclass
class UploadStatus:
    """Where an upload has got to, as its page and its progress endpoint show it."""

    upload: RollUpload
    state: str
    phase: str | None = None
    bytes_read: int | None = None
    total_bytes: int | None = None

    @property
    def percent(self) -> int | None:
        """How much of the file has been read, while it is being read."""
        if self.phase != "reading" or not self.total_bytes or self.bytes_read is None:
            return None
        return min(100, self.bytes_read * 100 // self.total_bytes)

    @property
    def retry_at(self) -> datetime | None:
        """When a failed try will be tried again, while waiting for it."""
        upload = self.upload
        if self.state == "queued" and upload.last_error and upload.attempts:
            return upload.next_attempt_at
        return None

    @property
    def message(self) -> str:
        """One sentence for people: what is happening now."""
        upload = self.upload
        if self.state == "done":
            if upload.outcome == "failed":
                return f"The import failed and nothing was imported: {upload.last_error}"
            if upload.outcome == "refused":
                return "The file was refused: nothing was imported."
            return "The import is finished."
        if self.state == "queued":
            if self.retry_at is not None:
                return (
                    f"Try {upload.attempts} failed ({upload.last_error}); it will be tried "
                    f"again at {self.retry_at:%H:%M:%S} UTC."
                )
            return "Waiting for a worker to start the import."
        if self.phase is None:
            return "Starting the import."
        if self.phase == "reading":
            return (
                f"{PHASES['reading']}: {self.percent}% "
                f"({human_bytes(self.bytes_read)} of {human_bytes(self.total_bytes)})."
            )
        return PHASES.get(self.phase, self.phase.capitalize()) + "."


def human_bytes(size: int | None) -> str:
    """``size`` bytes for people: 512 bytes, 1.5 KB, 64.0 MB."""
    size = size or 0
    if size < 1024:
        return f"{size} byte{'' if size == 1 else 's'}"
    for unit in ("KB", "MB", "GB"):
        size /= 1024
        if size < 1024 or unit == "GB":
            break
    return f"{size:.1f} {unit}"


def find_upload(session: Session, upload_id: int) -> RollUpload | None:
    """The upload ``upload_id`` without its file's bytes, or None."""
    query = select(RollUpload).where(RollUpload.id == upload_id).options(defer(RollUpload.data))
    return session.scalars(query).first()


def upload_status(session: Session, settings: Settings, upload_id: int) -> UploadStatus | None:
    """Where upload ``upload_id`` has got to: queued, running (with the progress published by
    its worker) or done; None when there is no such upload."""
    upload = find_upload(session, upload_id)
    return None if upload is None else status_of(upload, settings)


def status_of(upload: RollUpload, settings: Settings) -> UploadStatus:
    """Where ``upload`` has got to (see upload_status)."""
    if upload.done_at is not None:
        return UploadStatus(upload, "done")
    if upload.leased_until is None or upload.leased_until <= utcnow():
        return UploadStatus(upload, "queued")
    published = progress.store_for(settings.redis_url).get(progress_key(upload.id)) or {}
    return UploadStatus(
        upload,
        "running",
        phase=published.get("phase"),
        bytes_read=published.get("bytes_read"),
        total_bytes=published.get("total_bytes", upload.size),
    )
