"""Development only: the dev mailbox and what the dev receiver got. Not registered in production."""

from flask import Blueprint, render_template
from sqlmodel import select

from petitions.db import flask_db
from petitions.db.models import DevWebhookReceipt, Mail

bp = Blueprint("dev", __name__, url_prefix="/dev")
SHOWN = 200


@bp.get("/mail")
def mailbox():
    """Every message sent to the dev mailbox, newest first, with the links in them clickable."""
    mails = flask_db.session().exec(
        select(Mail).where(Mail.transport == "dev").order_by(Mail.id.desc()).limit(SHOWN)
    )
    return render_template("dev/mail.html", mails=list(mails))


@bp.get("/webhooks")
def webhooks():
    """What the dev receiver got in place of a ballot system, newest first."""
    receipts = flask_db.session().exec(
        select(DevWebhookReceipt).order_by(DevWebhookReceipt.id.desc()).limit(SHOWN)
    )
    return render_template("dev/webhooks.html", receipts=list(receipts))
