"""Placeholder: the scrutiny pages are being built."""

from flask import Blueprint, render_template

from petitions import auth

bp = Blueprint("scrutiny", __name__)


@bp.get("/scrutiny/")
@auth.require_role(*auth.READERS)
def index():
    """Placeholder page."""
    return render_template("organiser/placeholder.html", section="petitions", title="scrutiny")
