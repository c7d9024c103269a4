"""Organisers' petition pages: the list of every petition, creating one, and one petition's
settings: editing it while it is a draft, opening it and closing it.

The rules are those of the command line (petitions.lifecycle.rules); every change is written to the
audit trail in the transaction that makes it. Opening and closing cannot be undone, so each
asks for confirmation on a page of its own first.
"""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlmodel import Session

from petitions import audit
from petitions.db import flask_db
from petitions.db.engine import utcnow
from petitions.db.models import Petition, PetitionState
from petitions.lifecycle import petition_form as petition_forms
from petitions.lifecycle import rules as lifecycle
from petitions.lifecycle.petition_form import PetitionForm
from petitions.lifecycle.rules import PetitionError
from petitions.web import auth
from petitions.web.state_labels import LONG_LABELS, STATE_LABELS

bp = Blueprint("organiser", __name__, url_prefix="/organiser")


@bp.get("/")
@auth.require_role(*auth.READERS)
def index():
    """Every petition, drafts included, with its state and count."""
    petitions = lifecycle.all_petitions(flask_db.session())
    return render_template(
        "organiser/index.html",
        section="petitions",
        petitions=petitions,
        state_of=lifecycle.effective_state,
        progress_of=lifecycle.progress_percent,
        may_change=auth.current_user().role in auth.ORGANISERS,
    )


@bp.route("/petitions/new", methods=["GET", "POST"])
@auth.require_role(*auth.ORGANISERS)
def new_petition():
    """The form for a new petition; a valid one is saved as a draft."""
    if request.method == "GET":
        return _new_page(petition_forms.blank())
    session = flask_db.session()
    form = petition_forms.read(request.form, creating=True)
    if form.ok:
        try:
            petition = lifecycle.create_petition(session, **form.clean)
        except PetitionError as exc:
            session.rollback()
            form.refuse(exc)
        else:
            audit.record(
                session,
                auth.actor(),
                "petition.create",
                petition,
                petition_forms.describe_new(petition),
            )
            session.commit()
            flash(f"Draft petition “{petition.title}” created. Check it, then open it when ready.")
            return redirect(url_for(".edit_petition", slug=petition.slug), code=303)
    return _new_page(form), 400


def _new_page(form: PetitionForm):
    return render_template(
        "organiser/petition_form.html", section="petitions", form=form, now=utcnow()
    )


@bp.get("/p/<slug>/settings")
@auth.require_role(*auth.ORGANISERS)
def edit_petition(slug: str):
    """One petition's settings: its rules and state, the edit form while it is a draft, and
    the open or close button its state allows."""
    petition = petition_or_404(flask_db.session(), slug)
    form = petition_forms.from_petition(petition) if petition.state == PetitionState.DRAFT else None
    return _settings_page(petition, form)


@bp.post("/p/<slug>/settings")
@auth.require_role(*auth.ORGANISERS)
def save_petition(slug: str):
    """Save the edited draft; a petition that is no longer a draft is not changed (409)."""
    session = flask_db.session()
    petition = petition_or_404(session, slug)
    if petition.state != PetitionState.DRAFT:
        return _not_editable(petition)
    form = petition_forms.read(request.form, creating=False)
    if form.ok:
        try:
            edit = lifecycle.update_draft(session, slug, **form.clean)
        except PetitionError as exc:
            session.rollback()
            # Opened by someone else since this request began: refused like any open petition.
            petition = petition_or_404(session, slug)
            if petition.state != PetitionState.DRAFT:
                return _not_editable(petition)
            form.refuse(exc)
        else:
            if edit.changes:
                audit.record(
                    session,
                    auth.actor(),
                    "petition.edit",
                    edit.petition,
                    petition_forms.describe_changes(edit.changes),
                )
            session.commit()
            flash("Changes saved." if edit.changes else "Nothing was changed.")
            return redirect(url_for(".edit_petition", slug=slug), code=303)
    return _settings_page(petition, form), 400


@bp.get("/p/<slug>/open")
@auth.require_role(*auth.ORGANISERS)
def confirm_open(slug: str):
    """Ask to confirm opening, showing the threshold it would freeze (or why it cannot open)."""
    session = flask_db.session()
    petition = petition_or_404(session, slug)
    try:
        threshold, eligible = lifecycle.opening_threshold(session, petition)
    except PetitionError as exc:
        return _confirm_open_page(petition, error=str(exc)), 409
    return _confirm_open_page(petition, threshold=threshold, eligible=eligible)


