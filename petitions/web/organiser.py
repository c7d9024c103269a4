"""Organisers' petition pages: the list of every petition, creating one, and one petition's
settings: editing it while it is a draft, opening it and closing it.

The rules and actions are those of the command line (petitions.lifecycle): every change is
written to the audit trail in the transaction that makes it. Opening and closing cannot be
undone, so each asks for confirmation on a page of its own first.
"""

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.engine import utcnow
from petitions.db.models import Petition, PetitionState
from petitions.lifecycle import actions
from petitions.lifecycle import rules as lifecycle
from petitions.lifecycle.rules import PetitionError
from petitions.privacy import retention
from petitions.transparency import roll_commitment
from petitions.web import auth, share
from petitions.web import petition_form as petition_forms
from petitions.web.forms import ConfirmForm, RecommitForm, sentence
from petitions.web.labels import LONG_LABELS, STATE_LABELS
from petitions.web.loaders import petition_or_404
from petitions.web.petition_form import NewPetitionForm, PetitionForm

bp = Blueprint("organiser", __name__, url_prefix="/organiser")


@bp.get("/")
@auth.require_role(*auth.READERS)
def index():
    """Every petition, drafts included, with its state and count; and how long personal data
    is kept."""
    petitions = lifecycle.all_petitions(flask_db.session())
    return render_template(
        "organiser/index.html",
        section="petitions",
        petitions=petitions,
        state_of=lifecycle.effective_state,
        progress_of=lifecycle.progress_percent,
        may_change=auth.current_user().role in auth.ORGANISERS,
        retention=retention.in_force(settings_of(current_app)),
    )


@bp.route("/petitions/new", methods=["GET", "POST"])
@auth.require_role(*auth.ORGANISERS)
def new_petition():
    """The form for a new petition; a valid one is saved as a draft."""
    if request.method == "GET":
        return _new_page(petition_forms.blank(_witness_count()))
    form = NewPetitionForm(request.form, witnesses_configured=_witness_count())
    if form.validate():
        try:
            petition = actions.create_petition(flask_db.engine(), auth.actor(), **form.clean)
        except PetitionError as exc:
            form.refuse(exc)
        else:
            flash(f"Draft petition “{petition.title}” created. Check it, then open it when ready.")
            return redirect(url_for(".edit_petition", slug=petition.slug), code=303)
    return _new_page(form), 400


def _new_page(form: NewPetitionForm):
    return render_template(
        "organiser/petition_form.html", section="petitions", form=form, now=utcnow()
    )


@bp.get("/p/<slug>/settings")
@auth.require_role(*auth.ORGANISERS)
def edit_petition(slug: str):
    """One petition's settings: its rules and state, the edit form while it is a draft, and
    the open or close button its state allows."""
    petition = petition_or_404(slug, drafts=True)
    form = (
        petition_forms.from_petition(petition, _witness_count())
        if petition.state == PetitionState.DRAFT
        else None
    )
    return _settings_page(petition, form)


def _witness_count() -> int:
    return len(settings_of(current_app).witnesses)


@bp.post("/p/<slug>/settings")
@auth.require_role(*auth.ORGANISERS)
def save_petition(slug: str):
    """Save the edited draft; a petition that is no longer a draft is not changed (409)."""
    petition = petition_or_404(slug, drafts=True)
    if petition.state != PetitionState.DRAFT:
        return _not_editable(petition)
    form = PetitionForm(request.form, witnesses_configured=_witness_count())
    if form.validate():
        try:
            edit = actions.update_draft(flask_db.engine(), auth.actor(), slug, **form.clean)
        except PetitionError as exc:
            # Opened by someone else since this request began: refused like any open petition.
            petition = petition_or_404(slug, drafts=True)
            if petition.state != PetitionState.DRAFT:
                return _not_editable(petition)
            form.refuse(exc)
        else:
            flash("Changes saved." if edit.changes else "Nothing was changed.")
            return redirect(url_for(".edit_petition", slug=slug), code=303)
    return _settings_page(petition, form), 400


@bp.get("/p/<slug>/open")
@auth.require_role(*auth.ORGANISERS)
def confirm_open(slug: str):
    """Ask to confirm opening, showing the threshold it would freeze (or why it cannot open)."""
    session = flask_db.session()
    petition = petition_or_404(slug, drafts=True, session=session)
    try:
        threshold, eligible = lifecycle.opening_threshold(session, petition)
    except PetitionError as exc:
        return _confirm_open_page(petition, error=str(exc)), 409
    return _confirm_open_page(petition, threshold=threshold, eligible=eligible)


