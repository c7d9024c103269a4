"""The membership roll in the browser (organisers only): upload a CSV export, watch the import
run, read its report (and download it as CSV), and see every import so far."""

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlmodel import Session
from werkzeug.datastructures import CombinedMultiDict
from werkzeug.exceptions import RequestEntityTooLarge

from petitions import audit
from petitions.config import FORM_OVERHEAD, settings_of
from petitions.db import flask_db
from petitions.db.engine import reader
from petitions.roll import reports
from petitions.roll import uploads as roll_uploads
from petitions.web import auth, whole_numbers
from petitions.web.errors import json_error
from petitions.web.forms import RollUploadForm

bp = Blueprint("roll", __name__)

HISTORY_PER_PAGE = 50
NOTES_PER_PAGE = 100
HOUSEHOLD_EXAMPLES = 20


def max_upload_bytes() -> int:
    """The largest roll file accepted in the browser (ROLL_UPLOAD_MAX_BYTES)."""
    return settings_of(current_app).roll_upload_max_bytes


def _too_large_message() -> str:
    limit = roll_uploads.human_bytes(max_upload_bytes())
    return (
        f"The file is larger than the {limit} a browser upload may be. Split it, or import it "
        "on the server with: flask --app app roll import FILE.csv"
    )


@bp.before_app_request
def _limit_upload_size():
    # Before CSRFProtect reads the form (an app-wide hook registered after this one), so that
    # an oversized body is refused before it is read, not after it has been spooled to disk.
    if request.endpoint != "roll.upload":
        return
    request.max_content_length = max_upload_bytes() + FORM_OVERHEAD
    if request.content_length is not None and request.content_length > request.max_content_length:
        raise RequestEntityTooLarge(description=_too_large_message())


def _page_number() -> int:
    return whole_numbers.parse(request.args.get("page"), 1_000_000) or 1


def _index_page(error: str | None = None, status: int = 200):
    page = _page_number()
    session = flask_db.session()
    entries, older = reports.history(session, page, HISTORY_PER_PAGE)
    unfinished = [
        roll_uploads.status_of(upload, settings_of(current_app))
        for upload in reports.unfinished_uploads(session)
    ]
    body = render_template(
        "roll/index.html",
        section="roll",
        error=error,
        entries=entries,
        unfinished=unfinished,
        page=page,
        older=older,
        max_bytes=max_upload_bytes(),
        max_size=roll_uploads.human_bytes(max_upload_bytes()),
    )
    return body, status


@bp.get("/organiser/roll")
@auth.require_role(*auth.ORGANISERS)
def index():
    """The upload form, uploads still running, and every import, newest first."""
    return _index_page()


@bp.post("/organiser/roll/uploads")
@auth.require_role(*auth.ORGANISERS)
def upload():
    """Keep the uploaded file and hand it to a worker; then watch it on its own page."""
    try:
        form = RollUploadForm(CombinedMultiDict((request.files, request.form)))
    except RequestEntityTooLarge:
        return _index_page(_too_large_message(), 413)
    if not form.validate():
        return _index_page(form.file.errors[0], 400)
    sent = form.file.data
    limit = max_upload_bytes()
    data = sent.read(limit + 1)
    if len(data) > limit:
        return _index_page(_too_large_message(), 413)
    if not data:
        return _index_page(f"The file {sent.filename} is empty: nothing to import.", 400)
    session = flask_db.session()
    created = roll_uploads.create_upload(
        session,
        sent.filename,
        data,
        replace=form.replace.data,
        strict=form.strict.data,
        uploaded_by=auth.actor(),
    )
    audit.record(session, auth.actor(), "roll.upload", None, created.filename)
    session.commit()
    return redirect(url_for("roll.show_upload", upload_id=created.id), 303)


def _status(upload_id: int) -> roll_uploads.UploadStatus | None:
    # Only reads, so on SQLite it is answered while the import itself holds the write lock.
    with Session(reader(flask_db.engine()), expire_on_commit=False) as session:
        return roll_uploads.upload_status(session, settings_of(current_app), upload_id)


def _status_or_404(upload_id: int) -> roll_uploads.UploadStatus:
    status = _status(upload_id)
    if status is None:
        abort(404, description="There is no such roll upload.")
    return status


@bp.get("/organiser/roll/uploads/<int:upload_id>")
@auth.require_role(*auth.ORGANISERS)
def show_upload(upload_id: int):
    """The upload's progress while it runs; its report once it has one."""
    status = _status_or_404(upload_id)
    if status.upload.import_id is not None:
        return redirect(url_for("roll.report", import_id=status.upload.import_id))
    return render_template(
        "roll/upload.html",
        section="roll",
        status=status,
        upload=status.upload,
        size=roll_uploads.human_bytes(status.upload.size),
    )


@bp.get("/organiser/roll/uploads/<int:upload_id>/progress")
@auth.require_role(*auth.ORGANISERS)
def upload_progress(upload_id: int):
    """Where the upload has got to, as JSON, for the progress page's script."""
    status = _status(upload_id)
    if status is None:
        return json_error(404, "not_found", f"there is no roll upload #{upload_id}")
    upload = status.upload
    return jsonify(
        state=status.state,
        phase=status.phase,
        bytes_read=status.bytes_read,
        total_bytes=status.total_bytes,
        percent=status.percent,
        outcome=upload.outcome,
        attempts=upload.attempts,
        last_error=upload.last_error,
        message=status.message,
        import_id=upload.import_id,
        report_url=(
            url_for("roll.report", import_id=upload.import_id) if upload.import_id else None
        ),
        page_url=url_for("roll.show_upload", upload_id=upload.id),
    )


def _import_or_404(session, import_id: int) -> reports.HistoryEntry:
    entry = reports.find_import(session, import_id)
    if entry is None:
        abort(404, description=f"There is no roll import #{import_id}.")
    return entry


@bp.get("/organiser/roll/imports/<int:import_id>")
@auth.require_role(*auth.ORGANISERS)
def report(import_id: int):
    """An import's report: its counts, or why it was refused; the rejected rows, paged."""
    session = flask_db.session()
    entry = _import_or_404(session, import_id)
    pages = max(1, -(-entry.record.rejected // NOTES_PER_PAGE))
    page = min(_page_number(), pages)
    rejected, rejected_total = reports.notes(session, import_id, "rejected", page, NOTES_PER_PAGE)
    households, households_total = reports.notes(
        session, import_id, "household", 1, HOUSEHOLD_EXAMPLES
    )
    return render_template(
        "roll/report.html",
        section="roll",
        entry=entry,
        record=entry.record,
        rejected=rejected,
        rejected_total=rejected_total,
        households=households,
        households_total=households_total,
        page=page,
        pages=pages,
        first_line=(page - 1) * NOTES_PER_PAGE + 1,
    )


@bp.get("/organiser/roll/imports/<int:import_id>/report.csv")
@auth.require_role(*auth.ORGANISERS)
def report_csv(import_id: int):
    """The whole report as CSV: line, member_id, kind, detail."""
    # A short session of its own: the download is streamed after this view returns, reading
    # in short transactions, and must not find the request's session holding one open.
    with Session(flask_db.engine(), expire_on_commit=False) as session:
        record = _import_or_404(session, import_id).record
    rows = reports.report_csv(flask_db.engine(), record)
    return Response(
        rows,
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="roll-import-{import_id}-report.csv"'
        },
    )
