"""The JSON API under /api/v1, described by /api/v1/openapi.json."""

from flask import Blueprint, current_app, jsonify, request

from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.models import Petition
from petitions.lifecycle import rules
from petitions.roll.addresses import InvalidAddress
from petitions.signatures import counts, name_check, signing
from petitions.signatures.outcomes import SigningOutcome
from petitions.transparency import store
from petitions.web import live_count as live
from petitions.web import live_wsgi, mail_delay, rate_limits
from petitions.web.api import models, openapi
from petitions.web.errors import json_error
from petitions.web.loaders import petition_or_404
from petitions.web.outcomes import OUTCOME_STATUS

bp = Blueprint("api", __name__, url_prefix="/api/v1")
# The live count's 200s are answered in front of Flask (petitions.web.live_wsgi); the view below
# answers the rest of that route.
bp.record_once(lambda state: live_wsgi.install(state.app))


def petition_json(petition: Petition) -> dict:
    """The public description of ``petition``, as the README's "Web and API" table fixes it."""
    state = rules.effective_state(petition)
    slow = mail_delay.slow(current_app) if state in signing.SIGNING_STATES else None
    return {
        "slug": petition.slug,
        "title": petition.title,
        "state": state,
        "count": petition.signature_count,
        "threshold": petition.threshold,
        "reached_at": rules.iso_utc(petition.reached_at),
        "closes_at": rules.iso_utc(petition.closes_at),
        "by_region": counts.by_region(flask_db.session(), petition),
        "log": _log_head(petition),
        "mail_delay_seconds": slow.delay_seconds if slow else None,
        "name_reports": name_check.report_count(flask_db.session(), petition.id),
    }


def _log_head(petition: Petition) -> dict | None:
    head = store.latest_head(flask_db.session(), petition.id)
    return None if head is None else {"size": head.size, "root_hash": head.root_hash}


@bp.get("/petitions/<slug>")
def petition(slug: str):
    """A published petition's state, count and threshold; drafts are not published."""
    found = petition_or_404(slug, session=flask_db.session())
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


@bp.errorhandler(models.BodyRefused)
def body_refused(refused: models.BodyRefused):
    """A request body that does not fit its model (petitions.web.api.models): 400."""
    return json_error(400, refused.code, str(refused))


@bp.post("/petitions/<slug>/signatures")
def request_signature(slug: str):
    """Ask to sign: 202 for every well-formed address, on the roll or not."""
    body = models.SignRequest.parse(request.get_json(silent=True))
    session = flask_db.session()
    try:
        signing.request_signature(
            session, slug, body.email, body.member_id, rate_limits.client_network()
        )
    except InvalidAddress as exc:
        session.rollback()
        return json_error(400, "invalid_email", str(exc))
    except signing.SigningError as exc:
        session.rollback()
        return json_error(OUTCOME_STATUS[exc.code], exc.code, str(exc))
    session.commit()
    answer = {"status": "check_email"}
    # The delay is everyone's, not this address's: the answer still tells nothing about it.
    slow = mail_delay.slow(current_app)
    if slow:
        answer["mail_delay_seconds"] = slow.delay_seconds
    return jsonify(answer), 202


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
    SigningOutcome.NOT_ON_COMMITTED_ROLL: (
        "not_on_committed_roll",
        "the member this link was made for is not on the roll committed for this petition",
    ),
}


@bp.post("/signatures/confirm")
def confirm_signature():
    """Confirm the signature a token names."""
    body = models.ConfirmRequest.parse(request.get_json(silent=True))
    result = signing.confirm(flask_db.engine(), settings_of(current_app), body.token)
    if result.status == SigningOutcome.CONFIRMED:
        return jsonify(status=result.status, receipt=result.receipt)
    if result.status == SigningOutcome.ALREADY_SIGNED:
        return jsonify(status=result.status)
    code, message = CONFIRM_ERRORS[result.status]
    return json_error(OUTCOME_STATUS[result.status], code, message)
