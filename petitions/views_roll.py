"""Placeholder: the roll pages are being built."""

from flask import Blueprint, render_template

from petitions import auth

bp = Blueprint("roll", __name__)


@bp.get("/organiser/roll")
@auth.require_role(*auth.ORGANISERS)
def index():
    """Placeholder page."""
    return render_template("organiser/placeholder.html", section="petitions", title="roll")
