"""Invitations: the organisers' page that reviews, then starts, and watches, pauses, resumes
and cancels runs mailing members a personal sign link, its JSON progress, and the public page
where a member asks to get no more invitations (the link at the foot of every invitation)."""

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlmodel import Session

from petitions import audit
from petitions.config import settings_of
from petitions.db import flask_db
from petitions.invitations import opt_out as invitation_opt_out
from petitions.invitations import review as invitation_review
from petitions.invitations import runs as invitations
from petitions.lifecycle import rules
from petitions.web import auth
from petitions.web.forms import InvitationRunForm, TokenForm
from petitions.web.loaders import petition_or_404

bp = Blueprint("invitations", __name__)

# The policy of the e-mail preview alone: the mail's own inline styles, nothing else.
PREVIEW_POLICY = "; ".join(
    [
        "default-src 'none'",
        "style-src 'unsafe-inline'",
        "img-src data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'self'",
        "sandbox",
    ]
)


def _max_rate() -> int:
    return settings_of(current_app).invitation_rate_per_minute


def _page(slug: str, form: InvitationRunForm | None = None, status: int = 200):
    # A session of its own, closed before rendering: no transaction (on SQLite, the write lock)
    # is held while the page is built.
    with Session(flask_db.engine(), expire_on_commit=False) as session:
        petition = petition_or_404(slug, drafts=True, session=session)
        reach = invitations.reach(session, petition)
        runs = [(run, invitations.progress(run)) for run in invitations.runs_of(session, petition)]
    page = render_template(
        "invitations/index.html",
        section="petitions",
        petition=petition,
        live=invitations.is_live(petition),
        state=rules.effective_state(petition),
        reach=reach,
        runs=runs,
        max_rate=_max_rate(),
        form=form or InvitationRunForm(max_rate=_max_rate()),
    )
    return page, status


@bp.get("/organiser/p/<slug>/invitations")
@auth.require_role(*auth.ORGANISERS)
def index(slug: str):
    """The form to start a run, with how many members it would reach, and every run's
    progress."""
    return _page(slug)


def _review_page(petition, shown: invitation_review.Review, changed_from: int | None = None):
    settings = settings_of(current_app)
    return render_template(
        "invitations/review.html",
        section="petitions",
        petition=petition,
        review=shown,
        token=invitation_review.make_token(settings, petition, shown),
        subject=invitation_review.preview(settings, petition).subject,
        max_rate=_max_rate(),
        changed_from=changed_from,
    )


@bp.get("/organiser/p/<slug>/invitations/review")
@auth.require_role(*auth.ORGANISERS)
def review(slug: str):
    """What a run would do, checked before it starts: how many members it mails (as the run
    counts them), at what pace, how long that takes, and the e-mail they get."""
    form = InvitationRunForm(request.args, max_rate=_max_rate())
    if not form.validate():
        return _page(slug, form, 400)
    # A session of its own, closed before rendering, as the invitations page has.
    with Session(flask_db.engine(), expire_on_commit=False) as session:
        petition = petition_or_404(slug, drafts=True, session=session)
        try:
            shown = invitation_review.review(
                session, petition, form.region.data or None, form.rate_per_minute
            )
        except invitations.InvitationError as exc:
            form.add_error(exc.field, str(exc))
            shown = None
    if shown is None:
        return _page(slug, form, 400)
    return _review_page(petition, shown)


@bp.get("/organiser/p/<slug>/invitations/preview")
@auth.require_role(*auth.ORGANISERS)
def preview(slug: str):
    """The invitation's HTML part as a member's mail reader shows it, for the review page's
    frame. The mail styles itself inline, as mail must; this response alone allows that, and
    nothing else: no script, no request anywhere, and only this service may frame it."""
    petition = petition_or_404(slug, drafts=True)
    mail = invitation_review.preview(settings_of(current_app), petition)
    response = make_response(mail.html_body)
    response.headers["Content-Security-Policy"] = PREVIEW_POLICY
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


