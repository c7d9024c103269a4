"""Signing in the browser: the sign form's answer, the page an e-mailed link opens, and the
outcome of confirming it. Every outcome has its own page and status code."""

from flask import (
    Blueprint,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)

from petitions.config import settings_of
from petitions.db import flask_db
from petitions.lifecycle import rules
from petitions.roll.addresses import InvalidAddress
from petitions.signatures import signing, tokens, withdrawal
from petitions.signatures.outcomes import SigningOutcome
from petitions.web import mail_delay, rate_limits, signed_cookie
from petitions.web.forms import SignForm, TokenForm
from petitions.web.loaders import petition_or_404
from petitions.web.outcomes import OUTCOME_STATUS
from petitions.web.public import petition_page

bp = Blueprint("signing", __name__)


@bp.post("/p/<slug>/sign")
def sign(slug: str):
    """Take a request to sign; every well-formed address gets the same answer."""
    petition_or_404(slug)
    form = SignForm(request.form)
    session = flask_db.session()
    try:
        signing.request_signature(
            session, slug, form.email.data, form.member_id.data, rate_limits.client_network()
        )
    except InvalidAddress:
        session.rollback()
        form.refuse_address()
        return petition_page(slug, form), 400
    except signing.SigningError as exc:
        session.rollback()
        if exc.code == SigningOutcome.PETITION_CLOSED:
            return render_template(
                "sign/petition_closed.html", petition=petition_or_404(slug)
            ), OUTCOME_STATUS[exc.code]
        if exc.code == SigningOutcome.INVALID_MEMBER_ID:
            form.refuse_member_number()
        else:
            form.add_error("email", str(exc))
        return petition_page(slug, form), 400
    session.commit()
    return redirect(url_for("signing.check_email", slug=slug), code=303)


@bp.get("/p/<slug>/check-email")
def check_email(slug: str):
    """The one answer to every request to sign (saying so when links are arriving slowly)."""
    return render_template(
        "sign/check_email.html",
        petition=petition_or_404(slug),
        slow_mail=mail_delay.slow(current_app),
    )


@bp.get("/p/<slug>/confirm")
def confirm_page(slug: str):
    """The page an e-mailed link opens: a button, because mail scanners follow links."""
    petition = petition_or_404(slug)
    token = request.args.get("token", "")
    if _is_closed(petition):
        # Whatever the link, nothing can be signed now: no button, no fresh link.
        return _outcome(signing.Confirmation(SigningOutcome.PETITION_CLOSED, petition), "")
    try:
        link = signing.read_link(settings_of(current_app), token)
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
    petition = petition_or_404(slug)
    if _is_closed(petition):
        return _outcome(signing.Confirmation(SigningOutcome.PETITION_CLOSED, petition), "")
    token = TokenForm(request.form).token.data
    result = signing.confirm(flask_db.engine(), settings_of(current_app), token, slug)
    if result.petition is None or result.status == SigningOutcome.INVALID:
        result = signing.Confirmation(result.status, petition)
    return _outcome(result, token)


@bp.post("/p/<slug>/confirm/renew")
def renew(slug: str):
    """Send a fresh link for an expired one, to the member's address on the roll."""
    petition = petition_or_404(slug)
    if _is_closed(petition):
        return _outcome(signing.Confirmation(SigningOutcome.PETITION_CLOSED, petition), "")
    token = TokenForm(request.form).token.data
    session = flask_db.session()
    try:
        signing.renew_request(
            session, settings_of(current_app), token, slug, rate_limits.client_network()
        )
    except (tokens.TokenInvalid, signing.SigningError) as exc:
        session.rollback()
        closed = getattr(exc, "code", None) == SigningOutcome.PETITION_CLOSED
        status = SigningOutcome.PETITION_CLOSED if closed else SigningOutcome.INVALID
        return _outcome(signing.Confirmation(status, petition), "")
    session.commit()
    return redirect(url_for("signing.check_email", slug=slug), code=303)


def _withdraw_token(result: signing.Confirmation) -> str | None:
    """A fresh link to withdraw for the member whose signature the page shows, if it counts."""
    signed = result.status in (SigningOutcome.CONFIRMED, SigningOutcome.ALREADY_SIGNED)
    if not signed or result.link is None or result.number is None:
        return None
    settings = settings_of(current_app)
    return withdrawal.manage_token(settings, result.link.petition_id, result.link.member_id)


def _is_closed(petition) -> bool:
    return rules.effective_state(petition) not in signing.SIGNING_STATES


def _outcome(result: signing.Confirmation, token: str):
    page = render_template(
        f"sign/{result.status}.html",
        result=result,
        petition=result.petition,
        token=token,
        withdraw_token=_withdraw_token(result),
    )
    response = make_response(page, OUTCOME_STATUS[result.status])
    signed = result.status in (SigningOutcome.CONFIRMED, SigningOutcome.ALREADY_SIGNED)
    if signed and result.petition is not None and result.number is not None:
        signed_cookie.remember(response, result.petition.slug, result.petition.id, result.number)
    return response
