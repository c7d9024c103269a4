"""Withdrawing a signature in the browser: asking for the link by address (answered like a
request to sign), the page the link opens, and withdrawing on its button (POST, never GET:
mail scanners follow links)."""

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
from petitions.signatures import signing, withdrawal
from petitions.signatures.outcomes import SigningOutcome
from petitions.signatures.withdrawal import WithdrawalOutcome
from petitions.web import mail_delay, rate_limits, signed_cookie
from petitions.web.forms import SignForm, TokenForm
from petitions.web.loaders import petition_or_404

bp = Blueprint("withdrawal", __name__)

STATUS = {
    WithdrawalOutcome.CAN_WITHDRAW: 200,
    WithdrawalOutcome.WITHDRAWN: 200,
    WithdrawalOutcome.ALREADY_WITHDRAWN: 200,
    WithdrawalOutcome.NOT_COUNTED: 409,
    WithdrawalOutcome.NOT_SIGNED: 409,
    WithdrawalOutcome.PETITION_CLOSED: 409,
    WithdrawalOutcome.EXPIRED: 400,
    WithdrawalOutcome.INVALID: 400,
}


def _open(petition) -> bool:
    return rules.effective_state(petition) in signing.SIGNING_STATES


@bp.get("/p/<slug>/manage")
def manage_form(slug: str):
    """The form asking, by address, for the link to withdraw a signature."""
    petition = petition_or_404(slug)
    return render_template(
        "withdraw/manage.html", petition=petition, form=SignForm(), is_open=_open(petition)
    )


@bp.post("/p/<slug>/manage")
def ask(slug: str):
    """Take a request for the link to withdraw; every well-formed address gets one answer."""
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
            kind="manage",
        )
    except InvalidAddress:
        session.rollback()
        form.refuse_address()
        return render_template(
            "withdraw/manage.html", petition=petition, form=form, is_open=True
        ), 400
    except signing.SigningError as exc:
        session.rollback()
        if exc.code == SigningOutcome.PETITION_CLOSED:
            return render_template(
                "withdraw/manage.html", petition=petition, form=SignForm(), is_open=False
            ), 409
        form.refuse_member_number()
        return render_template(
            "withdraw/manage.html", petition=petition, form=form, is_open=True
        ), 400
    session.commit()
    return redirect(url_for("withdrawal.check_email", slug=slug), code=303)


@bp.get("/p/<slug>/manage/check-email")
def check_email(slug: str):
    """The one answer to every request for the link to withdraw."""
    return render_template(
        "withdraw/check_email.html",
        petition=petition_or_404(slug),
        slow_mail=mail_delay.slow(current_app),
    )


@bp.get("/p/<slug>/withdraw")
def confirm_page(slug: str):
    """The page the link opens: what withdrawing would do, and a button to do it."""
    petition = petition_or_404(slug)
    token = request.args.get("token", "")
    found = withdrawal.preview(flask_db.engine(), settings_of(current_app), token, slug)
    return _page(found, token, petition)


@bp.post("/p/<slug>/withdraw")
def withdraw(slug: str):
    """Withdraw the signature the link names."""
    petition = petition_or_404(slug)
    token = TokenForm(request.form).token.data
    done = withdrawal.withdraw(flask_db.engine(), settings_of(current_app), token, slug)
    response = make_response(_page(done, token, petition))
    here = signed_cookie.read(petition.id)
    if done.outcome == WithdrawalOutcome.WITHDRAWN and here and here.number == done.number:
        # The petition's page stops saying that this browser signed it.
        response.delete_cookie(
            signed_cookie.COOKIE, path=url_for("public.petition", slug=petition.slug)
        )
    return response


def _page(found: withdrawal.Withdrawal, token: str, petition):
    """The page for what the link came to; the petition shown is the one of the address."""
    return render_template(
        f"withdraw/{found.outcome}.html",
        result=found,
        petition=found.petition or petition,
        token=token,
    ), STATUS[found.outcome]
