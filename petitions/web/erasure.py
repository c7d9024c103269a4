"""Members having their data erased: asking by address on the privacy page, the mailed link's
page (what would be erased, and the button that erases it), and an organiser's erasure for a
request by post."""

from flask import Blueprint, current_app, render_template, request
from sqlmodel import Session
from wtforms import StringField

from petitions.config import settings_of
from petitions.db import flask_db
from petitions.privacy import erasure, erasure_links, notice
from petitions.roll.addresses import InvalidAddress
from petitions.web import auth
from petitions.web.forms import Form, address_message

bp = Blueprint("erasure", __name__)


class ErasureRequestForm(Form):
    """Asking for what is held about an address to be erased."""

    email = StringField(default="", filters=[str.strip])


class PostalErasureForm(Form):
    """An organiser erasing for a request by post: the address, and the letter's reference for
    the audit trail."""

    email = StringField(default="", filters=[str.strip])
    reference = StringField(default="", filters=[str.strip])


def _hours() -> int:
    return max(1, settings_of(current_app).privacy_export_link_max_age // 3600)


@bp.post("/privacy/erase")
def request_erasure():
    """Ask for an address's data to be erased; the answer is the same whatever is held."""
    form = ErasureRequestForm(request.form)
    email = form.email.data or ""
    with Session(flask_db.engine()) as db:
        try:
            erasure_links.request_erasure(db, email)
        except InvalidAddress:
            page = render_template(
                "privacy/privacy.html",
                retention=notice.retention(settings_of(current_app)),
                hours=_hours(),
                erase_error=address_message(email),
                erase_email=email,
            )
            return page, 400
        db.commit()
    return render_template("privacy/erase_sent.html", hours=_hours())


def _refused_link(exc: erasure_links.ErasureLinkInvalid):
    status = 400 if exc.reason == "forged" else 410
    page = render_template(
        "privacy/invalid.html", reason=exc.reason, used_at=exc.used_at, erasure=True
    )
    return page, status


def _link_page(token: str, plan: erasure.Plan, status: int = 200):
    page = render_template(
        "privacy/erase_link.html", token=token, plan=plan, kinds=erasure.KINDS, refused=None
    )
    return page, status


@bp.get("/privacy/erase/<token>")
def link(token: str):
    """The page a mailed link opens: what would be erased, and a button (mail scanners follow
    links), or why it cannot be erased yet."""
    with Session(flask_db.engine()) as db:
        try:
            plan = erasure_links.preview(db, settings_of(current_app), token)
        except erasure_links.ErasureLinkInvalid as exc:
            return _refused_link(exc)
    return _link_page(token, plan, 409 if plan.refusal else 200)


@bp.post("/privacy/erase/<token>")
def erase(token: str):
    """Erase, and spend the link; or say why not (the link then stays unused)."""
    with Session(flask_db.engine()) as db:
        try:
            done = erasure_links.use_link(db, settings_of(current_app), token)
        except erasure_links.ErasureLinkInvalid as exc:
            db.rollback()
            return _refused_link(exc)
        except erasure.ErasureRefused as exc:
            db.rollback()
            return _link_page(token, erasure.Plan(refusal=exc.refusal), 409)
        db.commit()
    return render_template("privacy/erased.html", plan=done, kinds=erasure.KINDS)


def _postal_page(form, *, plan=None, done=None, error=None, status=200):
    page = render_template(
        "privacy/postal_erase.html",
        form=form,
        plan=plan,
        done=done,
        kinds=erasure.KINDS,
        error=error,
    )
    return page, status


@bp.route("/organiser/privacy/erase", methods=["GET", "POST"])
@auth.require_role(*auth.ORGANISERS)
def postal_erase():
    """An organiser erases a member's data for a request that came by post: first what would
    go, then, on a second button, the erasure (recorded)."""
    form = PostalErasureForm(request.form)
    if request.method == "GET":
        return _postal_page(form)
    email = form.email.data or ""
    with Session(flask_db.engine()) as db:
        try:
            if request.form.get("action") != "erase":
                plan = erasure_links.plan_for_post(db, email)
                return _postal_page(form, plan=plan, status=409 if plan.refusal else 200)
            done = erasure_links.erase_for_post(
                db,
                settings_of(current_app),
                auth.current_user().email,
                email,
                form.reference.data or "",
            )
        except InvalidAddress:
            return _postal_page(form, error=address_message(email), status=400)
        except erasure.ErasureRefused as exc:
            db.rollback()
            return _postal_page(form, plan=erasure.Plan(refusal=exc.refusal), status=409)
        db.commit()
    return _postal_page(PostalErasureForm(), done=done)
