"""Public pages: the open petitions, one petition, and the health check."""

import redis
from flask import Blueprint, Response, current_app, jsonify, make_response, render_template
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from petitions.config import settings_of
from petitions.db import flask_db
from petitions.lifecycle import rules
from petitions.outbox import webhooks
from petitions.signatures import receipts
from petitions.signatures.signing import SIGNING_STATES
from petitions.web import mail_delay, moments, share, signed_cookie
from petitions.web.forms import SignForm
from petitions.web.labels import SHORT_LABELS, STATE_LABELS
from petitions.web.loaders import petition_or_404

bp = Blueprint("public", __name__)
bp.add_app_template_filter(mail_delay.about, "about")


@bp.app_template_filter("thousands")
def thousands(number: int | None) -> str:
    """``number`` with thousands separators, or an empty string for None."""
    return "" if number is None else f"{number:,}"


@bp.app_template_filter("utc")
def utc(moment) -> str:
    """``moment`` written for people, in UTC, e.g. ``31 December 2026, 18:00 UTC``."""
    return moments.words(moment)


@bp.get("/")
def index():
    """The petitions collecting signatures now."""
    # Only petitions still before their closing time are listed, so the stored state is the
    # effective one.
    petitions = rules.public_petitions(flask_db.session())
    return render_template(
        "index.html",
        petitions=petitions,
        progress_of=rules.progress_percent,
        labels=SHORT_LABELS,
    )


@bp.get("/p/<slug>")
def petition(slug: str):
    """One petition: its text, count, threshold, state, closing time and sign form."""
    return petition_page(slug)


def petition_page(slug: str, sign_form: SignForm | None = None) -> Response:
    """Render the petition page; ``sign_form`` comes back with what was typed and why it was
    refused. A browser that signed it (signed_cookie) is shown its receipt and how to share
    the petition."""
    session = flask_db.session()
    found = petition_or_404(slug, session=session)
    state = rules.effective_state(found)
    signed = signed_cookie.read(found.id)
    page = render_template(
        "petition.html",
        signed=signed,
        receipt=receipts.leaf_of(session, found.id, signed.number) if signed else None,
        public_url=share.public_url(found),
        petition=found,
        state=state,
        label=STATE_LABELS[state].short,
        progress=rules.progress_percent(found),
        paragraphs=[p for p in found.body.split("\n\n") if p.strip()],
        ballot_url=webhooks.ballot_url_of(session, found),
        sign_form=sign_form or SignForm(),
        # Only a page with the sign form says how long links take.
        slow_mail=mail_delay.slow(current_app) if state in SIGNING_STATES else None,
    )
    return signed_cookie.mark_page(make_response(page), personal=signed is not None)


@bp.get("/p/<slug>/qr.svg")
def petition_qr(slug: str) -> Response:
    """A QR code of the petition's public address, as SVG."""
    response = make_response(share.qr_svg(share.public_url(petition_or_404(slug))))
    response.mimetype = "image/svg+xml"
    response.cache_control.public = True
    response.cache_control.max_age = 3600
    return response


def _database_ok() -> bool:
    try:
        with flask_db.engine().connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError:
        current_app.logger.exception("health check: the database did not answer")
        return False
    return True


def _queue_status() -> str:
    url = settings_of(current_app).redis_url
    if not url:
        return "not_configured"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping()
    except (redis.RedisError, ValueError):
        current_app.logger.warning("health check: Redis did not answer", exc_info=True)
        return "unavailable"
    return "ok"


@bp.get("/healthz")
def healthz():
    """200 when the database (and Redis, when configured) answer; 503 naming what failed."""
    database = "ok" if _database_ok() else "unavailable"
    queue = _queue_status()
    healthy = database == "ok" and queue != "unavailable"
    response = jsonify(status="ok" if healthy else "unavailable", database=database, queue=queue)
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
    return response
