"""What each kind of outbox work does: the one table from a work kind to the area that handles
it. It sits above every area so that none of them needs to know the others' work."""

from datetime import timedelta

from petitions.accounts import links
from petitions.config import Settings
from petitions.invitations import opt_out, runs
from petitions.outbox import mail, webhooks, work
from petitions.outbox.work import DEFAULT_LEASE, WorkItem, WorkKind
from petitions.roll import uploads
from petitions.signatures import signing

# How each kind of link in a mail is made when the mail is sent (see outbox.mail).
LINK_MAKERS = {
    "confirm": signing.make_confirm_link,
    "sign_in": links.make_link,
    "opt_out": opt_out.make_link,
}


def send_mail(engine, settings: Settings, mail_id: int) -> None:
    """Send a mail, its links made now."""
    mail.send(engine, settings, mail_id, LINK_MAKERS)


HANDLERS = {
    WorkKind.SIGN_REQUEST: signing.answer_request,
    WorkKind.MAIL: send_mail,
    WorkKind.WEBHOOK: webhooks.deliver,
    WorkKind.ROLL_UPLOAD: uploads.run_upload,
    WorkKind.INVITATION_RUN: runs.send_batch,
    WorkKind.SIGN_IN_REQUEST: links.answer_sign_in,
}


def perform(engine, settings: Settings, item: WorkItem, lease: timedelta = DEFAULT_LEASE) -> bool:
    """Do one try of ``item``'s work with the handler for its kind; see outbox.work.run()."""
    handler = HANDLERS[item.kind]
    return work.run(engine, item, lambda row_id: handler(engine, settings, row_id), lease)
