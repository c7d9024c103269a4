"""Scrutineers' pages (organisers read them too): the audit trail, the roll imports, and for
each petition its invalidations, threshold event, webhook tries, the evidence to download and
the commitment key, whose every reveal is itself recorded in the audit trail."""

import io

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request

from petitions import audit
from petitions.config import settings_of
from petitions.db import flask_db
from petitions.lifecycle import rules
from petitions.reports import scrutiny
from petitions.signatures import invalidation, name_check
from petitions.spreadsheet import SafeWriter
from petitions.transparency import store as signature_log
from petitions.web import auth, whole_numbers
from petitions.web.errors import json_error, wants_json
from petitions.web.forms import RevealKeyForm
from petitions.web.loaders import petition_or_404

bp = Blueprint("scrutiny", __name__, url_prefix="/scrutiny")


def _before() -> int | None:
    raw = request.args.get("before")
    if raw is None:
        return None
    before = whole_numbers.parse(raw)
    if before is None:
        abort(400, description="The page of the audit trail must be given as a whole number.")
    return before


@bp.get("/")
@auth.require_role(*auth.READERS)
def index():
    """The audit trail (newest first, a page at a time), every petition, and the roll imports."""
    session = flask_db.session()
    entries, older = scrutiny.audit_page(session, _before())
    return render_template(
        "scrutiny/index.html",
        section="scrutiny",
        entries=entries,
        older=older,
        first_page=request.args.get("before") is None,
        petitions=scrutiny.petition_summaries(session),
        imports=scrutiny.roll_imports(session),
        state_of=rules.effective_state,
    )


@bp.get("/audit.csv")
@auth.require_role(*auth.READERS)
def audit_csv():
    """The whole audit trail as CSV, oldest first, streamed."""
    engine = flask_db.engine()

    def lines():
        buffer = io.StringIO()
        writer = SafeWriter(buffer, lineterminator="\n")
        writer.writerow(("id", "at", "actor", "action", "petition", "detail"))
        for entry in scrutiny.all_events(engine):
            event = entry.event
            writer.writerow(
                (
                    event.id,
                    rules.iso_utc(event.at),
                    event.actor,
                    event.action,
                    entry.slug or "",
                    event.detail,
                )
            )
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()

    return Response(
        lines(),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="audit-trail.csv"'},
    )


@bp.get("/p/<slug>")
@auth.require_role(*auth.READERS)
def petition(slug: str):
    """One petition for scrutineers: its evidence, how to check it, its decisions and events."""
    session = flask_db.session()
    found = petition_or_404(slug, drafts=True, session=session)
    return render_template(
        "scrutiny/petition.html",
        section="scrutiny",
        petition=found,
        state=rules.effective_state(found),
        trail=scrutiny.petition_trail(session, found),
        name_reports=name_check.reports_of(session, found.id),
        head=signature_log.latest_head(session, found.id),
        public_key=signature_log.public_key(settings_of(current_app)),
        reasons=invalidation.REASONS,
    )


@bp.get("/p/<slug>/commitment-key")
@auth.require_role(*auth.READERS)
def commitment_key_form(slug: str):
    """Ask for confirmation before revealing the commitment key; never shows the key itself."""
    found = petition_or_404(slug, drafts=True, session=flask_db.session())
    return render_template(
        "scrutiny/commitment_key_form.html", section="scrutiny", petition=found, error=None
    )


@bp.post("/p/<slug>/commitment-key")
@auth.require_role(*auth.READERS)
def commitment_key(slug: str):
    """Reveal the petition's commitment key to a scrutineer who confirms, and record in the
    audit trail that they did (HTML, or JSON for a script asking for it)."""
    found = petition_or_404(slug, drafts=True, session=flask_db.session())
    as_json = wants_json()
    form = RevealKeyForm(request.form)
    confirmed = _json_confirmed() if as_json and request.is_json else form.validate()
    if not confirmed:
        if as_json:
            return json_error(400, "confirmation_required", 'send {"confirm": true}')
        page = render_template(
            "scrutiny/commitment_key_form.html",
            section="scrutiny",
            petition=found,
            error=form.confirm.errors[0],
        )
        return page, 400
    session = flask_db.session()
    audit.record(
        session,
        auth.actor(),
        scrutiny.KEY_ACTION,
        found,
        detail="revealed as JSON" if as_json else "revealed on the scrutiny page",
    )
    session.commit()
    if as_json:
        response = jsonify(
            petition=found.slug,
            commitment_key=found.log_secret,
            algorithm="HMAC-SHA256",
            commitment="hex(HMAC-SHA256(bytes.fromhex(commitment_key), member_id as UTF-8))",
            recorded=True,
        )
    else:
        response = current_app.make_response(
            render_template(
                "scrutiny/commitment_key.html",
                section="scrutiny",
                petition=found,
                key=found.log_secret,
            )
        )
    # The key must not linger in a shared cache or the browser's back-forward history.
    response.headers["Cache-Control"] = "no-store"
    return response


def _json_confirmed() -> bool:
    body = request.get_json(silent=True)
    return isinstance(body, dict) and body.get("confirm") is True
