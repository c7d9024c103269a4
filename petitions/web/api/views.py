"""The JSON API under /api/v1, described by /api/v1/openapi.json."""

from flask import Blueprint, current_app, jsonify, request

from petitions.db import flask_db
from petitions.db.models import Petition
from petitions.lifecycle import rules
from petitions.roll.addresses import InvalidAddress
from petitions.signatures import counts, signing
from petitions.signatures.outcomes import SigningOutcome
from petitions.transparency import store
from petitions.web import live_count as live
from petitions.web import live_wsgi, rate_limits
from petitions.web.api import openapi
from petitions.web.errors import json_error
from petitions.web.outcomes import OUTCOME_STATUS

bp = Blueprint("api", __name__, url_prefix="/api/v1")
# The live count's 200s are answered in front of Flask (petitions.web.live_wsgi); the view below
# answers the rest of that route.
bp.record_once(lambda state: live_wsgi.install(state.app))


def petition_json(petition: Petition) -> dict:
    """The public description of ``petition`` as DESIGN.md fixes it."""
    return {
        "slug": petition.slug,
        "title": petition.title,
        "state": rules.effective_state(petition),
        "count": petition.signature_count,
        "threshold": petition.threshold,
        "reached_at": rules.iso_utc(petition.reached_at),
        "closes_at": rules.iso_utc(petition.closes_at),
        "by_region": counts.by_region(flask_db.session(), petition),
        "log": _log_head(petition),
    }


def _log_head(petition: Petition) -> dict | None:
    head = store.latest_head(flask_db.session(), petition.id)
    return None if head is None else {"size": head.size, "root_hash": head.root_hash}


@bp.get("/petitions/<slug>")
def petition(slug: str):
    """A published petition's state, count and threshold; drafts are not published."""
    found = rules.find_published(flask_db.session(), slug)
    if found is None:
        return json_error(404, "not_found", f"no petition with slug {slug!r}")
    return jsonify(petition_json(found))


@bp.get("/petitions/<slug>/count")
def live_count(slug: str):
    """The live count that open pages poll: cheap (see petitions.web.live_count) and cacheable
    for 1 s. Its 200s are normally answered by petitions.web.live_wsgi before Flask sees it."""
    found = live.read(current_app, slug)
    if found is None:
        return json_error(404, "not_found", f"no petition with slug {slug!r}")
    response = current_app.response_class(found.body, mimetype="application/json")
    response.headers["Cache-Control"] = "public, max-age=1"
    return response


@bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI 3.1 description of this API."""
    return jsonify(openapi.document())


def _json_object():
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else None


def _text(body: dict, name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool):  # JSON true/false is an int to Python, not a membership number
        return None
    return value if isinstance(value, str) else str(value) if isinstance(value, int) else None


@bp.post("/petitions/<slug>/signatures")
def request_signature(slug: str):
    """Ask to sign: 202 for every well-formed address, on the roll or not."""
    body = _json_object()
    if body is None:
        return json_error(400, "invalid_json", 'send a JSON object: {"email": "..."}')
    email = body.get("email")
    if not isinstance(email, str):
        return json_error(400, "invalid_email", "email is required, as a string")
    member_id = _text(body, "member_id")
    if "member_id" in body and body["member_id"] is not None and member_id is None:
        return json_error(400, "invalid_member_id", "member_id must be a string")
    session = flask_db.session()
    try:
        signing.request_signature(session, slug, email, member_id, rate_limits.client_network())
    except InvalidAddress as exc:
        session.rollback()
        return json_error(400, "invalid_email", str(exc))
    except signing.SigningError as exc:
        session.rollback()
        return json_error(OUTCOME_STATUS[exc.code], exc.code, str(exc))
    session.commit()
    return jsonify(status="check_email"), 202


# The error code and message of each outcome of confirming that is not a success.
CONFIRM_ERRORS = {
    SigningOutcome.EXPIRED: (
        "expired_token",
        "the link has expired; ask for a fresh one by signing again",
    ),
    SigningOutcome.INVALID: ("invalid_token", "the token is not valid"),
    SigningOutcome.PETITION_CLOSED: ("petition_closed", "the petition is closed"),
    SigningOutcome.NOT_IN_GOOD_STANDING: (
        "not_in_good_standing",
        "the member this link was made for is not in good standing",
    ),
}


@bp.post("/signatures/confirm")
def confirm_signature():
    """Confirm the signature a token names."""
    body = _json_object()
    token = body.get("token") if body else None
    if not isinstance(token, str) or not token:
        return json_error(400, "invalid_token", 'send a JSON object: {"token": "..."}')
    result = signing.confirm(flask_db.engine(), current_app.config, token)
    if result.status == SigningOutcome.CONFIRMED:
        return jsonify(status=result.status, receipt=result.receipt)
    if result.status == SigningOutcome.ALREADY_SIGNED:
        return jsonify(status=result.status)
    code, message = CONFIRM_ERRORS[result.status]
    return json_error(OUTCOME_STATUS[result.status], code, message)