@bp.post("/p/<slug>/open")
@auth.require_role(*auth.ORGANISERS)
def open_petition(slug: str):
    """Open the draft once confirmed: its threshold is frozen against today's active members."""
    petition_or_404(slug, drafts=True)
    if not ConfirmForm(request.form).validate():
        return redirect(url_for(".confirm_open", slug=slug), code=303)
    try:
        petition = actions.open_petition(
            flask_db.engine(),
            auth.actor(),
            slug,
            commit_roll=roll_commitment.committer(settings_of(current_app), auth.actor()),
        )
    except PetitionError as exc:
        return _confirm_open_page(petition_or_404(slug, drafts=True), error=str(exc)), 409
    flash(f"Petition opened: {actions.opening_note(petition)}. Members can sign it now.")
    return redirect(url_for(".edit_petition", slug=slug), code=303)


@bp.get("/p/<slug>/close")
@auth.require_role(*auth.ORGANISERS)
def confirm_close(slug: str):
    """Ask to confirm closing (or say why the petition cannot be closed)."""
    petition = petition_or_404(slug, drafts=True)
    error = _why_not_closable(petition)
    if error:
        return _confirm_close_page(petition, error=error), 409
    return _confirm_close_page(petition)


@bp.post("/p/<slug>/close")
@auth.require_role(*auth.ORGANISERS)
def close_petition(slug: str):
    """Close the petition once confirmed, so that signing stops for good."""
    petition = petition_or_404(slug, drafts=True)
    if not ConfirmForm(request.form).validate():
        return redirect(url_for(".confirm_close", slug=slug), code=303)
    error = _why_not_closable(petition)
    if error is None:
        try:
            petition = actions.close_petition(flask_db.engine(), auth.actor(), slug)
        except PetitionError as exc:
            error = str(exc)
    if error:
        return _confirm_close_page(petition_or_404(slug, drafts=True), error=error), 409
    flash(f"Petition closed with {petition.signature_count:,} signatures. Signing has stopped.")
    return redirect(url_for(".edit_petition", slug=slug), code=303)


@bp.get("/p/<slug>/roll")
@auth.require_role(*auth.ORGANISERS)
def committed_roll(slug: str):
    """The petition's committed roll: every generation, how the roll has changed since the one
    in force, and the form to re-commit it."""
    petition = petition_or_404(slug, drafts=True)
    return _committed_roll_page(petition, RecommitForm())


@bp.post("/p/<slug>/roll")
@auth.require_role(*auth.ORGANISERS)
def recommit_roll(slug: str):
    """Re-commit the roll once a reason is given: recorded in the audit trail, published as a
    signed leaf of the petition's log with both counts."""
    petition = petition_or_404(slug, drafts=True)
    form = RecommitForm(request.form)
    if not form.validate():
        return _committed_roll_page(petition, form), 400
    try:
        done = roll_commitment.recommit(
            flask_db.engine(), settings_of(current_app), auth.actor(), slug, form.reason.data
        )
    except PetitionError as exc:
        form.refuse(exc)
        status = 400 if exc.field == "reason" else 409
        return _committed_roll_page(petition_or_404(slug, drafts=True), form), status
    previous = done.previous.eligible_count if done.previous is not None else None
    before = f"from {previous:,} " if previous is not None else ""
    flash(
        f"Roll re-committed {before}to {done.current.eligible_count:,} eligible members "
        f"(entry {done.current.leaf_index + 1:,} of the public log)."
    )
    return redirect(url_for(".committed_roll", slug=slug), code=303)


def _committed_roll_page(petition: Petition, form: RecommitForm):
    session = flask_db.session()
    state = lifecycle.effective_state(petition)
    signing = state in lifecycle.LIVE_STATES
    return render_template(
        "organiser/committed_roll.html",
        section="petitions",
        petition=petition,
        state=state,
        signing=signing,
        generations=roll_commitment.generations(session, petition.id),
        changes=roll_commitment.roll_changes(session, petition) if signing else None,
        form=form,
    )


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
        rule=actions.describe_rule(petition),
        form=form,
        now=utcnow(),
        public_url=share.public_url(petition),
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
        rule=actions.describe_rule(petition),
        threshold=threshold,
        eligible=eligible,
        error=error and sentence(error),
    )


def _confirm_close_page(petition: Petition, *, error=None):
    return render_template(
        "organiser/confirm_close.html",
        section="petitions",
        petition=petition,
        label=STATE_LABELS[lifecycle.effective_state(petition)].long,
        error=error and sentence(error),
    )