@bp.post("/organiser/p/<slug>/invitations")
@auth.require_role(*auth.ORGANISERS)
def start(slug: str):
    """Start the run the organiser reviewed, unless who it would reach has changed since."""
    session = flask_db.session()
    petition = petition_or_404(slug, drafts=True, session=session)
    try:
        reviewed = invitation_review.read_token(
            settings_of(current_app), petition, TokenForm(request.form).token.data
        )
        # INVITATION_RATE_PER_MINUTE may have been lowered since the review.
        invitations.validate_rate(reviewed.rate_per_minute, _max_rate())
        now = invitation_review.changed(session, petition, reviewed)
    except invitation_review.ReviewInvalid as exc:
        session.rollback()
        form = InvitationRunForm(max_rate=_max_rate())
        form.add_error("form", str(exc))
        return _page(slug, form, 400)
    except invitations.InvitationError as exc:
        session.rollback()
        form = InvitationRunForm(max_rate=_max_rate())
        form.add_error(exc.field, str(exc))
        return _page(slug, form, 409)
    if now is not None:
        session.rollback()
        return _review_page(petition, now, changed_from=reviewed.recipients), 409
    region = reviewed.region
    rate = reviewed.rate_per_minute
    try:
        run = invitations.start_run(
            session, petition, region=region, rate_per_minute=rate, started_by=auth.actor()
        )
    except invitations.InvitationError as exc:
        session.rollback()
        form = InvitationRunForm(max_rate=_max_rate())
        form.add_error(exc.field, str(exc))
        return _page(slug, form, 409)
    scope = f"region {region}" if region else "all active members"
    audit.record(
        session,
        auth.actor(),
        "invitations.start",
        petition,
        f"run {run.id}: {scope}, {run.total} members, {rate} a minute",
    )
    session.commit()
    flash(f"Sending invitations to {run.total:,} members, {rate:,} a minute.")
    return redirect(url_for("invitations.index", slug=slug), code=303)


def _change(slug: str, run_id: int, action: str):
    """Pause, resume or cancel run ``run_id``, with its audit record, in one transaction."""
    session = flask_db.session()
    petition = petition_or_404(slug, drafts=True, session=session)
    run = invitations.locked_run(session, petition, run_id)
    if run is None:
        abort(404, description="There is no such invitation run for this petition.")
    try:
        if action == "pause":
            invitations.pause(run)
            message = f"Run {run.id} is paused."
        elif action == "resume":
            resumed = invitations.resume(run, petition) == "sending"
            message = (
                f"Run {run.id} is sending again."
                if resumed
                else f"Run {run.id} has stopped: the petition is closed."
            )
        else:
            invitations.cancel(run)
            message = f"Run {run.id} is cancelled; {run.sent:,} invitations were sent."
    except invitations.InvitationError as exc:
        session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("invitations.index", slug=slug), code=303)
    audit.record(
        session,
        auth.actor(),
        f"invitations.{action}",
        petition,
        f"run {run.id}: {run.sent} of {run.total} sent",
    )
    session.commit()
    flash(message)
    return redirect(url_for("invitations.index", slug=slug), code=303)


@bp.post("/organiser/p/<slug>/invitations/<int:run_id>/pause")
@auth.require_role(*auth.ORGANISERS)
def pause(slug: str, run_id: int):
    """Stop a run sending until it is resumed."""
    return _change(slug, run_id, "pause")


@bp.post("/organiser/p/<slug>/invitations/<int:run_id>/resume")
@auth.require_role(*auth.ORGANISERS)
def resume(slug: str, run_id: int):
    """Let a paused run send again."""
    return _change(slug, run_id, "resume")


@bp.post("/organiser/p/<slug>/invitations/<int:run_id>/cancel")
@auth.require_role(*auth.ORGANISERS)
def cancel(slug: str, run_id: int):
    """End a run for good."""
    return _change(slug, run_id, "cancel")


@bp.get("/organiser/p/<slug>/invitations/progress")
@auth.require_role(*auth.ORGANISERS)
def progress(slug: str):
    """Every run's progress as JSON, for the page to poll."""
    with Session(flask_db.engine(), expire_on_commit=False) as session:
        petition = petition_or_404(slug, drafts=True, session=session)
        runs = [invitations.progress(run) for run in invitations.runs_of(session, petition)]
    return jsonify(runs=runs)


def _opt_out_key(token: str) -> str | None:
    try:
        return invitation_opt_out.read_token(settings_of(current_app), token)
    except invitation_opt_out.OptOutTokenInvalid:
        return None


@bp.route("/invitations/opt-out", methods=["GET", "POST"])
def opt_out():
    """The link in every invitation: the page shows a button (mail scanners follow links, so
    opening it changes nothing); pressing it records that the address wants no more."""
    token = TokenForm(request.form if request.method == "POST" else request.args).token.data
    key = _opt_out_key(token)
    if key is None:
        return render_template("invitations/opt_out_invalid.html"), 400
    session = flask_db.session()
    if request.method == "GET":
        already = invitation_opt_out.is_opted_out(session, key)
        session.rollback()
        return render_template("invitations/opt_out.html", token=token, already=already)
    invitation_opt_out.record(session, key)
    session.commit()
    return redirect(url_for("invitations.opt_out_done"), code=303)


@bp.get("/invitations/opt-out/done")
def opt_out_done():
    """What a member sees once their opt-out is recorded."""
    return render_template("invitations/opt_out_done.html")
