"""Signing in by a mailed link, and signing out."""

from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from sqlmodel import Session

from petitions.accounts import links
from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.models import NEXT_PAGE_MAX, Role
from petitions.roll.addresses import InvalidAddress
from petitions.web import auth
from petitions.web.forms import SignInForm, SignInLinkForm, address_message

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site (never another site: no open redirect)."""
    if not target:
        return None
    if len(target) > NEXT_PAGE_MAX:
        abort(400, description=f"The page to return to is over {NEXT_PAGE_MAX} characters long.")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    # Browsers read a backslash as a slash ("/\\evil.example" is "//evil.example", another
    # site) and drop tabs and line breaks from an address ("/\t/evil.example").
    if any(ch == "\\" or ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return None
    return target


def home_of(user) -> str:
    """Where a signed-in account starts: organisers at their petitions, scrutineers at the
    audit trail."""
    return url_for("organiser.index" if user.role == Role.ORGANISER else "scrutiny.index")


@bp.get("/account")
@auth.require_role(*auth.READERS)
def home():
    """The signed-in account's start page."""
    return redirect(home_of(auth.current_user()))


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    """The sign-in form; its answer is the same whether or not the address has an account."""
    # The page to go back to comes in the address (a GET) or the form's hidden field (a POST).
    form = SignInForm(request.values)
    next_page = _safe_next(form.next.data)
    if request.method == "GET":
        user = auth.current_user()
        if user is not None:
            return redirect(next_page or home_of(user))
        return render_template("auth/sign_in.html", next_page=next_page)
    email = form.email.data
    with Session(flask_db.engine()) as db:
        try:
            links.request_sign_in(db, email, next_page)
        except InvalidAddress:
            return render_template(
                "auth/sign_in.html",
                next_page=next_page,
                error=address_message(email),
                email=email,
            ), 400
        db.commit()
    return redirect(url_for("auth.sent", next=next_page), code=303)


@bp.get("/sign-in/sent")
def sent():
    """The one answer to every request for a sign-in link."""
    minutes = settings_of(current_app).sign_in_link_max_age // 60
    return render_template("auth/sent.html", minutes=minutes or 1)


@bp.get("/sign-in/link")
def link():
    """The page a mailed link opens: a button, because mail scanners follow links."""
    token = request.args.get("token", "")
    try:
        links.check_link(settings_of(current_app), token)
    except links.SignInLinkInvalid as exc:
        return render_template("auth/invalid.html", reason=str(exc)), 400
    next_page = _safe_next(request.args.get("next"))
    return render_template("auth/link.html", token=token, next_page=next_page)


@bp.post("/sign-in/link")
def use_link():
    """Spend the link and sign this browser in."""
    form = SignInLinkForm(request.form)
    with Session(flask_db.engine(), expire_on_commit=False) as db:
        try:
            user, session_token = links.use_link(db, settings_of(current_app), form.token.data)
        except links.SignInLinkInvalid as exc:
            db.rollback()
            return render_template("auth/invalid.html", reason=str(exc)), 400
        db.commit()
    auth.sign_in(session_token)
    return redirect(_safe_next(form.next.data) or home_of(user), code=303)


@bp.post("/sign-out")
def sign_out():
    """End this browser's session; no copy of its cookie works afterwards."""
    auth.sign_out()
    return redirect(url_for("auth.signed_out"), code=303)


@bp.get("/signed-out")
def signed_out():
    """Confirms the sign-out."""
    return render_template("auth/signed_out.html")
