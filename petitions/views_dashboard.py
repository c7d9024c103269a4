"""Placeholder: the dashboard pages are being built."""

from flask import Blueprint, render_template

from petitions import auth

bp = Blueprint("dashboard", __name__)


@bp.get("/organiser/p/<slug>")
@auth.require_role(*auth.READERS)
def show(slug: str):
    """Placeholder page."""
    return render_template("organiser/placeholder.html", section="petitions", title="dashboard")
