"""Placeholder: the signatures pages are being built."""

from flask import Blueprint, render_template

from petitions import auth

bp = Blueprint("signatures", __name__)


@bp.get("/organiser/p/<slug>/signatures")
@auth.require_role(*auth.READERS)
def index(slug: str):
    """Placeholder page."""
    return render_template("organiser/placeholder.html", section="petitions", title="signatures")
