"""Development only: the dev mailbox and what the dev receiver got. Not registered in production.

The dev mailbox shows every signing and sign-in link, so it answers loopback clients only: a
development process that a forgotten PETITIONS_ENV left on a public address still keeps them to
this machine, and says so loudly when it starts (exposure_warning).
"""

import ipaddress

from flask import Blueprint, abort, make_response, render_template, request
from sqlmodel import select

from petitions.db import flask_db
from petitions.db.models import DevWebhookReceipt, Mail

bp = Blueprint("dev", __name__, url_prefix="/dev")
SHOWN = 200
LOCAL_NAMES = ("localhost",)


def is_loopback(host: str | None) -> bool:
    """True for a loopback address (127.0.0.0/8, ::1) or ``localhost``; False for anything
    else, including the unspecified 0.0.0.0 and :: that listen on every interface."""
    if not host:
        return False
    host = host.strip("[]")
    if host.lower() in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str) -> str | None:
    """What a development process listening on ``host`` must say at start, or None when it
    listens on loopback only."""
    if is_loopback(host):
        return None
    return (
        f"WARNING: development settings (PETITIONS_ENV is not production) on {host}, "
        "reachable from other machines: links are made up for the dev mailbox, which answers "
        "this machine only. Set PETITIONS_ENV=production (and its settings) to serve members."
    )


@bp.before_request
def _loopback_only() -> None:
    # Behind a trusted proxy (PROXY_FIX_HOPS) remote_addr is the forwarded client's address.
    if not is_loopback(request.remote_addr):
        abort(404)


@bp.get("/mail")
def mailbox():
    """Every message sent to the dev mailbox, newest first, with the links in them clickable."""
    mails = flask_db.session().exec(
        select(Mail).where(Mail.transport == "dev").order_by(Mail.id.desc()).limit(SHOWN)
    )
    return render_template("dev/mail.html", mails=list(mails))


# The HTML part of a mail is shown as a mail reader would: framed by the dev mailbox only, with
# its own inline styles and nothing else (no script, no request anywhere), sandboxed.
MAIL_HTML_POLICY = "; ".join(
    [
        "default-src 'none'",
        "style-src 'unsafe-inline'",
        "img-src data:",
        "frame-ancestors 'self'",
        "sandbox allow-popups allow-popups-to-escape-sandbox",
    ]
)


@bp.get("/mail/<int:mail_id>/html")
def mail_html(mail_id: int):
    """One mail's HTML part, for the dev mailbox to show in a sandboxed frame."""
    mail = flask_db.session().get(Mail, mail_id)
    if mail is None or mail.transport != "dev":
        abort(404)
    response = make_response(mail.html_body)
    response.headers["Content-Security-Policy"] = MAIL_HTML_POLICY
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


@bp.get("/webhooks")
def webhooks():
    """What the dev receiver got in place of a ballot system, newest first."""
    receipts = flask_db.session().exec(
        select(DevWebhookReceipt).order_by(DevWebhookReceipt.id.desc()).limit(SHOWN)
    )
    return render_template("dev/webhooks.html", receipts=list(receipts))
