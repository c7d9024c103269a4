"""Placeholder: the invitations pages are being built."""

from flask import Blueprint, render_template

from petitions import auth

bp = Blueprint("invitations", __name__)


@bp.get("/organiser/p/<slug>/invitations")
@auth.require_role(*auth.ORGANISERS)
def index(slug: str):
    """Placeholder page."""
    return render_template("organiser/placeholder.html", section="petitions", title="invitations")
