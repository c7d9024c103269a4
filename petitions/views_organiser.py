"""Organisers' petition pages: the list of every petition."""

from flask import Blueprint, render_template

from petitions import auth, lifecycle, webdb

bp = Blueprint("organiser", __name__, url_prefix="/organiser")


@bp.get("/")
@auth.require_role(*auth.READERS)
def index():
    """Every petition, drafts included, with its state and count."""
    petitions = lifecycle.all_petitions(webdb.session())
    return render_template(
        "organiser/index.html",
        section="petitions",
        petitions=petitions,
        state_of=lifecycle.effective_state,
        progress_of=lifecycle.progress_percent,
    )


@bp.get("/p/<slug>/settings")
@auth.require_role(*auth.ORGANISERS)
def edit_petition(slug: str):
    """Placeholder until the petition settings page is built."""
    return render_template("organiser/placeholder.html", section="petitions", title=slug)