@bp.post("/p/<slug>/open")
@auth.require_role(*auth.ORGANISERS)
def open_petition(slug: str):
    """Open the draft once confirmed: its threshold is frozen against today's active members."""
    session = flask_db.session()
    petition = petition_or_404(session, slug)
    if request.form.get("confirm") != "yes":
        return redirect(url_for(".confirm_open", slug=slug), code=303)
    try:
        petition = lifecycle.open_petition(session, slug)
    except PetitionError as exc:
        session.rollback()
        return _confirm_open_page(petition_or_404(session, slug), error=str(exc)), 409
    frozen = (
        f"threshold frozen at {petition.threshold:,} of {petition.eligible_members:,} "
        f"active members ({petition_forms.describe_rule(petition)})"
    )
    audit.record(session, auth.actor(), "petition.open", petition, frozen)
    session.commit()
    flash(f"Petition opened: {frozen}. Members can sign it now.")
    return redirect(url_for(".edit_petition", slug=slug), code=303)


@bp.get("/p/<slug>/close")
@auth.require_role(*auth.ORGANISERS)
def confirm_close(slug: str):
    """Ask to confirm closing (or say why the petition cannot be closed)."""
    petition = petition_or_404(flask_db.session(), slug)
    error = _why_not_closable(petition)
    if error:
        return _confirm_close_page(petition, error=error), 409
    return _confirm_close_page(petition)


@bp.post("/p/<slug>/close")
@auth.require_role(*auth.ORGANISERS)
def close_petition(slug: str):
    """Close the petition once confirmed, so that signing stops for good."""
    session = flask_db.session()
    petition = petition_or_404(session, slug)
    if request.form.get("confirm") != "yes":
        return redirect(url_for(".confirm_close", slug=slug), code=303)
    error = _why_not_closable(petition)
    if error is None:
        try:
            petition = lifecycle.close_petition(session, slug)
        except PetitionError as exc:
            error = str(exc)
    if error:
        session.rollback()
        return _confirm_close_page(petition_or_404(session, slug), error=error), 409
    detail = (
        f"closed at {lifecycle.iso_utc(petition.closed_at)} with "
        f"{petition.signature_count:,} signatures (threshold {petition.threshold:,})"
    )
    audit.record(session, auth.actor(), "petition.close", petition, detail)
    session.commit()
    flash(f"Petition closed with {petition.signature_count:,} signatures. Signing has stopped.")
    return redirect(url_for(".edit_petition", slug=slug), code=303)


def petition_or_404(session: Session, slug: str) -> Petition:
    """The petition ``slug``, drafts included (for signed-in pages), or a 404."""
    petition = lifecycle.find_petition(session, slug)
    if petition is None:
        abort(404, description="There is no petition at this address.")
    return petition


def _why_not_closable(petition: Petition) -> str | None:
    """Why ``petition`` cannot be closed by hand now, or None if it can."""
    state = lifecycle.effective_state(petition)
    if state == PetitionState.DRAFT:
        return "This petition is a draft: it was never opened, so there is nothing to close."
    if state == PetitionState.CLOSED:
        return "This petition is already closed."
    return None


def _settings_page(petition: Petition, form: PetitionForm | None):
    return render_template(
        "organiser/settings.html",
        section="petitions",
        petition=petition,
        state=lifecycle.effective_state(petition),
        labels=LONG_LABELS,
        rule=petition_forms.describe_rule(petition),
        form=form,
        now=utcnow(),
    )


def _not_editable(petition: Petition):
    state = lifecycle.effective_state(petition)
    return render_template(
        "organiser/not_editable.html",
        section="petitions",
        petition=petition,
        label=STATE_LABELS[state].long,
    ), 409


def _confirm_open_page(petition: Petition, *, threshold=None, eligible=None, error=None):
    return render_template(
        "organiser/confirm_open.html",
        section="petitions",
        petition=petition,
        rule=petition_forms.describe_rule(petition),
        threshold=threshold,
        eligible=eligible,
        error=error and petition_forms.sentence(error),
    )


def _confirm_close_page(petition: Petition, *, error=None):
    return render_template(
        "organiser/confirm_close.html",
        section="petitions",
        petition=petition,
        label=STATE_LABELS[lifecycle.effective_state(petition)].long,
        error=error and petition_forms.sentence(error),
    )
