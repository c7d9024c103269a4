"""The JSON API under /api/v1, described by /api/v1/openapi.json."""

from flask import Blueprint, jsonify

from petitions import counts, lifecycle, openapi, webdb
from petitions.errors import json_error
from petitions.models import Petition

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def petition_json(petition: Petition) -> dict:
    """The public description of ``petition`` as DESIGN.md fixes it."""
    return {
        "slug": petition.slug,
        "title": petition.title,
        "state": lifecycle.effective_state(petition),
        "count": petition.signature_count,
        "threshold": petition.threshold,
        "reached_at": lifecycle.iso_utc(petition.reached_at),
        "closes_at": lifecycle.iso_utc(petition.closes_at),
        "by_region": counts.by_region(webdb.session(), petition),
        # The public log does not exist yet; DESIGN.md says null until it does.
        "log": None,
    }


@bp.get("/petitions/<slug>")
def petition(slug: str):
    """A published petition's state, count and threshold; drafts are not published."""
    found = lifecycle.find_petition(webdb.session(), slug)
    if found is None or found.state == "draft":
        return json_error(404, "not_found", f"no petition with slug {slug!r}")
    return jsonify(petition_json(found))


@bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI 3.1 description of this API."""
    return jsonify(openapi.document())
