"""The privacy page, and members seeing what is held about them: asking by address, the mailed
link's page, the export as a page and as JSON, and an organiser's export for a request by post."""

import json

from flask import Blueprint, Response, current_app, render_template, request
from sqlmodel import Session
from wtforms import HiddenField, StringField

from petitions.config import settings_of
from petitions.db import flask_db
from petitions.privacy import export, links, notice
from petitions.roll.addresses import InvalidAddress
from petitions.web import auth
from petitions.web.forms import Form, address_message

bp = Blueprint("privacy", __name__)


class ExportRequestForm(Form):
    """Asking for what is held about an address."""

    email = StringField(default="", filters=[str.strip])


class PostalExportForm(Form):
    """An organiser making the export for a request by post: the address, and the letter's
    reference for the audit trail."""

    email = StringField(default="", filters=[str.strip])
    reference = StringField(default="", filters=[str.strip])


class DownloadForm(Form):
    """The opened page's JSON download: its token."""

    token = HiddenField(default="")


def _hours() -> int:
    return max(1, settings_of(current_app).privacy_export_link_max_age // 3600)


def _privacy_page(error: str | None = None, email: str = "", status: int = 200):
    page = render_template(
        "privacy/privacy.html",
        retention=notice.retention(settings_of(current_app)),
        hours=_hours(),
        error=error,
        email=email,
    )
    return page, status


@bp.get("/privacy")
def page():
    """What is collected, why, for how long, who sees it, and each right."""
    return _privacy_page()


@bp.post("/privacy/export")
def request_export():
    """Ask for what is held about an address; the answer is the same whatever is held."""
    form = ExportRequestForm(request.form)
    email = form.email.data or ""
    with Session(flask_db.engine()) as db:
        try:
            links.request_export(db, email)
        except InvalidAddress:
            return _privacy_page(address_message(email), email, 400)
        db.commit()
    return render_template("privacy/sent.html", hours=_hours())


def _refused(exc: links.ExportLinkInvalid):
    status = 400 if exc.reason == "forged" else 410
    return render_template("privacy/invalid.html", reason=exc.reason, used_at=exc.used_at), status


@bp.get("/privacy/export/<token>")
def link(token: str):
    """The page a mailed link opens: a button, because mail scanners follow links."""
    with Session(flask_db.engine()) as db:
        try:
            links.check_link(db, settings_of(current_app), token)
        except links.ExportLinkInvalid as exc:
            return _refused(exc)
    return render_template("privacy/link.html", token=token)


@bp.post("/privacy/export/<token>")
def open_export(token: str):
    """Spend the link and show the export, with its JSON download."""
    settings = settings_of(current_app)
    with Session(flask_db.engine()) as db:
        try:
            opened = links.open_link(db, settings, token)
        except links.ExportLinkInvalid as exc:
            db.rollback()
            return _refused(exc)
        db.commit()
    return render_template(
        "privacy/export.html",
        data=opened.data,
        sections=export.SECTIONS,
        download_token=links.download_token(settings, opened.export_id),
        download_minutes=links.DOWNLOAD_MAX_AGE // 60,
    )


def _json_download(data: dict) -> Response:
    body = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True)
    response = Response(body + "\n", mimetype="application/json")
    response.headers["Content-Disposition"] = 'attachment; filename="my-data.json"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/privacy/export/download")
def download():
    """The opened export as a JSON file, from the button on its page."""
    form = DownloadForm(request.form)
    try:
        export_id = links.read_download_token(settings_of(current_app), form.token.data or "")
    except links.ExportLinkInvalid as exc:
        return _refused(exc)
    with Session(flask_db.engine()) as db:
        data = links.reopen(db, export_id)
    if data is None:
        return _refused(links.ExportLinkInvalid("forged"))
    return _json_download(data)


@bp.route("/organiser/privacy/export", methods=["GET", "POST"])
@auth.require_role(*auth.ORGANISERS)
def postal_export():
    """An organiser makes the export for a request that came by post (recorded)."""
    form = PostalExportForm(request.form)
    if request.method == "GET":
        return render_template("privacy/postal.html", form=form, error=None)
    email = form.email.data or ""
    with Session(flask_db.engine()) as db:
        try:
            data = links.export_for_post(
                db, auth.current_user().email, email, form.reference.data or ""
            )
        except InvalidAddress:
            error = address_message(email)
            return render_template("privacy/postal.html", form=form, error=error), 400
        db.commit()
    if request.form.get("format") == "json":
        return _json_download(data)
    return render_template(
        "privacy/postal_shown.html",
        data=data,
        sections=export.SECTIONS,
        reference=form.reference.data or "",
    )
