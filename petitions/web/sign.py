"""Signing in the browser: the sign form's answer, the page an e-mailed link opens, and the
outcome of confirming it. Every outcome has its own page and status code."""

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from sqlmodel import Session

from petitions.db import flask_db
from petitions.roll.addresses import InvalidAddress
from petitions.signatures import signing, tokens
from petitions.signatures.outcomes import SigningOutcome
from petitions.web import rate_limits
from petitions.web.outcomes import OUTCOME_STATUS
from petitions.web.public import petition_page

bp = Blueprint("signing", __name__)


def _petition_or_404(slug: str):
    # A session of its own, closed at once: confirming opens its own transaction, and on SQLite
    # a transaction still open here would hold the write lock it waits for.
    with Session(flask_db.engine(), expire_on_commit=False) as session:
        try:
            return signing.public_petition(session, slug)
        except signing.SigningError:
            abort(404, description="There is no petition at this address.")


@bp.post("/p/<slug>/sign")
def sign(slug: str):
    """Take a request to sign; every well-formed address gets the same answer."""
    _petition_or_404(slug)
    email = request.form.get("email", "")
    member_id = request.form.get("member_id", "")
    session = flask_db.session()
    try:
        signing.request_signature(session, slug, email, member_id, rate_limits.client_network())
    except InvalidAddress as exc:
        session.rollback()
        return petition_page(slug, str(exc), {"email": email, "member_id": member_id}), 400
    except signing.SigningError as exc:
        session.rollback()
        if exc.code == SigningOutcome.PETITION_CLOSED:
            return render_template(
                "sign/petition_closed.html", petition=_petition_or_404(slug)
            ), OUTCOME_STATUS[exc.code]
        return petition_page(slug, str(exc), {"email": email, "member_id": member_id}), 400
    session.commit()
    return redirect(url_for("signing.check_email", slug=slug), code=303)


@bp.get("/p/<slug>/check-email")
def check_email(slug: str):
    """The one answer to every request to sign."""
    return render_template("sign/check_email.html", petition=_petition_or_404(slug))


@bp.get("/p/<slug>/confirm")
def confirm_page(slug: str):
    """The page an e-mailed link opens: a button, because mail scanners follow links."""
    petition = _petition_or_404(slug)
    token = request.args.get("token", "")
    try:
        link = signing.read_link(current_app.config, token)
    except tokens.TokenExpired:
        return _outcome(signing.Confirmation(SigningOutcome.EXPIRED, petition), token)
    except tokens.TokenInvalid:
        return _outcome(signing.Confirmation(SigningOutcome.INVALID, petition), token)
    if link.petition_id != petition.id:  # a genuine link, but for another petition
        return _outcome(signing.Confirmation(SigningOutcome.INVALID, petition), token)
    return render_template("sign/confirm.html", petition=petition, token=token)


@bp.post("/p/<slug>/confirm")
def confirm(slug: str):
    """Confirm the signature the link names."""
    petition = _petition_or_404(slug)
    token = request.form.get("token", "")
    result = signing.confirm(flask_db.engine(), current_app.config, token, slug)
    if result.petition is None or result.status == SigningOutcome.INVALID:
        result = signing.Confirmation(result.status, petition)
    return _outcome(result, token)


@bp.post("/p/<slug>/confirm/renew")
def renew(slug: str):
    """Send a fresh link for an expired one, to the member's address on the roll."""
    _petition_or_404(slug)
    session = flask_db.session()
    try:
        signing.renew_request(session, current_app.config, request.form.get("token", ""), slug)
    except (tokens.TokenInvalid, signing.SigningError):
        session.rollback()
        invalid = signing.Confirmation(SigningOutcome.INVALID, _petition_or_404(slug))
        return _outcome(invalid, "")
    session.commit()
    return redirect(url_for("signing.check_email", slug=slug), code=303)


def _outcome(result: signing.Confirmation, token: str):
    page = render_template(
        f"sign/{result.status}.html", result=result, petition=result.petition, token=token
    )
    return page, OUTCOME_STATUS[result.status]
