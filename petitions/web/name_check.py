""" "Was my name used?" in the browser: asking by address (answered like a request to sign, open
or closed petition), the page a mailed link to report opens, and reporting on its button (POST,
never GET: mail scanners follow links)."""

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from petitions.config import settings_of
from petitions.db import flask_db
from petitions.roll.addresses import InvalidAddress
from petitions.signatures import name_check, signing
from petitions.signatures.name_check import ReportOutcome
from petitions.web import mail_delay, rate_limits
from petitions.web.forms import SignForm, TokenForm
from petitions.web.loaders import petition_or_404

bp = Blueprint("name_check", __name__)

STATUS = {
    ReportOutcome.CAN_REPORT: 200,
    ReportOutcome.REPORTED: 200,
    ReportOutcome.ALREADY_REPORTED: 200,
    ReportOutcome.EXPIRED: 400,
    ReportOutcome.INVALID: 400,
}


@bp.get("/p/<slug>/name-check")
def ask_form(slug: str):
    """The form asking, by address, whether a signature is counted in one's name."""
    petition = petition_or_404(slug)
    return render_template("name_check/ask.html", petition=petition, form=SignForm())


@bp.post("/p/<slug>/name-check")
def ask(slug: str):
    """Take the question; every well-formed address gets one answer, and a worker mails the
    member later."""
    petition = petition_or_404(slug)
    form = SignForm(request.form)
    session = flask_db.session()
    try:
        signing.request_signature(
            session,
            slug,
            form.email.data,
            form.member_id.data,
            rate_limits.client_network(),
            kind="name_check",
        )
    except InvalidAddress:
        session.rollback()
        form.refuse_address()
        return render_template("name_check/ask.html", petition=petition, form=form), 400
    except signing.SigningError:
        # The petition was found above, so only the membership number can be refused here.
        session.rollback()
        form.refuse_member_number()
        return render_template("name_check/ask.html", petition=petition, form=form), 400
    session.commit()
    return redirect(url_for("name_check.check_email", slug=slug), code=303)


@bp.get("/p/<slug>/name-check/check-email")
def check_email(slug: str):
    """The one answer to every question "Was my name used?"."""
    return render_template(
        "name_check/check_email.html",
        petition=petition_or_404(slug),
        slow_mail=mail_delay.slow(current_app),
    )


@bp.get("/p/<slug>/name-report")
def report_page(slug: str):
    """The page a link to report opens: what reporting does, and a button to do it."""
    petition = petition_or_404(slug)
    token = request.args.get("token", "")
    found = name_check.preview(flask_db.engine(), settings_of(current_app), token, slug)
    return _page(found, token, petition)


@bp.post("/p/<slug>/name-report")
def report(slug: str):
    """Report the signatures the link names as not the member's own."""
    petition = petition_or_404(slug)
    token = TokenForm(request.form).token.data
    done = name_check.report(flask_db.engine(), settings_of(current_app), token, slug)
    return _page(done, token, petition)


def _page(found: name_check.Report, token: str, petition):
    return render_template(
        f"name_check/{found.outcome}.html",
        result=found,
        petition=found.petition or petition,
        token=token,
    ), STATUS[found.outcome]
